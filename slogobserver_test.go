package tokensource_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

// slogRecords returns what NewSlogObserver writes of events through a
// JSON handler at level, one map per record, without the time.
func slogRecords(t *testing.T, level slog.Level, events ...tokensource.Event) ([]map[string]any, string) {
	t.Helper()
	var buf bytes.Buffer
	o := tokensource.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, &slog.HandlerOptions{Level: level})))
	for _, e := range events {
		o.Observe(e)
	}
	var records []map[string]any
	for line := range strings.Lines(buf.String()) {
		var r map[string]any
		require.NoError(t, json.Unmarshal([]byte(line), &r), line)
		delete(r, "time")
		records = append(records, r)
	}
	return records, buf.String()
}

func TestSlogObserverWritesEveryKind(t *testing.T) {
	expiry := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	failure := errors.New("tokensource: 503 Service Unavailable")
	tests := []struct {
		name  string
		event tokensource.Event
		want  map[string]any
	}{
		{"fetch ended with a token",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa,
				Identity: "production/my_slug", Duration: 1500 * time.Millisecond, Attempts: 2, Expiry: expiry},
			map[string]any{"level": "DEBUG", "msg": "tokensource: fetch ended", "kind": "fetch_ended",
				"provider": "fliqa", "identity": "production/my_slug", "duration": 1.5e9, "attempts": 2.0, "expiry": "2030-01-02T03:04:05Z"}},
		{"fetch ended with a failure",
			tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFlinks,
				Duration: time.Second, Attempts: 3, Err: failure, Status: 503, Code: "unavailable"},
			map[string]any{"level": "WARN", "msg": "tokensource: fetch ended", "kind": "fetch_ended",
				"provider": "flinks", "duration": 1e9, "attempts": 3.0, "status": 503.0, "code": "unavailable",
				"error": failure.Error()}},
		{"retrying",
			tokensource.Event{Kind: tokensource.Retrying, Provider: tokensource.ProviderClientCredentials,
				Err: failure, Status: 503, Wait: 200 * time.Millisecond},
			map[string]any{"level": "INFO", "msg": "tokensource: retrying", "kind": "retrying",
				"provider": "client_credentials", "status": 503.0, "error": failure.Error(), "wait": 2e8}},
		{"waited",
			tokensource.Event{Kind: tokensource.Waited, Provider: tokensource.ProviderCustom, Duration: time.Millisecond},
			map[string]any{"level": "DEBUG", "msg": "tokensource: waited for a token", "kind": "waited",
				"provider": "custom", "duration": 1e6}},
		{"cooling down",
			tokensource.Event{Kind: tokensource.CoolingDown, Provider: tokensource.ProviderFliqa, Err: failure,
				Wait: time.Second},
			map[string]any{"level": "DEBUG", "msg": "tokensource: cooling down", "kind": "cooling_down",
				"provider": "fliqa", "error": failure.Error(), "wait": 1e9}},
		{"invalidated",
			tokensource.Event{Kind: tokensource.Invalidated, Provider: tokensource.ProviderFliqa},
			map[string]any{"level": "INFO", "msg": "tokensource: token invalidated", "kind": "invalidated",
				"provider": "fliqa"}},
		{"renewal started",
			tokensource.Event{Kind: tokensource.RenewalStarted, Provider: tokensource.ProviderFliqa, Expiry: expiry},
			map[string]any{"level": "DEBUG", "msg": "tokensource: renewal started", "kind": "renewal_started",
				"provider": "fliqa", "expiry": "2030-01-02T03:04:05Z"}},
		{"renewal failed",
			tokensource.Event{Kind: tokensource.RenewalFailed, Provider: tokensource.ProviderFliqa, Err: failure,
				Wait: time.Second},
			map[string]any{"level": "DEBUG", "msg": "tokensource: renewal failed", "kind": "renewal_failed",
				"provider": "fliqa", "error": failure.Error(), "wait": 1e9}},
		{"store unavailable",
			tokensource.Event{Kind: tokensource.StoreUnavailable, Provider: tokensource.ProviderFliqa,
				Err: errors.New("tokensource: store: connection refused")},
			map[string]any{"level": "WARN", "msg": "tokensource: store unavailable", "kind": "store_unavailable",
				"provider": "fliqa", "error": "tokensource: store: connection refused"}},
		{"adopted a token",
			tokensource.Event{Kind: tokensource.Adopted, Provider: tokensource.ProviderFliqa, Expiry: expiry},
			map[string]any{"level": "DEBUG", "msg": "tokensource: adopted from the store", "kind": "adopted",
				"provider": "fliqa", "expiry": "2030-01-02T03:04:05Z"}},
		{"adopted a failure",
			tokensource.Event{Kind: tokensource.Adopted, Provider: tokensource.ProviderFliqa, Err: failure,
				Status: 503, Wait: time.Second},
			map[string]any{"level": "WARN", "msg": "tokensource: adopted from the store", "kind": "adopted",
				"provider": "fliqa", "status": 503.0, "error": failure.Error(), "wait": 1e9}},
		{"source added",
			tokensource.Event{Kind: tokensource.SourceAdded, Provider: tokensource.ProviderFlinks},
			map[string]any{"level": "DEBUG", "msg": "tokensource: pool source added", "kind": "source_added",
				"provider": "flinks"}},
		{"source dropped",
			tokensource.Event{Kind: tokensource.SourceDropped, Provider: tokensource.ProviderFlinks, Reason: "idle"},
			map[string]any{"level": "DEBUG", "msg": "tokensource: pool source dropped", "kind": "source_dropped",
				"provider": "flinks", "reason": "idle"}},
		{"unknown kind",
			tokensource.Event{Kind: 99, Provider: tokensource.ProviderFlinks},
			map[string]any{"level": "INFO", "msg": "tokensource: event", "kind": "unknown", "provider": "flinks"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			records, _ := slogRecords(t, slog.LevelDebug, tt.event)
			require.Len(t, records, 1)
			assert.Equal(t, tt.want, records[0])
		})
	}
}

