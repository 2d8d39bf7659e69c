package tokensource_test

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

// fakeTime runs f in a synctest bubble, where waits take no real time. The
// server must have been started outside the bubble; the client made here
// keeps no idle connections, which would hold the bubble's clock still.
func fakeTime(t *testing.T, f func(t *testing.T, client *http.Client)) {
	synctest.Test(t, func(t *testing.T) {
		f(t, &http.Client{Transport: &http.Transport{DisableKeepAlives: true}})
	})
}

// failThenOK answers the first n requests with respond, then a token.
func failThenOK(n int, respond func(http.ResponseWriter, int)) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, i int) {
		if i <= n {
			respond(w, i)
			return
		}
		fliqaOK(w, i)
	}
}

func withRetryAfter(v string, code int) func(http.ResponseWriter, int) {
	return func(w http.ResponseWriter, i int) {
		w.Header().Set("Retry-After", v)
		status(code)(w, i)
	}
}

func TestRetryRetriesWhatMayPass(t *testing.T) {
	for _, code := range []int{408, 429, 500, 502, 503, 504} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := newFliqaServer(t, "", failThenOK(2, status(code)))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config("")
				cfg.HTTPClient = client
				tok, err := cfg.Token(t.Context())
				require.NoError(t, err)
				assert.Equal(t, testToken, tok.AccessToken)
				assert.Equal(t, int32(3), srv.requests.Load())
			})
		})
	}
}

func TestRetryNeverRetriesOtherStatuses(t *testing.T) {
	for _, code := range []int{400, 401, 403, 404, 409, 501} {
		t.Run(fmt.Sprint(code), func(t *testing.T) {
			srv := newFliqaServer(t, "", failThenOK(1, status(code)))
			_, err := srv.config("").Token(t.Context())
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			assert.Equal(t, code, e.StatusCode)
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	}
}

func TestRetryHonoursRetryAfter(t *testing.T) {
	// Inside the bubble the clock starts in 2000, so the HTTP date is made
	// there and handed to the server.
	var date atomic.Value
	for _, tc := range []struct {
		name   string
		header func() string
	}{
		{"seconds, longer than MaxInterval", func() string { return "7" }},
		{"HTTP date", func() string { return date.Load().(string) }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", failThenOK(1, func(w http.ResponseWriter, i int) {
				withRetryAfter(tc.header(), 503)(w, i)
			}))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				date.Store(time.Now().Add(7 * time.Second).UTC().Format(http.TimeFormat))
				cfg := srv.config("")
				cfg.HTTPClient = client
				start := time.Now()
				_, err := cfg.Token(t.Context())
				require.NoError(t, err)
				assert.Equal(t, int32(2), srv.requests.Load())
				assert.Equal(t, 7*time.Second, time.Since(start))
			})
		})
	}
}

func TestRetryNotifiesEachRetry(t *testing.T) {
	srv := newFliqaServer(t, "", failThenOK(2, func(w http.ResponseWriter, i int) {
		if i == 1 {
			withRetryAfter("3", 503)(w, i)
			return
		}
		status(500)(w, i)
	}))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var got []string
		cfg := srv.config("")
		cfg.HTTPClient = client
		cfg.Retry = &tokensource.RetryPolicy{Notify: func(err error, wait time.Duration) {
			var e *tokensource.Error
			require.ErrorAs(t, err, &e)
			got = append(got, fmt.Sprint(e.StatusCode, " ", wait > 0))
			if e.StatusCode == 503 {
				assert.Equal(t, 3*time.Second, wait)
			}
		}}
		_, err := cfg.Token(t.Context())
		require.NoError(t, err)
		assert.Equal(t, []string{"503 true", "500 true"}, got)
	})
}

func TestRetryTransportErrors(t *testing.T) {
	t.Run("dropped connections", func(t *testing.T) {
		srv := newFliqaServer(t, "", failThenOK(2, func(w http.ResponseWriter, _ int) {
			conn, _, err := http.NewResponseController(w).Hijack()
			if assert.NoError(t, err) {
				conn.Close()
			}
		}))
		fakeTime(t, func(t *testing.T, client *http.Client) {
			cfg := srv.config("")
			cfg.HTTPClient = client
			_, err := cfg.Token(t.Context())
			require.NoError(t, err)
			assert.Equal(t, int32(3), srv.requests.Load())
		})
	})
	t.Run("refused connections", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		addr := l.Addr().String()
		l.Close() // nothing listens there now
		var dials atomic.Int32
		fakeTime(t, func(t *testing.T, _ *http.Client) {
			cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaSandbox,
				TenantSlug: testSlug, BaseURL: "http://" + addr}
			cfg.HTTPClient = &http.Client{Transport: &http.Transport{DisableKeepAlives: true,
				DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
					dials.Add(1)
					return (&net.Dialer{}).DialContext(ctx, network, addr)
				}}}
			_, err := cfg.Token(t.Context())
			var op *net.OpError
			require.ErrorAs(t, err, &op)
			assert.Equal(t, "dial", op.Op)
			assert.Contains(t, err.Error(), "tokensource: giving up after ")
			assert.Greater(t, dials.Load(), int32(3))
		})
	})
}

