// Command fetchtoken fetches an access token from a fintech token endpoint
// and prints it, for a quick curl that runs only when a token came back:
//
//	token=$(fetchtoken fliqa -base-url URL -env sandbox -tenant SLUG -raw) && curl -H "Authorization: Bearer $token" …
//
// Usage:
//
//	fetchtoken fliqa -base-url URL -env sandbox|production -tenant SLUG [-raw] [-v]
//	    credentials from FLIQA_API_KEY and FLIQA_API_SECRET
//	fetchtoken flinks [-base-url URL] [-scope S] [-code C -redirect-url U] [-raw] [-v]
//	    credentials from FLINKS_CLIENT_ID and FLINKS_CLIENT_SECRET; with -code
//	    it exchanges an authorization code, else with FLINKS_REFRESH_TOKEN it
//	    refreshes, else it uses the client_credentials grant
//	fetchtoken client-credentials -token-url URL [-raw] [-v]
//	    credentials from OAUTH_CLIENT_ID and OAUTH_CLIENT_SECRET
//	fetchtoken demo
//	    the library's story against local fakes: no account, no network
//	fetchtoken serve [-addr 127.0.0.1:8080] [-fail-status S [-fail-count N] [-retry-after V]] [-delay D]
//	    serves the three fakes, for integration tests in any language, and
//	    logs each token request on stderr; the flags script failures (the
//	    next N token requests to each fake answer S) and a delay before
//	    every answer
//	fetchtoken help [COMMAND]
//	    this help, or a command's with its flags, as fetchtoken -h and
//	    fetchtoken COMMAND -h print it
//
// Secrets come from the environment, never from flags, which land in shell
// history and ps. The token is printed on stdout as JSON (access_token,
// token_type, expiry, and expires_in, scope and refresh_token when the
// token has them), or with -raw as the access token alone. With -v, each
// retry is reported on stderr.
//
// Exit status: 0 with a token or the help asked for, 1 when the provider or
// the network failed (one line on stderr, never a secret; with -v, a line
// before it for each retry), 2 for a missing or wrong flag or variable,
// named as you typed it (no request is sent).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// usageError is a missing or wrong flag or variable: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return usageError{fmt.Sprintf(format, args...)} }

// helpText is help that was asked for: run prints it on stdout, and exits 0.
type helpText string

func (h helpText) Error() string { return string(h) }

// run is the command, with its surroundings passed in.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, getenv, stdout, stderr)
	var (
		ue usageError
		h  helpText
	)
	switch {
	case err == nil:
		return 0
	case errors.As(err, &h):
		fmt.Fprint(stdout, h)
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "fetchtoken: %s\n%s", ue.msg, usage)
		return 2
	default:
		fmt.Fprintln(stderr, "fetchtoken:", describe(err))
		return 1
	}
}