func TestSlogObserverLeavesDebugOutAtInfo(t *testing.T) {
	records, _ := slogRecords(t, slog.LevelInfo,
		tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa, Attempts: 1},
		tokensource.Event{Kind: tokensource.Waited, Provider: tokensource.ProviderFliqa},
		tokensource.Event{Kind: tokensource.Invalidated, Provider: tokensource.ProviderFliqa},
		tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa, Attempts: 1,
			Err: errors.New("tokensource: boom")},
	)
	require.Len(t, records, 2)
	assert.Equal(t, "invalidated", records[0]["kind"])
	assert.Equal(t, "WARN", records[1]["level"])
}

// An Error's body and response are not printed, only its text.
func TestSlogObserverPrintsOnlyTheErrorsText(t *testing.T) {
	const secret = "eyJhbGciOiJIUzI1NiJ9.c2VjcmV0.body-token"
	err := &tokensource.Error{StatusCode: 401, Code: "invalid_client",
		Body: []byte(`{"access_token":"` + secret + `"}`), ParameterValue: secret}
	records, out := slogRecords(t, slog.LevelDebug, tokensource.Event{Kind: tokensource.FetchEnded,
		Provider: tokensource.ProviderFliqa, Attempts: 1, Err: err, Status: 401, Code: "invalid_client"})
	require.Len(t, records, 1)
	assert.Equal(t, err.Error(), records[0]["error"])
	assert.NotContains(t, out, secret)
}

func TestSlogObserverNilLoggerUsesTheDefault(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	t.Cleanup(func() { slog.SetDefault(prev) })
	o := tokensource.NewSlogObserver(nil)
	slog.SetDefault(slog.New(slog.NewJSONHandler(&buf, nil))) // after: the default at the event counts
	o.Observe(tokensource.Event{Kind: tokensource.Invalidated, Provider: tokensource.ProviderFliqa})
	assert.Contains(t, buf.String(), `"msg":"tokensource: token invalidated"`)
}

func TestSlogObserverCostsNothingBelowTheLevel(t *testing.T) {
	var buf bytes.Buffer
	o := tokensource.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf, nil))) // Info
	e := tokensource.Event{Kind: tokensource.FetchEnded, Provider: tokensource.ProviderFliqa, Attempts: 1,
		Expiry: time.Now()}
	assert.Zero(t, testing.AllocsPerRun(100, func() { o.Observe(e) }))
	assert.Empty(t, buf.String())
}

func TestSlogObserverLogsAFailedRenewalOnce(t *testing.T) {
	var failing atomic.Bool
	srv := newFliqaServer(t, "", lasting(360, &failing))
	fakeTime(t, func(t *testing.T, client *http.Client) {
		var buf bytes.Buffer
		cfg := srv.config("")
		cfg.HTTPClient = client
		cfg.Observer = tokensource.NewSlogObserver(slog.New(slog.NewJSONHandler(&buf,
			&slog.HandlerOptions{Level: slog.LevelDebug})))
		src := cfg.TokenSource(t.Context())
		_, err := src.Token()
		require.NoError(t, err)

		failing.Store(true)
		time.Sleep(181 * time.Second) // into the window: the next call renews in the background
		tok, err := src.Token()
		require.NoError(t, err)
		assert.Equal(t, "tok-1", tok.AccessToken)
		time.Sleep(30 * time.Second) // the renewal's whole budget
		synctest.Wait()

		var warned, kinds []string
		for line := range strings.Lines(buf.String()) {
			var r map[string]any
			require.NoError(t, json.Unmarshal([]byte(line), &r))
			kinds = append(kinds, r["kind"].(string))
			if r["level"] == "WARN" {
				warned = append(warned, r["kind"].(string))
				assert.Equal(t, "sandbox/"+testSlug, r["identity"])
			}
		}
		assert.Contains(t, kinds, "renewal_failed")
		assert.Equal(t, []string{"fetch_ended"}, warned, "one Warn record for one failed renewal")
	})
}