func TestRetryWaitsStayWithinMaxInterval(t *testing.T) {
	srv := newFliqaServer(t, "", status(503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var waits []time.Duration
		cfg := srv.config("")
		cfg.HTTPClient = client
		cfg.Retry = &tokensource.RetryPolicy{InitialInterval: time.Second, MaxInterval: time.Second, MaxElapsedTime: time.Minute,
			Notify: func(_ error, wait time.Duration) { waits = append(waits, wait) }}
		_, err := cfg.Token(t.Context())
		require.Error(t, err)
		require.Greater(t, len(waits), 30)
		for _, w := range waits {
			assert.LessOrEqual(t, w, time.Second, "jitter never takes a wait past the cap")
		}
	})
}

func TestRetryOnlyWhatARetryCanMend(t *testing.T) {
	var loop, plain *endpoint
	loop = newEndpoint(t, func(*http.Request) {}, func(w http.ResponseWriter, _ map[string]string, _ int) {
		w.Header().Set("Location", loop.URL+"/service/auth/token/sandbox/again")
		w.WriteHeader(http.StatusFound)
	})
	plain = newEndpoint(t, func(*http.Request) {}, ignoringBody(fliqaOK))
	tlsSrv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fliqaOK(w, 0) }))
	var tlsConns atomic.Int32
	tlsSrv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			tlsConns.Add(1)
		}
	}
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	garbage, garbageConns := rawServer(t, func(c net.Conn) { _, _ = c.Write([]byte("garbage\r\n\r\n")) })
	for _, tc := range []struct {
		name, baseURL string
		conns         func() int32 // connections, or requests for the loop
		want          string
	}{
		{"redirect loop", loop.URL, func() int32 { return loop.requests.Load() / 10 }, "stopped after 10 redirects"},
		{"https answered in plain http", "https://" + plain.Listener.Addr().String(), plain.conns.Load, "server gave HTTP response to HTTPS client"},
		{"malformed response", garbage, garbageConns.Load, "malformed HTTP response"},
		{"certificate not trusted", tlsSrv.URL, tlsConns.Load, "certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaSandbox,
					TenantSlug: testSlug, BaseURL: tc.baseURL, HTTPClient: client}
				before := tc.conns()
				_, err := cfg.Token(t.Context())
				require.Error(t, err)
				assert.Contains(t, err.Error(), tc.want)
				assert.NotContains(t, err.Error(), "giving up after")
				assert.Equal(t, before+1, tc.conns(), "one attempt (the loop's being 10 requests)")
			})
		})
	}

	// A response cut off, and an attempt that timed out, may pass: retried.
	cut := newFliqaServer(t, "", failThenOK(1, func(w http.ResponseWriter, _ int) {
		w.Header().Set("Content-Length", "100")
		_, _ = w.Write([]byte(`{"acc`))
		panic(http.ErrAbortHandler)
	}))
	slow := newFliqaServer(t, "", failThenOK(1, func(w http.ResponseWriter, n int) {
		time.Sleep(300 * time.Millisecond)
		fliqaOK(w, n)
	}))
	for _, tc := range []struct {
		name   string
		srv    *fliqaServer
		client *http.Client
	}{
		{"response cut off", cut, &http.Client{}},
		{"attempt timed out", slow, &http.Client{Timeout: 100 * time.Millisecond}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.srv.config("")
			cfg.HTTPClient = tc.client
			cfg.Retry = &tokensource.RetryPolicy{InitialInterval: 10 * time.Millisecond}
			tok, err := cfg.Token(t.Context())
			require.NoError(t, err)
			assert.Equal(t, testToken, tok.AccessToken)
			assert.Equal(t, int32(2), tc.srv.requests.Load())
		})
	}
}

// rawServer accepts TCP connections on loopback and hands each, once its
// request has arrived, to serve. It returns the base URL and a count of
// connections.
func rawServer(t *testing.T, serve func(net.Conn)) (string, *atomic.Int32) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { l.Close() })
	var conns atomic.Int32
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			_, _ = c.Read(make([]byte, 4096))
			serve(c)
			c.Close()
		}
	}()
	return "http://" + l.Addr().String(), &conns
}
