package tokensource

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource/internal/cache"
	"github.com/fintechauth/tokensource/internal/wire"
)

// Error is the error for every token response that did not yield a token:
// any non-2xx status, and a 2xx whose body is not a usable token.
// errors.As(err, new(*oauth2.RetrieveError)) also succeeds for it, so code
// written for x/oauth2 keeps working.
type Error struct {
	// StatusCode is the HTTP status of the response.
	StatusCode int
	// Code is the provider's error code (Fliqa errorCode, OAuth error,
	// AbbeyCross code).
	Code string
	// SubCode is the provider's finer error code (Fliqa errorSubCode).
	SubCode string
	// Message is the provider's human-readable text (Fliqa errorMessage,
	// OAuth error_description, AbbeyCross text).
	Message string
	// RequestID identifies the request or event at the provider (Fliqa
	// requestId, AbbeyCross errorId); quote it to their support.
	RequestID string
	// ResourceID is the provider's id of the resource concerned (Fliqa
	// resourceId).
	ResourceID string
	// DocumentationURL points at the provider's explanation of the error
	// (Fliqa documentationUrl, OAuth error_uri).
	DocumentationURL string
	// ParameterName and ParameterValue name the request field that failed
	// validation, when the provider says (AbbeyCross parameter_name and
	// parameter_value).
	ParameterName  string
	ParameterValue any
	// RetryAfter is the wait the provider asked for in a Retry-After
	// header, 0 if it sent none.
	RetryAfter time.Duration
	// Body is the raw response body, at most 1 MiB, with the request's
	// secrets and any token it carries replaced by "[redacted]".
	Body []byte
	// Response is the HTTP response; its body has already been read and
	// closed. For a failure another process shared through a [Store] it is
	// synthetic: built from the status alone, with no body, no Request and
	// no header but Retry-After.
	Response *http.Response

	err error // why a 2xx response is unusable, nil for non-2xx
}

// The bounds of what Error prints of each text, in bytes: a provider's
// message may be a megabyte, and all of it is in Body.
const (
	maxMessage = 1024 // Message
	maxField   = 128  // Code, SubCode, ParameterName, RequestID
	maxOther   = 512  // the URL, and why a 2xx is unusable
)

// Error describes the failure in one line of at most a few KiB, whatever
// the provider sent: each text is cut to a bound, marked "…[truncated]",
// and its control characters are escaped as Go quotes them (\n, \x1b).
// Its cost does not grow with the provider's text. The URL shows neither
// password nor query (see [ClientCredentialsConfig.TokenURL]).
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("tokensource: ")
	if r := e.Response; r != nil && r.Request != nil {
		b.WriteString(wire.Bounded(r.Request.Method, maxField) + " " + wire.Bounded(wire.RedactURL(r.Request.URL), maxOther) + ": ")
	}
	b.WriteString(strconv.Itoa(e.StatusCode))
	if t := http.StatusText(e.StatusCode); t != "" {
		b.WriteString(" " + t)
	}
	if e.err != nil {
		b.WriteString(": " + wire.Bounded(e.err.Error(), maxOther))
	}
	if e.Code != "" {
		b.WriteString(": " + wire.Bounded(e.Code, maxField))
		if e.SubCode != "" {
			b.WriteString("/" + wire.Bounded(e.SubCode, maxField))
		}
	}
	if e.ParameterName != "" {
		b.WriteString(" (parameter " + wire.Bounded(e.ParameterName, maxField) + ")")
	}
	if e.Message != "" {
		b.WriteString(": " + wire.Bounded(e.Message, maxMessage))
	}
	if e.RequestID != "" {
		b.WriteString(" [request id " + wire.Bounded(e.RequestID, maxField) + "]")
	}
	if e.RetryAfter > 0 {
		b.WriteString(" (retry after " + e.RetryAfter.String() + ")")
	}
	return b.String()
}

// Unwrap returns why a 2xx response was unusable, or nil.
func (e *Error) Unwrap() error { return e.err }

