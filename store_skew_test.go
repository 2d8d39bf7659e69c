package tokensource_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// skewedStore stores values as a replica whose clock runs skew ahead
// writes them: the times at the given paths of the JSON value ("stamp",
// "token.expiry", "failure.until") are shifted by skew.
type skewedStore struct {
	*tokensourcetest.Store
	skew  time.Duration
	paths []string
}

func (s *skewedStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	var v map[string]any
	d := json.NewDecoder(bytes.NewReader(value))
	d.UseNumber() // the stamp, in ns, does not fit a float64
	if err := d.Decode(&v); err != nil {
		return err
	}
	for _, path := range s.paths {
		if err := shift(v, strings.Split(path, "."), s.skew); err != nil {
			return err
		}
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	return s.Store.Set(ctx, key, b, ttl)
}

// shift adds skew to the time at path in v, a Unix time in ns or an RFC
// 3339 string, if v has one there.
func shift(v map[string]any, path []string, skew time.Duration) error {
	if len(path) > 1 {
		if inner, ok := v[path[0]].(map[string]any); ok {
			return shift(inner, path[1:], skew)
		}
		return nil
	}
	switch x := v[path[0]].(type) {
	case json.Number:
		ns, err := x.Int64()
		v[path[0]] = json.Number(fmt.Sprint(ns + int64(skew)))
		return err
	case string:
		at, err := time.Parse(time.RFC3339Nano, x)
		v[path[0]] = at.Add(skew).Format(time.RFC3339Nano)
		return err
	}
	return nil
}

func TestAReplicaWithAFastClockCannotStopTheFleet(t *testing.T) {
	const maxCoolDown = time.Minute
	for _, tc := range []struct {
		name  string
		paths []string
		most  time.Duration // the longest cool-down the healthy replica may take
	}{
		// The fast replica's own cool-down: MaxInterval (2s) ± 25%.
		{"its clock 6h ahead", []string{"stamp", "failure.until"}, 2500 * time.Millisecond},
		{"a cool-down stamped 6h before its end", []string{"failure.until"}, maxCoolDown},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tokens := newFliqaServer(t, "", func(w http.ResponseWriter, n int) {
				if n == 1 {
					status(503)(w, n) // a blip
					return
				}
				lasting(360, nil)(w, n)
			})
			fakeTime(t, func(t *testing.T, client *http.Client) {
				store := tokensourcetest.NewStore()
				fast := tokens.config("")
				fast.HTTPClient, fast.Store = client, &skewedStore{Store: store, skew: 6 * time.Hour, paths: tc.paths}
				fast.Retry = &tokensource.RetryPolicy{MaxElapsedTime: -1, MaxCoolDown: maxCoolDown}
				healthy := *fast
				healthy.Store = store
				var told told
				healthy.Observer = &told

				_, err := fast.TokenSource(t.Context()).Token()
				var e *tokensource.Error
				require.ErrorAs(t, err, &e)
				assert.Equal(t, 503, e.StatusCode)
				synctest.Wait() // for the failure to be shared

				src := healthy.TokenSource(t.Context())
				_, err = src.Token()
				require.ErrorAs(t, err, &e, "the fast replica's failure, adopted")
				assert.Equal(t, int32(1), tokens.requests.Load())
				adopted := told.seen(tokensource.Adopted)
				require.Len(t, adopted, 1)
				wait := adopted[0].Wait
				assert.Positive(t, wait)
				assert.LessOrEqual(t, wait, tc.most)

				_, err = src.Token()
				require.ErrorIs(t, err, tokensource.ErrCoolingDown)
				assert.Contains(t, err.Error(), fmt.Sprintf("next attempt in %v:", wait.Round(time.Millisecond)))
				time.Sleep(wait)
				tok, err := src.Token()
				require.NoError(t, err, "the healthy replica probes once the adopted cool-down ends")
				assert.Equal(t, "tok-2", tok.AccessToken)
			})
		})
	}
}

func TestAReplicaWithAFastClockCannotStretchAToken(t *testing.T) {
	tokens := newFliqaServer(t, "", lasting(2, nil))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		store := tokensourcetest.NewStore()
		fast := tokens.config("")
		fast.HTTPClient = client
		fast.Store = &skewedStore{Store: store, skew: 6 * time.Hour, paths: []string{"stamp", "token.expiry"}}
		healthy := *fast
		healthy.Store = store
		var told told
		healthy.Observer = &told

		_, err := fast.TokenSource(t.Context()).Token()
		require.NoError(t, err)
		synctest.Wait() // for the token to be shared
		src := healthy.TokenSource(t.Context())
		tok, err := src.Token()
		require.NoError(t, err)
		adoptedAt := time.Now()
		assert.Equal(t, "tok-1", tok.AccessToken, "adopted from the fast replica")
		assert.Equal(t, int32(1), tokens.requests.Load())
		assert.WithinDuration(t, adoptedAt.Add(2*time.Second), tok.Expiry, 0, "its lifetime, counted from its adoption")

		// Served until min(ExpiryDelta, L/4) before that expiry: 1.5s.
		for time.Since(adoptedAt) < 10*time.Second {
			time.Sleep(100 * time.Millisecond)
			tok, err := src.Token()
			require.NoError(t, err)
			if tok.AccessToken == "tok-1" {
				assert.Less(t, time.Since(adoptedAt), 1500*time.Millisecond, "tok-1 served too long")
			}
		}
		assert.Greater(t, tokens.requests.Load(), int32(2), "the healthy replica renews its own")
	})
}
