package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/fintechauth/tokensource/tokensourcetest"
)

// script is the failures and the delay that serve's flags ask each fake to
// play, so that apps in any language can test their handling of them.
type script struct {
	status     int           // of the scripted failures; 0 for none
	count      int           // how many token requests to each fake fail
	retryAfter string        // the failures' Retry-After header, if not empty
	delay      time.Duration // before every answer
}

// flags defines the script's flags on fs.
func (s *script) flags(fs *flag.FlagSet) {
	fs.IntVar(&s.status, "fail-status", 0,
		"answer the next -fail-count token requests to each fake with this status\n(400 to 599) and the provider's error body")
	fs.IntVar(&s.count, "fail-count", 1, "how many token requests to each fake answer -fail-status")
	fs.StringVar(&s.retryAfter, "retry-after", "",
		"send this Retry-After header with the failures: seconds, or an HTTP date")
	fs.DurationVar(&s.delay, "delay", 0, "delay every answer by this long, e.g. 2s")
}

// check reports a script that cannot be played as a usage error.
func (s *script) check(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	switch {
	case s.status == 0 && (set["fail-count"] || set["retry-after"]):
		return usagef("-fail-count and -retry-after need -fail-status")
	case set["fail-status"] && (s.status < 400 || s.status > 599):
		return usagef("-fail-status must be 400 to 599")
	case s.count < 1:
		return usagef("-fail-count must be at least 1")
	case s.delay < 0:
		return usagef("-delay must not be negative")
	case s.retryAfter != "" && !validRetryAfter(s.retryAfter):
		return usagef("-retry-after must be seconds or an HTTP date")
	}
	return nil
}

// validRetryAfter reports whether v is a Retry-After value: a number of
// seconds, or an HTTP date.
func validRetryAfter(v string) bool {
	if n, err := strconv.Atoi(v); err == nil {
		return n >= 0
	}
	_, err := http.ParseTime(v)
	return err == nil
}

// play sets the script on each fake.
func (s *script) play(fakes ...interface {
	FailNext(n, status int, retryAfter string)
	SetLatency(time.Duration)
}) {
	for _, f := range fakes {
		if s.status != 0 {
			f.FailNext(s.count, s.status, s.retryAfter)
		}
		f.SetLatency(s.delay)
	}
}

// String says what the script plays, or "" for none.
func (s *script) String() string {
	var parts []string
	if s.status != 0 {
		p := fmt.Sprintf("the next %d token requests to each fake answer %d", s.count, s.status)
		if s.retryAfter != "" {
			p += " with Retry-After " + s.retryAfter
		}
		parts = append(parts, p)
	}
	if s.delay > 0 {
		parts = append(parts, "every answer is delayed by "+s.delay.String())
	}
	return strings.Join(parts, "; ")
}

// serve serves the three fakes on addr, playing sc, until ctx ends, and
// logs each token request on stderr. Their paths do not overlap, so one
// server holds them all.
func serve(ctx context.Context, addr string, sc *script, stdout, stderr io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return usagef("-addr: %v", err)
	}
	base := "http://" + l.Addr().String()
	fliqa, flinks, abbey := tokensourcetest.NewFliqaHandler(), tokensourcetest.NewFlinksHandler(), tokensourcetest.NewAbbeyCrossHandler()
	sc.play(fliqa, flinks, abbey)
	logger := log.New(stderr, "", log.LstdFlags)
	mux := http.NewServeMux()
	mux.Handle("/service/auth/token/", logged(logger, "fliqa", fliqa))
	mux.Handle("/api/v1/token", logged(logger, "flinks", flinks))
	mux.Handle("/v1/oauth/token", logged(logger, "abbeycross", abbey))

	fmt.Fprintf(stdout, "serving token endpoint fakes on %s\n", base)
	fmt.Fprintf(stdout, "  fliqa:       GET %s/service/auth/token/%s/%s with Api-Key %s, Api-Secret %s\n",
		base, fliqa.Environment, fliqa.TenantSlug, fliqa.APIKey, fliqa.APISecret)
	fmt.Fprintf(stdout, "  flinks:      POST %s/api/v1/token with client_id %s, client_secret %s, redirect_uri %s\n",
		base, flinks.ClientID, flinks.ClientSecret, flinks.RedirectURL)
	fmt.Fprintf(stdout, "  abbeycross:  POST %s/v1/oauth/token with client_id %s, client_secret %s\n",
		base, abbey.ClientID, abbey.ClientSecret)
	if p := sc.String(); p != "" {
		fmt.Fprintln(stdout, p)
	}
	fmt.Fprintln(stdout, "each token request is logged on stderr")

	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	if err := srv.Serve(l); !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	return nil
}

// logged logs a line for each request that fake answers: the provider, the
// grant and the status. Nothing else of the request is logged: its headers
// and body hold secrets.
func logged(l *log.Logger, provider string, fake http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20)) // the fakes read no more
		r.Body = io.NopCloser(bytes.NewReader(body))
		g := grant(provider, body)
		fake.ServeHTTP(&statusWriter{ResponseWriter: w, status: func(status int) {
			l.Printf("%s grant=%s status=%d", provider, g, status)
		}}, r)
	})
}

// grant names the grant of a request to provider's fake. A Flinks request
// names its own; a value that is none of Flinks' grants is logged as
// "other", for it could be anything, a secret too.
func grant(provider string, body []byte) string {
	switch provider {
	case "fliqa":
		return "api_key"
	case "abbeycross":
		return "client_credentials"
	}
	var fields struct {
		GrantType any `json:"grant_type"`
	}
	_ = json.Unmarshal(body, &fields)
	switch fields.GrantType {
	case nil:
		return "none"
	case "client_credentials", "authorization_code", "refresh_token":
		return fields.GrantType.(string)
	}
	return "other"
}

// statusWriter tells status the status of an answer as it is written:
// before the answer goes out, so that a client that has its answer finds
// the line logged.
type statusWriter struct {
	http.ResponseWriter
	status  func(int)
	written bool
}

func (w *statusWriter) WriteHeader(status int) {
	if !w.written {
		w.written = true
		w.status(status)
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if !w.written {
		w.WriteHeader(http.StatusOK)
	}
	return w.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection, as a fake that
// drops a request does.
func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }
