package tokensource_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

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

func TestRetryGivesUpAtOnceWhenRetryAfterExceedsBudget(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("28800", 503)) // closed for the night
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		start := time.Now()
		_, err := cfg.Token(t.Context())
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 8*time.Hour, e.RetryAfter)
		assert.Contains(t, err.Error(), "(retry after 8h0m0s)")
		assert.Equal(t, int32(1), srv.requests.Load())
		assert.Zero(t, time.Since(start), "no pointless waiting")
	})
}

func TestRetryStopsAtTheBudget(t *testing.T) {
	for _, tc := range []struct {
		name   string
		policy *tokensource.RetryPolicy
		budget time.Duration
		want   string
	}{
		{"default budget", nil, 10 * time.Second, "tokensource: giving up after "},
		{"own budget", &tokensource.RetryPolicy{InitialInterval: time.Second, MaxInterval: 3 * time.Second, MaxElapsedTime: 30 * time.Second}, 30 * time.Second, "tokensource: giving up after "},
		{"retries disabled", &tokensource.RetryPolicy{MaxElapsedTime: -1}, 0, "tokensource: GET "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newFliqaServer(t, "", status(503))
			fakeTime(t, func(t *testing.T, client *http.Client) {
				cfg := srv.config("")
				cfg.HTTPClient, cfg.Retry = client, tc.policy
				start := time.Now()
				_, err := cfg.Token(t.Context())
				var e *tokensource.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 503, e.StatusCode)
				assert.Contains(t, err.Error(), tc.want)
				assert.LessOrEqual(t, time.Since(start), tc.budget)
				if tc.budget == 0 {
					assert.Equal(t, int32(1), srv.requests.Load())
				} else {
					assert.GreaterOrEqual(t, srv.requests.Load(), int32(4))
					assert.Contains(t, err.Error(), fmt.Sprintf("giving up after %d attempts: GET ", srv.requests.Load()))
				}
			})
		})
	}
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

func TestRetryStopsWhenContextEnds(t *testing.T) {
	srv := newFliqaServer(t, "", status(503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		ctx, cancel := context.WithCancel(t.Context())
		time.AfterFunc(time.Second, cancel)
		start := time.Now()
		_, err := cfg.Token(ctx)
		assert.ErrorIs(t, err, context.Canceled)
		var e *tokensource.Error
		require.ErrorAs(t, err, &e, "the provider's answer is kept too")
		assert.Equal(t, 503, e.StatusCode)
		assert.Contains(t, err.Error(), "tokensource: stopped waiting to retry (GET ")
		assert.Equal(t, time.Second, time.Since(start), "stops at once")
	})
	t.Run("deadline before the next wait", func(t *testing.T) {
		srv := newFliqaServer(t, "", status(503))
		fakeTime(t, func(t *testing.T, client *http.Client) {
			cfg := srv.config("")
			cfg.HTTPClient = client
			cfg.Retry = &tokensource.RetryPolicy{InitialInterval: 2 * time.Second}
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			_, err := cfg.Token(ctx)
			var e *tokensource.Error
			require.ErrorAs(t, err, &e, "the provider's answer, not a wait cut short")
			assert.Equal(t, int32(1), srv.requests.Load())
		})
	})
}

