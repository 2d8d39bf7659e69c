package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"testing/iotest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// serve returns a request for a loopback server that checks each request
// carries the JSON body {"client_secret": secret}, then answers with
// status, the header Retry-After if retryAfter is not empty, and body.
func serve(t *testing.T, secret string, status int, retryAfter, body string) *Request {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, http.MethodPost, r.Method)
		assert.Equal(t, "/token", r.URL.Path)
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		got, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		assert.JSONEq(t, fmt.Sprintf(`{"client_secret":%q}`, secret), string(got))
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(srv.Close)
	return JSONRequest(srv.URL+"/token", map[string]string{"client_secret": secret}, secret)
}

func TestSendFailures(t *testing.T) {
	const secret = "cs/Secret+42=" // escaped as cs\/Secret+42= by PHP
	huge := strings.Repeat("x", MaxBody)
	for _, tc := range []struct {
		name       string
		status     int
		retryAfter string
		body       string
		err        string // the Failure's Err, "" for none
		fields     Fields
		bodyWant   string // the Failure's Body, if not empty
	}{
		{"an escaped secret is redacted from the fields", 401, "",
			`{"errorCode":"unauthorized","errorMessage":"secret cs\/Secret\u002b42= is not valid"}`, "",
			Fields{Code: "unauthorized", Message: "secret [redacted] is not valid"},
			`{"errorCode":"unauthorized","errorMessage":"secret [redacted] is not valid"}`},
		{"Retry-After is capped", 503, "9999999999999", `{"code":"closed"}`, "",
			Fields{Code: "closed"}, ""},
		{"a 2xx with an OAuth error is a failure", 200, "",
			`{"access_token":"at-123456","expires_in":60,"error":"invalid_grant","error_description":"no"}`,
			"response carries an OAuth error", Fields{Code: "invalid_grant", Message: "no"},
			`{"access_token":"[redacted]","expires_in":60,"error":"invalid_grant","error_description":"no"}`},
		{"a token expired on arrival is a failure", 200, "",
			`{"accessToken":"at-123456","expires":"2001-01-01T00:00:00Z"}`,
			"token already expired at 2001-01-01T00:00:00Z", Fields{},
			`{"accessToken":"[redacted]","expires":"2001-01-01T00:00:00Z"}`},
		{"a 2xx over MaxBody keeps its token out of the body", 200, "",
			`{"accessToken":"at-123456` + huge + `"}`, "response body exceeds 1048576 bytes", Fields{}, ""},
		{"an error body over MaxBody is cut and redacted", 400, "",
			`{"text":"cs\/Secret+42= ` + huge + `"}`, "", Fields{}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tok, err := serve(t, secret, tc.status, tc.retryAfter, tc.body).Send(t.Context(), http.DefaultClient)
			assert.Nil(t, tok)
			var f *Failure
			require.ErrorAs(t, err, &f)
			assert.Equal(t, tc.status, f.Response.StatusCode)
			if tc.err == "" {
				assert.NoError(t, f.Err)
			} else {
				assert.EqualError(t, f.Err, tc.err)
			}
			assert.Equal(t, tc.fields, f.Fields)
			if tc.bodyWant != "" {
				assert.Equal(t, tc.bodyWant, string(f.Body))
			}
			assert.LessOrEqual(t, len(f.Body), MaxBody)
			for _, s := range []string{secret, `cs\/Secret+42=`, "at-123456"} {
				assert.NotContains(t, string(f.Body), s)
			}
			if tc.retryAfter != "" {
				assert.Equal(t, MaxRetryAfter, f.RetryAfter)
			}
		})
	}
}

func TestSendReadsTheJWTExpiry(t *testing.T) {
	exp := time.Now().Add(time.Hour).Unix()
	access := jwt(fmt.Sprintf(`{"exp":%d}`, exp))
	body, err := json.Marshal(map[string]string{"access_token": access})
	require.NoError(t, err)
	tok, err := serve(t, "s", 200, "", string(body)).Send(t.Context(), http.DefaultClient)
	require.NoError(t, err)
	assert.Equal(t, access, tok.AccessToken)
	assert.Equal(t, time.Unix(exp, 0), tok.Expiry)
}

