package cache

import "fmt"

// Protect calls hook, a piece of user code (Notify, an Observer,
// OnNewToken, a Store) that what names, and returns a panic in it as an
// error. Every user hook is called through it, so that all are guarded the
// same way. The error names what and only the panic value's type, since
// the value may hold a token. It has no prefix: callers wrap it, and
// decide what it means (a failed fetch for OnNewToken, the Store failing
// for a Store, nothing for Notify and an Observer).
func Protect(what string, hook func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic in %s (a %T)", what, r)
		}
	}()
	return hook()
}
