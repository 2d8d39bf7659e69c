package redisstore_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
)

// A scale member is this test binary run again as one replica of a fleet:
// it makes a source for each of its identities, says "ready", and on a
// line from its stdin calls every source at once (a cold start); then it
// calls each source every 100ms for its steady run, and prints a
// scaleSummary as JSON.
const scaleEnv = "REDISSTORE_SCALE_MEMBER"

// scaleSummary is what a scale member reports.
type scaleSummary struct {
	Failures   []string       `json:"failures"`
	Trouble    []string       `json:"trouble"`      // told to Notify
	ColdTrips  int64          `json:"cold_trips"`   // Redis commands of the cold start
	SteadyTrip int64          `json:"steady_trips"` // Redis commands of the steady run
	Tokens     map[string]int `json:"tokens"`       // by identity: the tokens seen in the steady run
	seen       map[string]string
}

// counter counts the commands a client sends, each a round trip.
type counter struct{ n atomic.Int64 }

func (c *counter) DialHook(next redis.DialHook) redis.DialHook { return next }
func (c *counter) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error { c.n.Add(1); return next(ctx, cmd) }
}
func (c *counter) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error { c.n.Add(1); return next(ctx, cmds) }
}

func scaleMember() int {
	env := func(k string) string { return os.Getenv(scaleEnv + "_" + k) }
	n, _ := strconv.Atoi(env("IDENTITIES"))
	steady, _ := time.ParseDuration(env("STEADY"))
	client := redis.NewClient(&redis.Options{Addr: env("REDIS")}) // this replica's own, as a process has
	var trips counter
	client.AddHook(&trips)
	// A second of silence, not the default 250ms: the test runs many
	// replicas under -race on a few shared cores, where a process may not
	// be scheduled for hundreds of milliseconds while Redis is fine.
	store, err := redisstore.New(client, redisstore.Options{EncryptionKey: testKey, Timeout: time.Second})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	s := scaleSummary{Tokens: map[string]int{}, seen: map[string]string{}}
	var mu sync.Mutex
	sources := make([]oauth2.TokenSource, n)
	for i := range sources {
		sources[i] = (&tokensource.ClientCredentialsConfig{ClientID: fmt.Sprint("id-", i), ClientSecret: "secret",
			TokenURL: env("URL"), Store: store, ExpiryDelta: 500 * time.Millisecond,
			Retry: &tokensource.RetryPolicy{Notify: func(err error, _ time.Duration) {
				mu.Lock()
				defer mu.Unlock()
				s.Trouble = append(s.Trouble, err.Error())
			}}}).TokenSource(context.Background())
	}
	call := func(i int, count bool) {
		tok, err := sources[i].Token()
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			s.Failures = append(s.Failures, err.Error())
			return
		}
		id := fmt.Sprint("id-", i)
		if count && s.seen[id] != tok.AccessToken {
			s.Tokens[id]++
		}
		s.seen[id] = tok.AccessToken
	}
	fmt.Println("ready")
	_, _ = bufio.NewReader(os.Stdin).ReadString('\n')
	var wg sync.WaitGroup
	for i := range sources {
		wg.Go(func() { call(i, false) })
	}
	wg.Wait()
	s.ColdTrips = trips.n.Swap(0)
	for end := time.Now().Add(steady); time.Now().Before(end); time.Sleep(100 * time.Millisecond) {
		for i := range sources {
			call(i, true)
		}
	}
	s.SteadyTrip = trips.n.Load()
	if err := json.NewEncoder(os.Stdout).Encode(&s); err != nil {
		return 1
	}
	return 0
}

// tokenEndpoint is a client credentials endpoint that takes any client
// id, and counts the requests of each; its tokens live lifetime.
type tokenEndpoint struct {
	*httptest.Server
	mu       sync.Mutex
	requests map[string]int
}

func newTokenEndpoint(t *testing.T, lifetime time.Duration) *tokenEndpoint {
	e := &tokenEndpoint{requests: map[string]int{}}
	e.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var body map[string]string
		if r.Method != http.MethodPost || json.NewDecoder(r.Body).Decode(&body) != nil || body["client_secret"] != "secret" {
			w.WriteHeader(http.StatusConflict)
			return
		}
		e.mu.Lock()
		e.requests[body["client_id"]]++
		n := e.requests[body["client_id"]]
		e.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"access_token": fmt.Sprint(body["client_id"], "-", n),
			"token_type": "Bearer", "expires_in": int(lifetime.Seconds())})
	}))
	t.Cleanup(e.Close)
	return e
}