func TestSendRedirects(t *testing.T) {
	const secret = "cs-123456"
	elsewhere := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t.Error("a redirect to another host was followed")
	}))
	t.Cleanup(elsewhere.Close)
	var hops atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hops.Add(1)
		got, err := io.ReadAll(r.Body)
		assert.NoError(t, err)
		assert.JSONEq(t, `{"client_secret":"`+secret+`"}`, string(got), "every hop carries the body")
		assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
		switch r.URL.Path {
		case "/loop":
			w.Header().Set("Location", "/loop")
			w.WriteHeader(http.StatusTemporaryRedirect)
		case "/away":
			w.Header().Set("Location", elsewhere.URL+"/token")
			w.WriteHeader(http.StatusPermanentRedirect)
		case "/moved":
			w.Header().Set("Location", "/token")
			w.WriteHeader(http.StatusTemporaryRedirect)
		default:
			_, _ = io.WriteString(w, `{"access_token":"at-1","expires_in":60}`)
		}
	}))
	t.Cleanup(srv.Close)
	var ruled atomic.Int32
	own := &http.Client{CheckRedirect: func(req *http.Request, via []*http.Request) error {
		ruled.Add(1)
		if len(via) >= 12 {
			return errors.New("own rule: 12 redirects")
		}
		return nil
	}}
	for _, tc := range []struct {
		name        string
		path        string
		client      *http.Client
		hops, ruled int32
		err         string // "" for a token
	}{
		{"a 307 on the same host resends the body", "/moved", http.DefaultClient, 2, 0, ""},
		{"to another host is refused", "/away", http.DefaultClient, 1, 0, ErrRedirect.Error()},
		{"stops after 10 redirects", "/loop", http.DefaultClient, 10, 0, "stopped after 10 redirects"},
		{"the client's own rule applies on the same host", "/moved", own, 2, 1, ""},
		{"the client's own rule replaces the limit", "/loop", own, 12, 12, "own rule: 12 redirects"},
		{"the client's own rule never sees another host", "/away", own, 1, 0, ErrRedirect.Error()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			hops.Store(0)
			ruled.Store(0)
			req := JSONRequest(srv.URL+tc.path, map[string]string{"client_secret": secret}, secret)
			for range 2 { // the same request twice: nothing of the first send stays behind
				tok, err := req.Send(t.Context(), tc.client)
				if tc.err == "" {
					require.NoError(t, err)
					assert.Equal(t, "at-1", tok.AccessToken)
				} else {
					require.ErrorContains(t, err, tc.err)
				}
				assert.Equal(t, tc.hops, hops.Swap(0))
				assert.Equal(t, tc.ruled, ruled.Swap(0))
			}
			assert.Nil(t, http.DefaultClient.CheckRedirect, "the default client is not changed")
		})
	}
}

// headerWriter is a RoundTripper that, against the rules, writes to the
// request's header in place before sending it on.
type headerWriter struct{}

func (headerWriter) RoundTrip(req *http.Request) (*http.Response, error) {
	for _, v := range req.Header {
		for i := range v {
			v[i] = "overwritten"
		}
	}
	req.Header["Accept"] = append(req.Header["Accept"], "text/html")
	return http.DefaultTransport.RoundTrip(req)
}

func TestSendHeaderIsTheRequestsOwn(t *testing.T) {
	var got []http.Header
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got = append(got, r.Header.Clone())
		_, _ = io.WriteString(w, `{"access_token":"at-1"}`)
	}))
	t.Cleanup(srv.Close)
	req := JSONRequest(srv.URL, map[string]string{"client_id": "id"})
	req.Header = http.Header{"Content-Type": {"application/json"}, "Api-Key": {"k1", "k2"}, "Accept": {"application/json"}}
	want := req.Header.Clone()
	for range 4 { // the values' order in their array varies with the map's
		_, err := req.Send(t.Context(), &http.Client{Transport: headerWriter{}})
		require.NoError(t, err)
	}
	assert.Equal(t, want, req.Header, "the request's header is unchanged")
	assert.Equal(t, http.Header{"Content-Type": {"application/json"}, "Accept": {"application/json"}}, jsonHeader)
	require.Len(t, got, 4)
	for _, h := range got { // what the RoundTripper wrote, its append taking no neighbour's value
		assert.Equal(t, []string{"overwritten"}, h["Content-Type"])
		assert.Equal(t, []string{"overwritten", "overwritten"}, h["Api-Key"])
		assert.Equal(t, []string{"overwritten", "text/html"}, h["Accept"])
	}
}