func dispatch(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	switch {
	case len(args) == 0:
		return usagef("which token endpoint?")
	case args[0] == "-h" || args[0] == "-help" || args[0] == "--help":
		return help()
	case args[0] == "help":
		switch {
		case len(args) > 2:
			return usagef("unexpected argument %q", args[2])
		case len(args) == 1 || args[1] == "help" || strings.HasPrefix(args[1], "-"):
			return help()
		}
		return dispatch(ctx, []string{args[1], "-h"}, getenv, stdout, stderr)
	}
	fs := flag.NewFlagSet("fetchtoken "+args[0], flag.ContinueOnError)
	fs.SetOutput(io.Discard) // run reports errors, and parse gives the help
	switch args[0] {
	case "demo":
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		return demo(ctx, stdout)
	case "serve":
		addr := fs.String("addr", "127.0.0.1:8080", "address to listen on")
		sc := &script{}
		sc.flags(fs)
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		if err := sc.check(fs); err != nil {
			return err
		}
		return serve(ctx, *addr, sc, stdout, stderr)
	}

	raw := fs.Bool("raw", false, "print only the access token and a newline")
	verbose := fs.Bool("v", false, "report each retry on stderr")
	retry := &tokensource.RetryPolicy{Notify: progress(stderr, verbose)}
	var (
		fetch func() (*oauth2.Token, error)
		names map[string]string // config field -> the flag or variable that set it
	)

	switch args[0] {
	case "fliqa":
		baseURL := fs.String("base-url", "", "Fliqa API base URL (required)")
		env := fs.String("env", "", "environment: sandbox or production (required)")
		tenant := fs.String("tenant", "", "tenant slug (required)")
		if err := parse(fs, args[1:], "base-url", "env", "tenant"); err != nil {
			return err
		}
		key, secret, err := secrets(getenv, "FLIQA_API_KEY", "FLIQA_API_SECRET")
		if err != nil {
			return err
		}
		cfg := &tokensource.FliqaConfig{APIKey: key, APISecret: secret, Environment: *env, TenantSlug: *tenant,
			BaseURL: *baseURL, Retry: retry}
		fetch = func() (*oauth2.Token, error) { return cfg.Token(ctx) }
		names = map[string]string{"APIKey": "FLIQA_API_KEY", "APISecret": "FLIQA_API_SECRET",
			"Environment": "-env", "TenantSlug": "-tenant", "BaseURL": "-base-url"}
	case "flinks":
		baseURL := fs.String("base-url", "https://api.flinks.io", "Flinks API base URL")
		scope := fs.String("scope", "", "scope for the client_credentials grant, e.g. client:admin")
		code := fs.String("code", "", "authorization code to exchange (needs -redirect-url)")
		redirect := fs.String("redirect-url", "", "redirect URL of the authorization request")
		if err := parse(fs, args[1:]); err != nil {
			return err
		}
		id, secret, err := secrets(getenv, "FLINKS_CLIENT_ID", "FLINKS_CLIENT_SECRET")
		if err != nil {
			return err
		}
		cfg := &tokensource.FlinksConfig{ClientID: id, ClientSecret: secret, BaseURL: *baseURL, Scope: *scope,
			RedirectURL: *redirect, Retry: retry}
		names = map[string]string{"ClientID": "FLINKS_CLIENT_ID", "ClientSecret": "FLINKS_CLIENT_SECRET",
			"BaseURL": "-base-url", "Scope": "-scope", "RedirectURL": "-redirect-url"}
		switch refresh := getenv("FLINKS_REFRESH_TOKEN"); {
		case *code != "" && *redirect == "":
			return usagef("-code needs -redirect-url")
		case *code != "":
			fetch = func() (*oauth2.Token, error) { return cfg.Exchange(ctx, *code) }
		case refresh != "":
			fetch = cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: refresh}).Token
		default:
			fetch = cfg.ClientCredentialsTokenSource(ctx).Token
		}
	case "client-credentials":
		tokenURL := fs.String("token-url", "", "token endpoint URL (required)")
		if err := parse(fs, args[1:], "token-url"); err != nil {
			return err
		}
		id, secret, err := secrets(getenv, "OAUTH_CLIENT_ID", "OAUTH_CLIENT_SECRET")
		if err != nil {
			return err
		}
		cfg := &tokensource.ClientCredentialsConfig{ClientID: id, ClientSecret: secret, TokenURL: *tokenURL, Retry: retry}
		fetch = func() (*oauth2.Token, error) { return cfg.Token(ctx) }
		names = map[string]string{"ClientID": "OAUTH_CLIENT_ID", "ClientSecret": "OAUTH_CLIENT_SECRET",
			"TokenURL": "-token-url"}
	default:
		return usagef("unknown command %q", args[0])
	}

	tok, err := fetch()
	if err != nil {
		return configError(err, names, getenv)
	}
	if *raw {
		_, err = fmt.Fprintln(stdout, tok.AccessToken)
		return err
	}
	return printToken(stdout, tok)
}

