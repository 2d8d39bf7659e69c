package redisstore_test

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/redisstore"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// A fleet member is this test binary run again as a separate process: it
// asks for a token every 20ms from its start time until its end time, and
// prints a summary as JSON.
const fleetEnv = "REDISSTORE_FLEET_MEMBER"

// exampleRedis is the address of the redis-server the examples use.
var exampleRedis string

func TestMain(m *testing.M) {
	if os.Getenv(fleetEnv) != "" {
		os.Exit(member())
	}
	if os.Getenv(scaleEnv) != "" {
		os.Exit(scaleMember())
	}
	dir, err := os.MkdirTemp("", "redisstore-example")
	if err != nil {
		log.Fatal(err)
	}
	r := newRedis(dir, log.Fatalf)
	exampleRedis = r.addr
	code := m.Run()
	r.stop()
	os.RemoveAll(dir)
	os.Exit(code)
}

// summary is what a fleet member reports.
type summary struct {
	Calls      int        `json:"calls"`
	Failures   []string   `json:"failures"`
	Latencies  []int64    `json:"latencies_us"` // of every Token call
	Slow       [][2]int64 `json:"slow"`         // start (Unix ms) and latency (µs) of calls over 1ms
	StoreTrips int        `json:"store_trips"`  // reports of store trouble
}

func member() int {
	env := func(k string) string { return os.Getenv(fleetEnv + "_" + k) }
	ms := func(k string) time.Time { n, _ := strconv.ParseInt(env(k), 10, 64); return time.UnixMilli(n) }
	start, end := ms("START"), ms("END")
	var (
		s  summary
		mu sync.Mutex // Notify runs in background renewals
	)
	cfg := &tokensource.ClientCredentialsConfig{ClientID: env("ID"), ClientSecret: env("SECRET"), TokenURL: env("URL"),
		ExpiryDelta: 500 * time.Millisecond,
		Retry: &tokensource.RetryPolicy{InitialInterval: 20 * time.Millisecond, MaxInterval: 100 * time.Millisecond,
			MaxElapsedTime: 300 * time.Millisecond, MaxCoolDown: 400 * time.Millisecond,
			Notify: func(err error, _ time.Duration) {
				if strings.Contains(err.Error(), "store unavailable") {
					mu.Lock()
					s.StoreTrips++
					mu.Unlock()
				}
			}}}
	if addr := env("REDIS"); addr != "" {
		key, _ := hex.DecodeString(env("KEY"))
		store, err := redisstore.New(redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1}),
			redisstore.Options{EncryptionKey: key, Timeout: 500 * time.Millisecond})
		if err != nil {
			fmt.Fprintln(os.Stderr, err)
			return 1
		}
		cfg.Store = store
	}
	src := cfg.TokenSource(context.Background())
	time.Sleep(time.Until(start))
	for time.Now().Before(end) {
		t0 := time.Now()
		_, err := src.Token()
		took := time.Since(t0)
		mu.Lock()
		s.Calls++
		s.Latencies = append(s.Latencies, took.Microseconds())
		if took > time.Millisecond {
			s.Slow = append(s.Slow, [2]int64{t0.UnixMilli(), took.Microseconds()})
		}
		if err != nil {
			s.Failures = append(s.Failures, err.Error())
		}
		mu.Unlock()
		time.Sleep(20 * time.Millisecond)
	}
	mu.Lock()
	defer mu.Unlock()
	if err := json.NewEncoder(os.Stdout).Encode(s); err != nil {
		return 1
	}
	return 0
}

// fleet runs n members against fake for run, starting together once all
// have started, sharing r if it is not nil, and returns their summaries.
func fleet(t *testing.T, n int, fake *tokensourcetest.AbbeyCross, r *redisServer, run time.Duration) []summary {
	t.Helper()
	start := time.Now().Add(3 * time.Second) // every member has started by then
	env := append(os.Environ(),
		fleetEnv+"=1",
		fleetEnv+"_ID="+fake.ClientID, fleetEnv+"_SECRET="+fake.ClientSecret, fleetEnv+"_URL="+fake.URL+"/v1/oauth/token",
		fleetEnv+"_KEY="+hex.EncodeToString(testKey),
		fmt.Sprintf("%s_START=%d", fleetEnv, start.UnixMilli()),
		fmt.Sprintf("%s_END=%d", fleetEnv, start.Add(run).UnixMilli()))
	if r != nil {
		env = append(env, fleetEnv+"_REDIS="+r.addr)
	}
	out := make([]bytes.Buffer, n)
	cmds := make([]*exec.Cmd, n)
	for i := range cmds {
		cmds[i] = exec.Command(os.Args[0], "-test.run=^$")
		cmds[i].Env, cmds[i].Stdout, cmds[i].Stderr = env, &out[i], os.Stderr
		require.NoError(t, cmds[i].Start())
	}
	var wg sync.WaitGroup
	for _, c := range cmds {
		wg.Go(func() { assert.NoError(t, c.Wait()) })
	}
	wg.Wait()
	sums := make([]summary, n)
	for i := range out {
		require.NoError(t, json.Unmarshal(out[i].Bytes(), &sums[i]), out[i].String())
	}
	return sums
}

