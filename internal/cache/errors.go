package cache

import (
	"errors"
	"fmt"
	"runtime"
	"strings"
	"time"
)

// prefix begins every error message of the library. Errors made here
// reach users without further wrapping, so they carry it themselves.
const prefix = "tokensource: "

// errorf is fmt.Errorf with the library's prefix.
func errorf(format string, args ...any) error {
	return fmt.Errorf(prefix+format, args...)
}

// ErrCoolingDown is matched by the error of a call answered from a
// cool-down: the last fetch failed, this process's or another's adopted
// from the store, and no request was sent. Package tokensource sets it to
// its own ErrCoolingDown.
var ErrCoolingDown = errors.New(prefix + "cooling down after a failed fetch")

// coolingDown is the failure a call gets while a cool-down lasts.
type coolingDown struct {
	err  error
	wait time.Duration
}

func (e *coolingDown) Error() string {
	return fmt.Sprintf("%slast fetch failed, next attempt in %v: %s",
		prefix, e.wait.Round(time.Millisecond), strings.TrimPrefix(e.err.Error(), prefix))
}

func (e *coolingDown) Unwrap() error { return e.err }

func (e *coolingDown) Is(target error) bool { return target == ErrCoolingDown }

// fetchPanicked is the failure of a fetch that panicked with r, or ended
// its goroutine if r is nil. It quotes a runtime error, but gives only the
// type of any other value: a hook's panic value may hold a token, and
// failures are reported to observers.
func fetchPanicked(r any) error {
	switch r := r.(type) {
	case nil:
		return errorf("the fetch ended its goroutine (runtime.Goexit)")
	case runtime.Error:
		return errorf("panic while fetching a token: %v", r)
	}
	return errorf("panic while fetching a token (a %T)", r)
}
