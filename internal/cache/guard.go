package cache

import "fmt"

// Protect calls hook, the user's code that what names (Notify, an
// Observer, OnNewToken, the store), and turns a panic in it into an error.
// Every user hook is called through it, so that each is guarded the same
// way: the error names what panicked and only the panic value's type,
// since the value may hold a token. It has no prefix: it is wrapped before
// it is shown. What the error means is the caller's to say: a failed
// fetch for OnNewToken, store trouble for the store, nothing for Notify
// and an Observer.
func Protect(what string, hook func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s (a %T)", what, r)
		}
	}()
	return hook()
}