func TestReadBody(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, MaxBody - 1, MaxBody, MaxBody + 1, MaxBody + 100<<10} {
		data := bytes.Repeat([]byte("x"), n)
		for _, size := range []int64{int64(n), -1} { // the length known, or not
			for reader, wrap := range map[string]func(io.Reader) io.Reader{
				"EOF apart":              func(r io.Reader) io.Reader { return r },
				"EOF with the last data": iotest.DataErrReader, // as net/http's body does
			} {
				t.Run(fmt.Sprintf("%d bytes, length %d, %s", n, size, reader), func(t *testing.T) {
					rc := &closeCounter{Reader: wrap(bytes.NewReader(data))}
					body, tooLarge, err := readBody(rc, size)
					require.NoError(t, err)
					assert.Equal(t, n > MaxBody, tooLarge)
					assert.Equal(t, data[:min(n, MaxBody)], body)
					assert.Equal(t, 1, rc.closed)
				})
			}
		}
	}
	t.Run("a read error", func(t *testing.T) {
		rc := &closeCounter{Reader: io.MultiReader(strings.NewReader("{"), iotest.ErrReader(io.ErrUnexpectedEOF))}
		body, _, err := readBody(rc, 10)
		require.ErrorIs(t, err, io.ErrUnexpectedEOF)
		assert.Nil(t, body)
		assert.Equal(t, 1, rc.closed)
	})
}

// closeCounter is a body that counts its Close calls.
type closeCounter struct {
	io.Reader
	closed int
}

func (c *closeCounter) Close() error { c.closed++; return nil }

func TestJSONRequestBody(t *testing.T) {
	for _, tc := range []struct {
		name string
		body map[string]string
		want string
	}{
		{"nil", nil, `{}`}, // an object, never null
		{"empty", map[string]string{}, `{}`},
		{"keys in order", map[string]string{"client_secret": "s", "client_id": "id", "scope": "a<b"},
			`{"client_id":"id","client_secret":"s","scope":"a\u003cb"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(JSONRequest("https://api.example/token", tc.body).Body))
		})
	}
}

func TestRedactURL(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"https://api.example/token", "https://api.example/token"},
		{"https://api.example/token?sig=s1gn&sv=1", "https://api.example/token?xxxxx"},
		{"https://user:pass@api.example/token?sig=s1gn", "https://user:xxxxx@api.example/token?xxxxx"},
		{"https://api.example/token?", "https://api.example/token?"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			u, err := url.Parse(tc.in)
			require.NoError(t, err)
			assert.Equal(t, tc.want, RedactURL(u))
		})
	}
}

func TestSameOrigin(t *testing.T) {
	for _, tc := range []struct {
		first, next string
		want        bool
	}{
		{"https://api.example/token", "https://api.example/other", true},
		{"https://api.example/token", "https://API.Example/token", true},
		{"https://api.example/token", "https://api.example:443/token", true},
		{"http://api.example:80/token", "http://api.example/token", true},
		{"http://api.example/token", "https://api.example:80/token", true},
		{"https://[::1]/token", "https://[::1]:443/token", true},
		{"https://api.example/token", "http://api.example:443/token", false},
		{"https://api.example/token", "https://api.example:8443/token", false},
		{"https://api.example/token", "https://evil.example/token", false},
		{"https://api.example/token", "https://api.example.evil.example/token", false},
		{"http://api.example/token", "https://api.example/token", false}, // port 80, then 443
	} {
		t.Run(tc.first+" to "+tc.next, func(t *testing.T) {
			first, err := url.Parse(tc.first)
			require.NoError(t, err)
			next, err := url.Parse(tc.next)
			require.NoError(t, err)
			assert.Equal(t, tc.want, SameOrigin(first, next))
		})
	}
}