// TestFleet runs twenty processes that share one Redis and one provider
// through a cold start, three rollovers, an outage of the provider, and
// Redis killed and restarted; then the same start and rollovers without
// the store, to compare. The test acts on what it sees the provider get,
// so a slow machine only stretches the timeline.
func TestFleet(t *testing.T) {
	const (
		n        = 20
		lifetime = 4 * time.Second // renewed from 2s before expiry, served until 0.5s before
	)
	r := startRedis(t)
	fake := tokensourcetest.NewAbbeyCross(t)
	fake.SetLifetime(lifetime)
	fake.SetLatency(50 * time.Millisecond)

	type phase struct {
		requests int
		at       time.Time
	}
	phases := map[string]phase{}
	script := make(chan struct{})
	go func() {
		defer close(script)
		mark := func(name string) { phases[name] = phase{fake.Requests(), time.Now()} }
		for begin := time.Now(); fake.Requests() < 4 && time.Since(begin) < time.Minute; { // the cold start and three rollovers
			time.Sleep(10 * time.Millisecond)
		}
		mark("rollovers")
		// The token just issued is renewed from 2s on, and served until 3.5s:
		// the renewal fails while the provider is closed, and a probe after it
		// reopens succeeds in time.
		time.Sleep(1500 * time.Millisecond)
		fake.SetWorkingHours(false, "")
		time.Sleep(1300 * time.Millisecond)
		fake.SetWorkingHours(true, "")
		mark("outage")
		time.Sleep(time.Second)
		r.stop() // the next rollover happens while Redis is away
		mark("redis killed")
		time.Sleep(2500 * time.Millisecond)
		r.start()
		mark("redis back")
	}()
	sums := fleet(t, n, fake, r, 18*time.Second)
	<-script
	end := fake.Requests()

	var (
		latencies []int64
		slowest   time.Duration
		trips     int
	)
	away, back := phases["redis killed"].at.UnixMilli(), phases["redis back"].at.UnixMilli()
	for _, s := range sums {
		assert.Empty(t, s.Failures, "no call fails while a token can be had")
		assert.Greater(t, s.Calls, 300)
		latencies = append(latencies, s.Latencies...)
		for _, slow := range s.Slow {
			if slow[0] >= away && slow[0] < back {
				slowest = max(slowest, time.Duration(slow[1])*time.Microsecond)
			}
		}
		trips += s.StoreTrips
	}
	slices.Sort(latencies)
	p99 := time.Duration(latencies[len(latencies)*99/100]) * time.Microsecond

	rollovers := phases["rollovers"].requests
	assert.Equal(t, 4, rollovers, "cold start and three rollovers: four requests for twenty processes")
	outage := phases["outage"].requests - rollovers
	assert.LessOrEqual(t, outage, 8, "the closed provider is probed as by one process")
	alone := phases["redis back"].requests - phases["redis killed"].requests
	assert.LessOrEqual(t, alone, 2*n+2, "without Redis, each process renews on its own")
	assert.Positive(t, trips, "and says so through Notify")
	after := end - phases["redis back"].requests
	assert.LessOrEqual(t, after, 4, "back together once Redis is")

	solo := tokensourcetest.NewAbbeyCross(t)
	solo.SetLifetime(lifetime)
	solo.SetLatency(50 * time.Millisecond)
	fleet(t, n, solo, nil, 6500*time.Millisecond)
	t.Logf("20 processes, cold start and 3 rollovers: %d token requests with the store, %d without", rollovers, solo.Requests())
	t.Logf("provider closed for 1.3s: %d requests; Redis away for 2.5s: %d requests, %d store failures reported; after: %d",
		outage, alone, trips, after)
	t.Logf("Token() over the run: p99 %v; slowest call while Redis was away %v", p99, slowest)
	assert.GreaterOrEqual(t, solo.Requests(), 3*n, "without the store each process fetches for itself")
}