// As lets errors.As find an *oauth2.RetrieveError in e, with Response, Body,
// ErrorCode (Code), ErrorDescription (Message) and ErrorURI
// (DocumentationURL) filled. Its Response is never nil: for an Error
// without one it is synthetic, as for a shared failure, because
// RetrieveError.Error reads it.
func (e *Error) As(target any) bool {
	p, ok := target.(**oauth2.RetrieveError)
	if ok {
		resp := e.Response
		if resp == nil {
			resp = statusResponse(e.StatusCode, e.RetryAfter)
		}
		*p = &oauth2.RetrieveError{
			Response:         resp,
			Body:             e.Body,
			ErrorCode:        e.Code,
			ErrorDescription: e.Message,
			ErrorURI:         e.DocumentationURL,
		}
	}
	return ok
}

// newError is the Error for a response that did not yield a token.
func newError(f *wire.Failure) *Error {
	return &Error{
		StatusCode:       f.Response.StatusCode,
		Code:             f.Code,
		SubCode:          f.SubCode,
		Message:          f.Message,
		RequestID:        f.RequestID,
		ResourceID:       f.ResourceID,
		DocumentationURL: f.DocumentationURL,
		ParameterName:    f.ParameterName,
		ParameterValue:   f.ParameterValue,
		RetryAfter:       f.RetryAfter,
		Body:             f.Body,
		Response:         f.Response,
		err:              f.Err,
	}
}

// statusResponse is the synthetic response of a failure known by its
// status alone: no body, no Request.
func statusResponse(code int, retryAfter time.Duration) *http.Response {
	h := http.Header{}
	if retryAfter > 0 {
		h.Set("Retry-After", strconv.FormatInt(int64((retryAfter+time.Second-1)/time.Second), 10))
	}
	return &http.Response{
		Status:     strings.TrimSpace(strconv.Itoa(code) + " " + http.StatusText(code)),
		StatusCode: code,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     h,
		Body:       http.NoBody,
	}
}

// ErrRedirect is matched, through errors.Is, by the error of a token
// request that its endpoint redirected to another host or port, or from
// https to plain http. Such a redirect is refused, and never retried: it
// would carry the credentials there.
var ErrRedirect = errors.New("tokensource: redirect to another host or to plain http refused: it would carry the credentials there")

// ErrCoolingDown is matched, through errors.Is, by the error of a call that
// a cached source answered from a cool-down: its last fetch failed, and no
// request was sent. The error also wraps that fetch's failure, so
// errors.As still finds the provider's [*Error].
var ErrCoolingDown = errors.New("tokensource: cooling down after a failed fetch")

// The packages below this one report a refused redirect and a cool-down
// with this package's errors, which users match.
func init() {
	wire.ErrRedirect, cache.ErrCoolingDown = ErrRedirect, ErrCoolingDown
}

// nilConfig is the error of a method called on a nil config.
func nilConfig(name string) error { return errors.New("tokensource: nil *" + name) }

// ConfigError reports a config field that is missing or wrong. It is
// returned before any request is sent, and never retried.
type ConfigError struct {
	Config  string // the config type, e.g. "FliqaConfig"
	Field   string // the field, e.g. "TenantSlug" or "Retry.MaxInterval"
	Problem string // what is wrong, e.g. "is required"
}

func (e *ConfigError) Error() string {
	return "tokensource: " + e.Config + "." + e.Field + " " + e.Problem
}

// invalid reports a config field that is missing or wrong.
func invalid(config, field, problem string) error {
	return &ConfigError{Config: config, Field: field, Problem: problem}
}

// wrapped adds context to an error message without repeating the
// "tokensource: " prefix, and keeps err for errors.Is and errors.As.
type wrapped struct {
	msg string
	err error
}

func wrap(err error, format string, args ...any) error {
	return &wrapped{fmt.Sprintf(format, args...), err}
}

func (w *wrapped) Error() string { return "tokensource: " + w.msg + ": " + message(w.err) }
func (w *wrapped) Unwrap() error { return w.err }

// message is err's text without the "tokensource: " prefix.
func message(err error) string { return strings.TrimPrefix(err.Error(), "tokensource: ") }