func TestRetryTokenSourceAroundClientCredentials(t *testing.T) {
	for _, tc := range []struct {
		name     string
		failures int
		code     int
		wantErr  bool
		requests int32
	}{
		{"503 then 500 then a token", 2, 503, false, 3},
		{"429 with Retry-After", 1, 429, false, 2},
		{"400 is not retried", 1, 400, true, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n := requests.Add(1)
				assert.Equal(t, "/oauth/token", r.URL.Path)
				w.Header().Set("Content-Type", "application/json")
				if int(n) <= tc.failures {
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(tc.code)
					fmt.Fprint(w, `{"error":"temporarily_unavailable"}`)
					return
				}
				fmt.Fprint(w, `{"access_token":"cc-token","token_type":"bearer","expires_in":3600}`)
			}))
			defer srv.Close()
			fakeTime(t, func(t *testing.T, client *http.Client) {
				ctx := context.WithValue(t.Context(), oauth2.HTTPClient, client)
				cc := &clientcredentials.Config{ClientID: "id", ClientSecret: "secret", TokenURL: srv.URL + "/oauth/token",
					AuthStyle: oauth2.AuthStyleInParams}
				src := oauth2.ReuseTokenSource(nil, tokensource.RetryTokenSource(ctx, cc.TokenSource(ctx), nil))
				tok, err := src.Token()
				if tc.wantErr {
					var re *oauth2.RetrieveError
					require.ErrorAs(t, err, &re)
					assert.Equal(t, tc.code, re.Response.StatusCode)
				} else {
					require.NoError(t, err)
					assert.Equal(t, "cc-token", tok.AccessToken)
				}
				assert.Equal(t, tc.requests, requests.Load())
			})
		})
	}
}

// TestNoPileUpBehindAFailingFetch runs on the real clock: the callers queue
// on oauth2.ReuseTokenSource's mutex, which a synctest bubble does not count
// as blocked. Retry-After: 1 makes a retry cycle exactly three attempts.
func TestNoPileUpBehindAFailingFetch(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("1", 503))
	cfg := srv.config("")
	cfg.Retry = &tokensource.RetryPolicy{MaxElapsedTime: 2500 * time.Millisecond}
	src := cfg.TokenSource(t.Context())
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() {
			_, err := src.Token()
			var e *tokensource.Error
			assert.ErrorAs(t, err, &e, "every caller gets the one cycle's failure")
		})
	}
	wg.Wait()
	assert.Equal(t, int32(3), srv.requests.Load(), "one retry cycle for all 20 callers, none after it")
}

func TestFailedFetchCoolsDown(t *testing.T) {
	var open atomic.Bool
	srv := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
		if open.Load() {
			fliqaOK(w, n)
			return
		}
		status(503)(w, n)
	})
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())

		_, first := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, first, &e)
		cycle := srv.requests.Load()
		assert.GreaterOrEqual(t, cycle, int32(4), "the first failure is a whole retry cycle")

		_, err := src.Token()
		assert.ErrorIs(t, err, first, "the same failure, shared")
		assert.Contains(t, err.Error(), "tokensource: last fetch failed, next attempt in ")
		assert.Equal(t, cycle, srv.requests.Load(), "no request while cooling down")

		// Call ten times a second: each probe is one request, and the pauses
		// between probes grow up to MaxCoolDown.
		var probes []time.Time
		for start := time.Now(); time.Since(start) < time.Hour; time.Sleep(100 * time.Millisecond) {
			before := srv.requests.Load()
			_, err := src.Token()
			require.Error(t, err)
			if n := srv.requests.Load() - before; n > 0 {
				assert.Equal(t, int32(1), n, "a probe is a single request")
				probes = append(probes, time.Now())
			}
		}
		require.Greater(t, len(probes), 5)
		for i := 2; i < len(probes); i++ {
			gap := probes[i].Sub(probes[i-1])
			assert.LessOrEqual(t, gap, 5*time.Minute+100*time.Millisecond, "capped at MaxCoolDown")
			if i < 6 {
				assert.Greater(t, gap, probes[i-1].Sub(probes[i-2]), "growing while failures continue")
			}
		}
		assert.Less(t, len(probes), 30, "an hour-long outage costs a few requests, not one per call")

		open.Store(true)
		before := srv.requests.Load()
		var tok *oauth2.Token
		for tok == nil {
			tok, _ = src.Token()
			time.Sleep(time.Second)
		}
		assert.Equal(t, before+1, srv.requests.Load(), "the first request after reopening succeeds")
		_, err = src.Token()
		require.NoError(t, err)
		assert.Equal(t, before+1, srv.requests.Load(), "and its token is cached")
	})
}

