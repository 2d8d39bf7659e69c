package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/fintechauth/tokensource/tokensourcetest"
)

// serve serves the three fakes on addr until ctx ends. Their paths do not
// overlap, so one server holds them all.
func serve(ctx context.Context, addr string, stdout io.Writer) error {
	l, err := net.Listen("tcp", addr)
	if err != nil {
		return usagef("-addr: %v", err)
	}
	base := "http://" + l.Addr().String()
	fliqa, flinks, abbey := tokensourcetest.NewFliqaHandler(), tokensourcetest.NewFlinksHandler(), tokensourcetest.NewAbbeyCrossHandler()
	mux := http.NewServeMux()
	mux.Handle("/service/auth/token/", fliqa)
	mux.Handle("/api/v1/token", flinks)
	mux.Handle("/v1/oauth/token", abbey)

	fmt.Fprintf(stdout, "serving token endpoint fakes on %s\n", base)
	fmt.Fprintf(stdout, "  fliqa:       GET %s/service/auth/token/%s/%s with Api-Key %s, Api-Secret %s\n",
		base, fliqa.Environment, fliqa.TenantSlug, fliqa.APIKey, fliqa.APISecret)
	fmt.Fprintf(stdout, "  flinks:      POST %s/api/v1/token with client_id %s, client_secret %s, redirect_uri %s\n",
		base, flinks.ClientID, flinks.ClientSecret, flinks.RedirectURL)
	fmt.Fprintf(stdout, "  abbeycross:  POST %s/v1/oauth/token with client_id %s, client_secret %s\n",
		base, abbey.ClientID, abbey.ClientSecret)

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
