package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"time"

	"github.com/fintechauth/tokensource/tokensourcetest"
)

// serve serves the three fakes on addr until ctx ends, and logs each token
// request on stderr. Their paths do not overlap, so one server holds them
// all.
func serve(ctx context.Context, addr string, stdout, stderr io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return usagef("-addr: %v", err)
	}
	base := "http://" + l.Addr().String()
	fliqa, flinks, abbey := tokensourcetest.NewFliqaHandler(), tokensourcetest.NewFlinksHandler(), tokensourcetest.NewAbbeyCrossHandler()
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
