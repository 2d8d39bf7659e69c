package tokensource

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/wire"
)

// Store shares tokens and failures among the sources of many processes, so
// that a fleet of replicas costs a provider what one process costs: one
// token request per rollover, and one probe per cool-down while the
// provider fails. Set it as the Store field of a config; package
// github.com/fintechauth/tokensource/redisstore implements it on Redis.
//
// A source consults its Store only when it needs a token: on a miss, and
// to renew ahead of expiry. It takes a token or a failure that another
// process stored; otherwise it fetches under the Store's lock, and the
// other processes wait for what it stores, for as long as a fetch may
// take (its budget and a second), or until the lock is let go of without
// an outcome, then fetch on their own. A Store that fails, is slow or
// panics never fails a token: the source fetches on its own and reports
// it to RetryPolicy.Notify and its [Observer] (StoreUnavailable). A
// process makes at most 16 calls of one Store at a time; a call beyond
// them waits its turn, which is not a failure (a burst, as when every
// source starts at once). Each call gets a context that ends within a
// second of its turn, and should return when it ends. One that does not
// is abandoned all the same, and until it returns, the sources on that
// Store skip it (they fetch on their own) rather than pile up calls
// behind it.
//
// Every value a source stores names the key it was stored at, and is
// checked on read: a value that a Store returns for another key (another
// identity's) is ignored and reported as StoreUnavailable. A token taken
// from a Store lives a day at most, as a fetched one does, and a failure's
// texts are cut to a few KiB and rid of control characters.
//
// Keys name a source's identity (provider, endpoint, client id or tenant,
// and the secret; a Flinks refresh source by its refresh token) as a
// SHA-256 hash: they hold no secret, and replicas with different secrets,
// as during a rotation, never share a token or a failure. Values carry
// access tokens, so a Store must keep them from other eyes, as redisstore
// does by sealing them. A Store must be safe for concurrent use.
type Store interface {
	// Get returns the value stored at key, or nil and no error if there is
	// none.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value at key, to expire after ttl, which is always
	// positive (a day at most).
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Lock takes the lock named key for ttl if nobody holds it, and returns
	// a function that releases it if this call still holds it; it returns
	// a nil function if somebody else holds the lock.
	Lock(ctx context.Context, key string, ttl time.Duration) (unlock func(), err error)
}

// StoreClaimer is an optional interface of a [Store] that saves round trips
// and polling: a source whose Store implements it claims a key in one call
// and releases it in one, instead of Get, Lock and Set, and a process that
// waits for another's fetch is woken when the outcome is written. A
// rollover then costs each replica about one call. redisstore implements
// it; a Store without it works as before.
//
// Claim does, as one step:
//   - it returns the value stored at key, or nil if there is none;
//   - if that value expires more than fresh from now (it holds a newer
//     token than the caller's), it stops there: release and written are nil;
//   - else, if nobody holds the lock named key, or its key has no expiry
//     (a Store always sets one, so such a lock is left over, not held), it
//     takes the lock for ttl and returns release;
//   - else it returns written, closed once key is written or its lock let
//     go of, or after a short while if the Store cannot tell; the caller
//     then claims again.
//
// release(ctx, value, ttl) stores value at key for ttl, unless value is
// nil, and lets go of the lock if this claim still holds it, as one step.
// Until then the Store may extend the lock, up to a minute past ttl, so
// that a slow fetch keeps it; a holder that dies stops extending it, and
// the lock expires within ttl.
type StoreClaimer interface {
	Store
	Claim(ctx context.Context, key string, ttl, fresh time.Duration) (value []byte,
		release func(ctx context.Context, value []byte, ttl time.Duration) error, written <-chan struct{}, err error)
}

// sharedError is a failure as another process gets it through a Store:
// what Error says, without the response.
type sharedError struct {
	Status     int           `json:"status,omitempty"`
	Code       string        `json:"code,omitempty"`
	SubCode    string        `json:"sub_code,omitempty"`
	Message    string        `json:"message,omitempty"`
	RequestID  string        `json:"request_id,omitempty"`
	RetryAfter time.Duration `json:"retry_after,omitempty"`
	Reauth     bool          `json:"reauth,omitempty"`
	Text       string        `json:"text"`
}

// encodeErr encodes a failure for other processes, as a sharedError.
func encodeErr(err error) json.RawMessage {
	se := sharedError{Text: message(err), Reauth: errors.Is(err, ErrReauthorizationRequired)}
	if e := new(Error); errors.As(err, &e) {
		se.Status, se.Code, se.SubCode, se.Message, se.RequestID, se.RetryAfter =
			e.StatusCode, e.Code, e.SubCode, e.Message, e.RequestID, e.RetryAfter
	}
	b, _ := json.Marshal(se) // strings and numbers always marshal
	return b
}

// decodeErr decodes a failure another process stored, cutting its texts
// to size and escaping their control characters.
func decodeErr(b json.RawMessage) error {
	var se sharedError
	_ = json.Unmarshal(b, &se)
	se.Text, se.Message = wire.Bounded(se.Text, maxSharedText), wire.Bounded(se.Message, maxSharedText)
	se.Code, se.SubCode = wire.Bounded(se.Code, maxSharedField), wire.Bounded(se.SubCode, maxSharedField)
	se.RequestID = wire.Bounded(se.RequestID, maxSharedField)
	se.RetryAfter = min(max(se.RetryAfter, 0), cache.MaxWait)
	err := errors.New("tokensource: " + se.Text)
	if se.Status != 0 {
		err = &Error{StatusCode: se.Status, Code: se.Code, SubCode: se.SubCode, Message: se.Message,
			RequestID: se.RequestID, RetryAfter: se.RetryAfter, Response: statusResponse(se.Status, se.RetryAfter)}
	}
	if se.Reauth {
		err = &reauthError{err}
	}
	return wrap(err, "another process's fetch failed")
}

// The longest texts of a failure adopted from a Store: its message, and
// each of its codes. What another process wrote is not trusted to be
// short, nor to hold no control character that would forge a log line.
const (
	maxSharedText  = 2048
	maxSharedField = 256
)