func (e *tokenEndpoint) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	total := 0
	for _, n := range e.requests {
		total += n
	}
	return total
}

// scaleFleet runs replicas members with identities each against e and r:
// a cold start, all released at once, then steady for steady. It returns
// their summaries.
func scaleFleet(t *testing.T, replicas, identities int, e *tokenEndpoint, r *redisServer, steady time.Duration) []scaleSummary {
	env := append(os.Environ(), scaleEnv+"=1", scaleEnv+"_REDIS="+r.addr, scaleEnv+"_URL="+e.URL,
		fmt.Sprint(scaleEnv, "_IDENTITIES=", identities), fmt.Sprint(scaleEnv, "_STEADY=", steady))
	cmds := make([]*exec.Cmd, replicas)
	outs := make([]*bufio.Reader, replicas)
	gos := make([]func(string), replicas)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env, cmds[i].Stderr = env, os.Stderr
		in, err := cmds[i].StdinPipe()
		require.NoError(t, err)
		out, err := cmds[i].StdoutPipe()
		require.NoError(t, err)
		require.NoError(t, cmds[i].Start())
		outs[i] = bufio.NewReader(out)
		gos[i] = func(s string) { _, _ = in.Write([]byte(s)) }
	}
	for _, out := range outs { // every replica has started
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.Equal(t, "ready\n", line)
	}
	for _, g := range gos {
		g("go\n")
	}
	sums := make([]scaleSummary, replicas)
	for i, out := range outs {
		line, err := out.ReadString('\n')
		require.NoError(t, err)
		require.NoError(t, json.Unmarshal([]byte(line), &sums[i]), line)
		require.NoError(t, cmds[i].Wait())
	}
	return sums
}

// TestAColdStartCostsOneRequestPerIdentity starts 20 replicas of 200
// identities each at once, as a deploy restarts every replica of a
// service: they share one token per identity, and no call fails.
func TestAColdStartCostsOneRequestPerIdentity(t *testing.T) {
	const replicas, identities = 20, 200
	r := startRedis(t)
	e := newTokenEndpoint(t, time.Hour)
	sums := scaleFleet(t, replicas, identities, e, r, 0)
	var trips int64
	trouble := 0
	for _, s := range sums {
		assert.Empty(t, s.Failures)
		trouble += len(s.Trouble)
		trips += s.ColdTrips
	}
	perIdentity := float64(e.total()) / identities
	t.Logf("cold start of %d replicas × %d identities: %.2f token requests per identity, %.2f Redis round trips per identity per replica; store trouble reported %d times",
		replicas, identities, perIdentity, float64(trips)/identities/replicas, trouble)
	assert.LessOrEqual(t, perIdentity, 1.2)
}

// TestASteadyFleetCostsAboutOneRoundTripPerRollover runs fleets of 10 and
// 20 replicas of 100 identities with 4s tokens, and counts the Redis round
// trips of their rollovers.
func TestASteadyFleetCostsAboutOneRoundTripPerRollover(t *testing.T) {
	for _, tc := range []struct {
		replicas int
		most     float64
	}{{10, 1.4}, {20, 1.2}} {
		t.Run(fmt.Sprint(tc.replicas, " replicas"), func(t *testing.T) {
			const identities = 100
			r := startRedis(t)
			e := newTokenEndpoint(t, 4*time.Second)
			sums := scaleFleet(t, tc.replicas, identities, e, r, 10*time.Second)
			requests := e.total() - identities // after the cold start's
			rollovers := map[string]int{}
			var trips int64
			trouble := 0
			for _, s := range sums {
				assert.Empty(t, s.Failures)
				trouble += len(s.Trouble)
				trips += s.SteadyTrip
				for id, n := range s.Tokens {
					rollovers[id] = max(rollovers[id], n)
				}
			}
			total := 0
			for _, n := range rollovers {
				total += n
			}
			require.Positive(t, total)
			tripsPer := float64(trips) / float64(total) / float64(tc.replicas)
			requestsPer := float64(requests) / float64(total)
			t.Logf("%d replicas × %d identities, 4s tokens, %d rollovers: %.2f Redis round trips per identity per rollover per replica, %.2f token requests per identity per rollover; store trouble reported %d times",
				tc.replicas, identities, total, tripsPer, requestsPer, trouble)
			assert.LessOrEqual(t, tripsPer, tc.most)
			assert.LessOrEqual(t, requestsPer, 1.1)
		})
	}
}
