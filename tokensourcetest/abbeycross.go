package tokensourcetest

import (
	"fmt"
	"net/http"
	"testing"
	"time"
)

// NonWorkingHours is AbbeyCross's text for a 503 outside working hours.
const NonWorkingHours = "The server is currently unavailable due to non-working hours. Please try again later."

// AbbeyCross fakes AbbeyCross's POST /v1/oauth/token, which takes
// {"client_id", "client_secret"} as JSON (Content-Type application/json,
// parameters such as charset allowed).
//
// AbbeyCross documents one status for a token request it refuses, 409, so
// the fake answers 409 to a missing or empty field, with parameter_name
// naming it (code validation_error), to a request that is not a POST of a
// JSON object of strings (invalid_request), and to wrong credentials
// (invalid_credentials); the codes are the fake's choice, as AbbeyCross
// lists none. Errors carry AbbeyCross's body {errorId, code, text,
// parameter_name, parameter_value}. Outside working hours (see
// SetWorkingHours) every request is 503 with [NonWorkingHours]. AbbeyCross
// documents its 200 body only as {}; the fake answers access_token,
// token_type and expires_in, and a token lives an hour unless SetLifetime
// says otherwise.
type AbbeyCross struct {
	Endpoint
	// ClientID and ClientSecret are the accepted client credentials.
	ClientID, ClientSecret string

	closed     bool
	retryAfter string
}

// NewAbbeyCross starts an AbbeyCross fake on loopback with test client
// credentials, open for business. It is closed when tb's test ends; with a
// nil tb, call Close.
func NewAbbeyCross(tb testing.TB) *AbbeyCross {
	a := NewAbbeyCrossHandler()
	a.start(tb, a)
	return a
}

// NewAbbeyCrossHandler returns the fake NewAbbeyCross starts, not started,
// to mount on a server of your own: its URL is empty, and Close does
// nothing.
func NewAbbeyCrossHandler() *AbbeyCross {
	return &AbbeyCross{ClientID: "abbeycross-test-client", ClientSecret: "abbeycross-test-secret"}
}

// SetWorkingHours opens or closes the fake. While closed it answers 503
// with NonWorkingHours, and a Retry-After header when retryAfter is not
// empty.
func (a *AbbeyCross) SetWorkingHours(open bool, retryAfter string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.closed, a.retryAfter = !open, retryAfter
}

// ServeHTTP answers one token request.
func (a *AbbeyCross) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	a.mu.Lock()
	closed, retryAfter := a.closed, a.retryAfter
	a.mu.Unlock()
	if closed && retryAfter != "" {
		w.Header().Set("Retry-After", retryAfter)
	}
	a.serve(w, r, func(req Request) answer {
		if closed {
			return answer{503, a.error("service_unavailable", NonWorkingHours, "", nil)}
		}
		return a.answer(req)
	}, func(status int) any {
		return a.error(fmt.Sprintf("http_%d", status), http.StatusText(status), "", nil)
	})
}

func (a *AbbeyCross) answer(r Request) answer {
	switch {
	case r.Path != "/v1/oauth/token":
		return answer{404, a.error("not_found", "Not found", "", nil)}
	case r.Method != http.MethodPost || !isJSON(r.Header) || r.Fields == nil:
		return answer{409, a.error("invalid_request", "Expected a JSON object", "", nil)}
	}
	for _, field := range []string{"client_id", "client_secret"} {
		if r.Fields[field] == "" {
			return answer{409, a.error("validation_error", field+" is required", field, r.Fields[field])}
		}
	}
	if r.Fields["client_id"] != a.ClientID || r.Fields["client_secret"] != a.ClientSecret {
		return answer{409, a.error("invalid_credentials", "Invalid client credentials", "", nil)}
	}
	n, life := a.issue(time.Hour)
	return answer{200, map[string]any{
		"access_token": fmt.Sprintf("abbeycross-access-%d", n),
		"token_type":   "Bearer",
		"expires_in":   int(life / time.Second),
	}}
}

// error is AbbeyCross's error body.
func (a *AbbeyCross) error(code, text, parameter string, value any) map[string]any {
	body := map[string]any{"errorId": fmt.Sprintf("evt-%06d", a.Requests()), "code": code, "text": text}
	if parameter != "" {
		body["parameter_name"], body["parameter_value"] = parameter, value
	}
	return body
}