// parse parses the flags and checks that the required ones are set. For
// -h or -help it returns the command's help.
func parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return commandHelp(fs)
		}
		return usagef("%v", err)
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q", fs.Arg(0))
	}
	for _, name := range required {
		if fs.Lookup(name).Value.String() == "" {
			return usagef("-%s is required", name)
		}
	}
	return nil
}

// secrets reads the credentials from the environment.
func secrets(getenv func(string) string, idVar, secretVar string) (string, string, error) {
	for _, v := range []string{idVar, secretVar} {
		if getenv(v) == "" {
			return "", "", usagef("%s is not set", v)
		}
	}
	return getenv(idVar), getenv(secretVar), nil
}

// configError turns a config problem that the library found, before any
// request, into a usage error naming the flag or variable of the field, as
// names maps them; a variable's value is never shown. Any other error is
// returned as it is.
func configError(err error, names map[string]string, getenv func(string) string) error {
	var ce *tokensource.ConfigError
	if !errors.As(err, &ce) {
		return err
	}
	name, ok := names[ce.Field]
	switch {
	case !ok: // not a field the user sets: a fault of this command
		return err
	case strings.HasPrefix(name, "-"):
		return usagef("%s %s", name, ce.Problem)
	default:
		return usagef("%s %s", name, redact(ce.Problem, getenv(name)))
	}
}

// redact replaces secret, as it is and as Go would quote it, in s.
func redact(s, secret string) string {
	if secret == "" {
		return s
	}
	quoted := strconv.Quote(secret)
	for _, v := range []string{quoted, quoted[1 : len(quoted)-1], secret} {
		s = strings.ReplaceAll(s, v, "[redacted]")
	}
	return s
}

// progress reports each retry on stderr when *verbose is set, as the flags
// have it when the retries come.
func progress(stderr io.Writer, verbose *bool) func(error, time.Duration) {
	attempt := 0
	return func(err error, wait time.Duration) {
		attempt++
		if !*verbose {
			return
		}
		fmt.Fprintf(stderr, "fetchtoken: attempt %d failed: %s; retrying in %v\n", attempt, describe(err), wait.Round(time.Millisecond))
	}
}

// describe puts an error on one line: for a provider's answer, the status,
// code, sub code, message and request id.
func describe(err error) string {
	var e *tokensource.Error
	if !errors.As(err, &e) {
		return strings.Join(strings.Fields(strings.TrimPrefix(err.Error(), "tokensource: ")), " ")
	}
	parts := []string{fmt.Sprintf("status %d", e.StatusCode)}
	if errors.Is(err, tokensource.ErrReauthorizationRequired) {
		parts[0] = "authorization must be renewed: " + parts[0]
	}
	for _, f := range []struct{ name, value string }{
		{"code", e.Code}, {"sub code", e.SubCode}, {"message", e.Message}, {"request id", e.RequestID},
	} {
		if f.value != "" {
			parts = append(parts, f.name+" "+strings.Join(strings.Fields(f.value), " "))
		}
	}
	if u := e.Unwrap(); u != nil {
		parts = append(parts, u.Error())
	}
	if e.RetryAfter > 0 {
		parts = append(parts, "retry after "+e.RetryAfter.String())
	}
	return strings.Join(parts, ", ")
}

// printToken writes tok as one JSON object.
func printToken(w io.Writer, tok *oauth2.Token) error {
	out := struct {
		AccessToken  string `json:"access_token"`
		TokenType    string `json:"token_type"`
		Expiry       string `json:"expiry"`
		ExpiresIn    int64  `json:"expires_in,omitempty"`
		Scope        string `json:"scope,omitempty"`
		RefreshToken string `json:"refresh_token,omitempty"`
	}{
		AccessToken:  tok.AccessToken,
		TokenType:    tok.Type(),
		Expiry:       tok.Expiry.Format(time.RFC3339),
		ExpiresIn:    tok.ExpiresIn,
		Scope:        strings.Join(tokensource.Scopes(tok), " "),
		RefreshToken: tok.RefreshToken,
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
