package tokensource

import (
	"context"
	"log/slog"
)

// NewSlogObserver returns an [Observer] that writes one record per [Event]
// to logger (nil means slog.Default() at the time of each event), with the
// message "tokensource: " and what happened, and the attributes kind and
// provider, then those that apply: identity, duration, attempts, status,
// code, error, expiry, wait and reason. It logs with the event's Context,
// so that a handler that reads the trace from it ties the record to the
// request that waited.
//
// The levels follow what an operator must act on:
//   - Warn: a failure callers may see or that stops sharing: a fetch that
//     ended with an error, an unavailable store, and a failure adopted
//     from the store. A failed background renewal is one Warn record, its
//     fetch's (or its adopted failure's).
//   - Info: a failure the source handled: an attempt retried, a token an
//     API rejected.
//   - Debug: the normal life of a token (a fetch that brought one, a
//     renewal started, a token adopted, a call that waited, a pool source
//     added or dropped); each call answered during a cool-down, which
//     repeats a failure already logged at Warn and comes once per call;
//     and a renewal failed, which follows the Warn record of its failure
//     and adds the wait before the next renewal.
//
// A record holds the error's text and nothing else of a source: an
// Event's error holds no secret (see [Event]).
func NewSlogObserver(logger *slog.Logger) Observer {
	return slogObserver{logger}
}

type slogObserver struct{ logger *slog.Logger }

// slogMessages are the records' messages, by kind.
var slogMessages = [...]string{
	FetchEnded:       "tokensource: fetch ended",
	Retrying:         "tokensource: retrying",
	Waited:           "tokensource: waited for a token",
	CoolingDown:      "tokensource: cooling down",
	Invalidated:      "tokensource: token invalidated",
	RenewalStarted:   "tokensource: renewal started",
	RenewalFailed:    "tokensource: renewal failed",
	StoreUnavailable: "tokensource: store unavailable",
	Adopted:          "tokensource: adopted from the store",
	SourceAdded:      "tokensource: pool source added",
	SourceDropped:    "tokensource: pool source dropped",
}

// Observe writes e as one record; see [NewSlogObserver].
func (o slogObserver) Observe(e Event) {
	logger := o.logger
	if logger == nil {
		logger = slog.Default()
	}
	ctx := e.Context
	if ctx == nil {
		ctx = context.Background()
	}
	level := slogLevel(e)
	if !logger.Enabled(ctx, level) {
		return
	}
	msg := "tokensource: event"
	if e.Kind > 0 && int(e.Kind) < len(slogMessages) {
		msg = slogMessages[e.Kind]
	}
	var buf [11]slog.Attr
	attrs := append(buf[:0], slog.String("kind", e.Kind.String()), slog.String("provider", string(e.Provider)))
	if e.Identity != "" {
		attrs = append(attrs, slog.String("identity", e.Identity))
	}
	if e.Kind == FetchEnded || e.Kind == Waited {
		attrs = append(attrs, slog.Duration("duration", e.Duration))
	}
	if e.Kind == FetchEnded {
		attrs = append(attrs, slog.Int("attempts", e.Attempts))
	}
	if e.Status != 0 {
		attrs = append(attrs, slog.Int("status", e.Status))
	}
	if e.Code != "" {
		attrs = append(attrs, slog.String("code", e.Code))
	}
	if e.Err != nil {
		attrs = append(attrs, slog.String("error", e.Err.Error()))
	}
	if !e.Expiry.IsZero() {
		attrs = append(attrs, slog.Time("expiry", e.Expiry))
	}
	if e.Wait != 0 {
		attrs = append(attrs, slog.Duration("wait", e.Wait))
	}
	if e.Reason != "" {
		attrs = append(attrs, slog.String("reason", e.Reason))
	}
	logger.LogAttrs(ctx, level, msg, attrs...)
}

// slogLevel is the level of e's record; see [NewSlogObserver].
func slogLevel(e Event) slog.Level {
	switch e.Kind {
	case FetchEnded, Adopted:
		if e.Err != nil {
			return slog.LevelWarn
		}
		return slog.LevelDebug
	case StoreUnavailable:
		return slog.LevelWarn
	case Retrying, Invalidated:
		return slog.LevelInfo
	case Waited, CoolingDown, RenewalStarted, RenewalFailed, SourceAdded, SourceDropped:
		return slog.LevelDebug
	}
	return slog.LevelInfo
}