func TestRetryTokenSourceKeepsOwnFailuresApart(t *testing.T) {
	// Errors that are not the provider's (here a bad policy) are plain.
	src := tokensource.RetryTokenSource(t.Context(), oauth2.StaticTokenSource(&oauth2.Token{AccessToken: "a"}),
		&tokensource.RetryPolicy{InitialInterval: 2 * time.Second, MaxInterval: time.Second})
	_, err := src.Token()
	assert.EqualError(t, err, "tokensource: RetryTokenSource.Retry.MaxInterval is shorter than InitialInterval")
	assert.False(t, errors.As(err, new(*tokensource.Error)))
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

// TestNoAttemptHangs runs on the real clock with a short budget: a
// provider that never answers holds network reads, which a synctest bubble
// does not count as blocked.
func TestNoAttemptHangs(t *testing.T) {
	hang := func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body) // net/http notices a closed connection once the body is read
		<-r.Context().Done()
	}
	drip := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		rc := http.NewResponseController(w)
		for {
			select {
			case <-r.Context().Done():
				return
			case <-time.After(20 * time.Millisecond):
				_, _ = w.Write([]byte(" "))
				_ = rc.Flush()
			}
		}
	}
	for _, tc := range []struct {
		name    string
		handler http.HandlerFunc
		budget  time.Duration
		want    string
	}{
		{"no answer", hang, 300 * time.Millisecond, "no token by the deadline (fetch budget 300ms)"},
		{"a body dripped a byte at a time", drip, 300 * time.Millisecond, "no token by the deadline (fetch budget 300ms)"},
		{"no answer, retries disabled", hang, -1, "no token by the deadline (fetch budget 10s)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var requests atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				requests.Add(1)
				tc.handler(w, r)
			}))
			defer srv.Close()
			cfg := &tokensource.FliqaConfig{APIKey: testKey, APISecret: testSecret, Environment: tokensource.FliqaSandbox,
				TenantSlug: testSlug, BaseURL: srv.URL, Retry: &tokensource.RetryPolicy{MaxElapsedTime: tc.budget}}
			src := cfg.TokenSource(context.Background())
			var wg sync.WaitGroup
			for range 5 {
				wg.Go(func() {
					_, err := src.Token()
					assert.ErrorIs(t, err, context.DeadlineExceeded)
					assert.Contains(t, err.Error(), tc.want)
				})
			}
			wg.Wait()
			assert.Equal(t, int32(1), requests.Load(), "the callers shared one attempt, ended by the budget")
		})
	}
	t.Run("Exchange never resends a code after a timeout", func(t *testing.T) {
		t.Parallel()
		var requests atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			requests.Add(1)
			hang(w, r)
		}))
		defer srv.Close()
		cfg := &tokensource.FlinksConfig{ClientID: "id", ClientSecret: "secret", BaseURL: srv.URL, RedirectURL: "https://app/cb",
			Retry: &tokensource.RetryPolicy{MaxElapsedTime: 300 * time.Millisecond}}
		_, err := cfg.Exchange(context.Background(), "code")
		assert.ErrorIs(t, err, context.DeadlineExceeded)
		assert.Equal(t, int32(1), requests.Load())
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

func TestNoWaitExceedsADay(t *testing.T) {
	srv := newFliqaServer(t, "", withRetryAfter("9999999999999", 503))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		cfg := srv.config("")
		cfg.HTTPClient = client
		src := cfg.TokenSource(t.Context())
		_, err := src.Token()
		var e *tokensource.Error
		require.ErrorAs(t, err, &e)
		assert.Equal(t, 24*time.Hour, e.RetryAfter)
		_, err = src.Token()
		assert.ErrorContains(t, err, "next attempt in 24h0m0s")
		time.Sleep(24*time.Hour + time.Second)
		_, _ = src.Token()
		assert.Equal(t, int32(2), srv.requests.Load(), "asked again after a day")
	})
	cfg := srv.config("")
	cfg.Retry = &tokensource.RetryPolicy{MaxCoolDown: 25 * time.Hour}
	_, err := cfg.TokenSource(t.Context()).Token()
	assert.EqualError(t, err, "tokensource: FliqaConfig.Retry.MaxCoolDown must not exceed 24h0m0s")
}
