package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

// TestMain lets the tests run this binary as fetchtoken itself: a real
// process, with its own arguments, environment and exit status.
func TestMain(m *testing.M) {
	if os.Getenv("FETCHTOKEN_AS_COMMAND") == "1" {
		main() // exits
	}
	flag.Parse()
	cleanup, err := setCoverDir()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	cleanup()
	os.Exit(code)
}

// coverDir is where the command writes its coverage data in a coverage run
// (go test -cover), and "" outside one.
var coverDir string

// setCoverDir sets coverDir. A binary built with coverage writes its data
// at exit to $GOCOVERDIR, and warns on stderr when that is not set. go test
// gives the test binary a directory, from which it counts the package's
// coverage: the command's data goes there too, and counts. A test binary
// run by hand without one gets a temporary directory, removed by cleanup.
func setCoverDir() (cleanup func(), err error) {
	cleanup = func() {}
	if testing.CoverMode() == "" {
		return cleanup, nil
	}
	if f := flag.Lookup("test.gocoverdir"); f != nil && f.Value.String() != "" {
		coverDir, err = filepath.Abs(f.Value.String())
		return cleanup, err
	}
	if coverDir = os.Getenv("GOCOVERDIR"); coverDir != "" {
		return cleanup, nil
	}
	if coverDir, err = os.MkdirTemp("", "fetchtoken-cover"); err != nil {
		return cleanup, err
	}
	return func() { os.RemoveAll(coverDir) }, nil
}

// command is fetchtoken run with args and the environment variables in env
// (name=value), and nothing else from this process's environment but where
// a coverage run collects its data and the race detector's options. The
// race detector's second-long pause when a process exits with status 0 is
// dropped, unless GORACE sets atexit_sleep_ms.
func command(t *testing.T, env []string, args ...string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	require.NoError(t, err)
	cmd := exec.CommandContext(t.Context(), exe, args...)
	cmd.Env = append([]string{"FETCHTOKEN_AS_COMMAND=1", "GORACE=atexit_sleep_ms=0 " + os.Getenv("GORACE")}, env...)
	if coverDir != "" {
		cmd.Env = append(cmd.Env, "GOCOVERDIR="+coverDir)
	}
	return cmd
}

func TestCoverageRunCountsTheCommand(t *testing.T) {
	if testing.CoverMode() == "" {
		t.Skip("only in a coverage run: go test -cover")
	}
	cmd := command(t, nil, "google")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	var exit *exec.ExitError
	require.ErrorAs(t, cmd.Run(), &exit)
	assert.Equal(t, 2, exit.ExitCode())
	assert.True(t, strings.HasPrefix(stderr.String(), `fetchtoken: unknown command "google"`+"\n"), stderr.String())
	assert.NotContains(t, stderr.String(), "GOCOVERDIR", "no warning from the coverage runtime")
	counters, err := filepath.Glob(filepath.Join(coverDir, fmt.Sprintf("covcounters.*.%d.*", cmd.Process.Pid)))
	require.NoError(t, err)
	assert.Len(t, counters, 1, "the command's counters are in the run's coverage data")
}

type result struct {
	code           int
	stdout, stderr string
}

// fetchtoken runs the command with args and the environment variables in
// env (name=value), and returns its exit status and output.
func fetchtoken(t *testing.T, env []string, args ...string) result {
	t.Helper()
	cmd := command(t, env, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return result{cmd.ProcessState.ExitCode(), stdout.String(), stderr.String()}
}

func fliqaEnv(f *tokensourcetest.Fliqa) []string {
	return []string{"FLIQA_API_KEY=" + f.APIKey, "FLIQA_API_SECRET=" + f.APISecret}
}

func decode(t *testing.T, stdout string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(stdout), &m), stdout)
	return m
}

func TestFliqa(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	args := []string{"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", f.TenantSlug}
	r := fetchtoken(t, fliqaEnv(f), args...)
	require.Equal(t, 0, r.code, r.stderr)
	out := decode(t, r.stdout)
	assert.Equal(t, "fliqa-access-1", out["access_token"])
	assert.Equal(t, "Bearer", out["token_type"])
	assert.Equal(t, 360.0, out["expires_in"])
	assert.Equal(t, "account_owner account_info payments", out["scope"])
	expiry, err := time.Parse(time.RFC3339, out["expiry"].(string))
	require.NoError(t, err)
	assert.WithinDuration(t, time.Now().Add(6*time.Minute), expiry, 5*time.Second)
	assert.Empty(t, r.stderr)

	r = fetchtoken(t, fliqaEnv(f), append(args, "-raw")...)
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "fliqa-access-2\n", r.stdout)
}

func TestFlinks(t *testing.T) {
	f := tokensourcetest.NewFlinks(t)
	env := []string{"FLINKS_CLIENT_ID=" + f.ClientID, "FLINKS_CLIENT_SECRET=" + f.ClientSecret}

	r := fetchtoken(t, env, "flinks", "-base-url", f.URL, "-scope", "client:admin")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "client_credentials", f.Last().Fields["grant_type"])
	assert.Equal(t, "client:admin", decode(t, r.stdout)["scope"])

	r = fetchtoken(t, env, "flinks", "-base-url", f.URL, "-code", f.Code(), "-redirect-url", f.RedirectURL)
	require.Equal(t, 0, r.code, r.stderr)
	out := decode(t, r.stdout)
	assert.Equal(t, "flinks-refresh-1", out["refresh_token"])

	r = fetchtoken(t, append(env, "FLINKS_REFRESH_TOKEN=flinks-refresh-1"), "flinks", "-base-url", f.URL, "-raw")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "flinks-access-3\n", r.stdout)
	assert.Equal(t, "refresh_token", f.Last().Fields["grant_type"])

	r = fetchtoken(t, append(env, "FLINKS_REFRESH_TOKEN=unknown-refresh-token"), "flinks", "-base-url", f.URL)
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "fetchtoken: authorization must be renewed: status 400, code invalid_grant, message The refresh token has expired or been revoked\n", r.stderr)
}

func TestClientCredentials(t *testing.T) {
	a := tokensourcetest.NewAbbeyCross(t)
	a.FailNext(2, 503, "")
	env := []string{"OAUTH_CLIENT_ID=" + a.ClientID, "OAUTH_CLIENT_SECRET=" + a.ClientSecret}
	r := fetchtoken(t, env, "client-credentials", "-token-url", a.URL+"/v1/oauth/token", "-v")
	require.Equal(t, 0, r.code, r.stderr)
	assert.Equal(t, "abbeycross-access-1", decode(t, r.stdout)["access_token"])
	lines := strings.Split(strings.TrimSpace(r.stderr), "\n")
	require.Len(t, lines, 2, "with -v, a progress line per retry")
	assert.Regexp(t, `^fetchtoken: attempt 1 failed: status 503, code http_503, message Service Unavailable, request id evt-000001; retrying in \d+ms$`, lines[0])
	assert.Regexp(t, `^fetchtoken: attempt 2 failed: status 503, .*; retrying in \d+ms$`, lines[1])
}

// A failure is one line on stderr, however many attempts it took; -v adds
// a line for each retry before it.
func TestAFailureIsOneLineUnlessVerbose(t *testing.T) {
	for _, tc := range []struct {
		name  string
		flags []string
		lines int
	}{
		{"quiet", nil, 1},
		{"verbose", []string{"-v"}, 3},
	} {
		t.Run(tc.name, func(t *testing.T) {
			a := tokensourcetest.NewAbbeyCross(t)
			a.FailNext(2, 503, "")
			a.FailNext(1, 503, "3600") // a wait beyond the fetch's budget: it gives up
			env := []string{"OAUTH_CLIENT_ID=" + a.ClientID, "OAUTH_CLIENT_SECRET=" + a.ClientSecret}
			r := fetchtoken(t, env, append([]string{"client-credentials", "-token-url", a.URL + "/v1/oauth/token"}, tc.flags...)...)
			assert.Equal(t, 1, r.code)
			assert.Equal(t, 3, a.Requests())
			assert.Empty(t, r.stdout)
			lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n")
			require.Len(t, lines, tc.lines, r.stderr)
			assert.Regexp(t, `^fetchtoken: status 503, code http_503, .*request id evt-000003, retry after 1h0m0s$`, lines[len(lines)-1])
		})
	}
}

func TestProviderErrorIsOneLineWithoutSecrets(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	r := fetchtoken(t, fliqaEnv(f), "fliqa", "-base-url", f.URL, "-env", "production", "-tenant", f.TenantSlug)
	assert.Equal(t, 1, r.code)
	assert.Empty(t, r.stdout)
	assert.Equal(t, "fetchtoken: status 403, code forbidden, sub code access_not_allowed, message Tenant with slug 'my_slug' does not have 'production' access., request id 00000000000000000000000000000001\n", r.stderr)

	r = fetchtoken(t, []string{"FLIQA_API_KEY=" + f.APIKey, "FLIQA_API_SECRET=wrong-secret-value"},
		"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", f.TenantSlug)
	assert.Equal(t, 1, r.code)
	assert.Contains(t, r.stderr, "status 401, code unauthorized, sub code not_authorized")
	assert.NotContains(t, r.stderr+r.stdout, "wrong-secret-value")
}

func TestUsageErrorsSendNothing(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	a := tokensourcetest.NewAbbeyCross(t)
	for _, tc := range []struct {
		name string
		env  []string
		args []string
		want string
	}{
		{"no command", nil, nil, "fetchtoken: which token endpoint?"},
		{"unknown command", nil, []string{"google"}, `fetchtoken: unknown command "google"`},
		{"missing secret", []string{"FLIQA_API_KEY=k"}, []string{"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", "my_slug"}, "fetchtoken: FLIQA_API_SECRET is not set"},
		{"missing flag", fliqaEnv(f), []string{"fliqa", "-base-url", f.URL, "-env", "sandbox"}, "fetchtoken: -tenant is required"},
		{"bad environment", fliqaEnv(f), []string{"fliqa", "-base-url", f.URL, "-env", "prod", "-tenant", "my_slug"}, `fetchtoken: -env must be "production" or "sandbox", not "prod"`},
		{"secret as a flag", fliqaEnv(f), []string{"fliqa", "-api-secret", "x"}, "fetchtoken: flag provided but not defined: -api-secret"},
		{"missing client id", nil, []string{"client-credentials", "-token-url", a.URL + "/v1/oauth/token"}, "fetchtoken: OAUTH_CLIENT_ID is not set"},
		{"missing token URL", []string{"OAUTH_CLIENT_ID=a", "OAUTH_CLIENT_SECRET=b"}, []string{"client-credentials"}, "fetchtoken: -token-url is required"},
		{"code without redirect", []string{"FLINKS_CLIENT_ID=a", "FLINKS_CLIENT_SECRET=b"}, []string{"flinks", "-base-url", a.URL, "-code", "c"}, "fetchtoken: -code needs -redirect-url"},
		{"help for an unknown command", nil, []string{"help", "google"}, `fetchtoken: unknown command "google"`},
		{"help for two commands", nil, []string{"help", "fliqa", "flinks"}, `fetchtoken: unexpected argument "flinks"`},
		{"serve: a failure that is not one", nil, []string{"serve", "-addr", "127.0.0.1:0", "-fail-status", "200"}, "fetchtoken: -fail-status must be 400 to 599"},
		{"serve: a count without a status", nil, []string{"serve", "-addr", "127.0.0.1:0", "-fail-count", "2"}, "fetchtoken: -fail-count and -retry-after need -fail-status"},
		{"serve: a Retry-After without a status", nil, []string{"serve", "-addr", "127.0.0.1:0", "-retry-after", "5"}, "fetchtoken: -fail-count and -retry-after need -fail-status"},
		{"serve: no failures", nil, []string{"serve", "-addr", "127.0.0.1:0", "-fail-status", "503", "-fail-count", "0"}, "fetchtoken: -fail-count must be at least 1"},
		{"serve: a bad Retry-After", nil, []string{"serve", "-addr", "127.0.0.1:0", "-fail-status", "503", "-retry-after", "soon"}, "fetchtoken: -retry-after must be seconds or an HTTP date"},
		{"serve: a negative delay", nil, []string{"serve", "-addr", "127.0.0.1:0", "-delay", "-1s"}, "fetchtoken: -delay must not be negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fetchtoken(t, tc.env, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout)
			assert.Contains(t, r.stderr, tc.want+"\n")
		})
	}
	assert.Equal(t, 0, f.Requests()+a.Requests())
}

func TestAFlagErrorIsReportedOnce(t *testing.T) {
	r := fetchtoken(t, nil, "fliqa", "-api-secret", "x")
	assert.Equal(t, 2, r.code)
	assert.Equal(t, "fetchtoken: flag provided but not defined: -api-secret\n"+usage, r.stderr)
}

func TestHelpGoesToStdout(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	everything := []string{"usage:\n  fetchtoken fliqa -base-url URL", "  fetchtoken serve [-addr 127.0.0.1:8080] [-fail-status S [-fail-count N] [-retry-after V]] [-delay D]\n",
		"  fetchtoken help [COMMAND]\n", "Exit status: 0 with a token"}
	for _, tc := range []struct {
		name string
		args []string
		want []string
	}{
		{"-h", []string{"-h"}, everything},
		{"-help", []string{"-help"}, everything},
		{"--help", []string{"--help"}, everything},
		{"help", []string{"help"}, everything},
		{"help help", []string{"help", "help"}, everything},
		{"fliqa -h", []string{"fliqa", "-h"}, []string{"usage: fetchtoken fliqa -base-url URL -env sandbox|production -tenant SLUG [-raw] [-v]\n",
			"FLIQA_API_SECRET", "flags:\n", "  -tenant string\n", "  -v\treport each retry on stderr\n"}},
		{"fliqa with its flags and -h", []string{"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", f.TenantSlug, "-h"},
			[]string{"usage: fetchtoken fliqa ", "  -tenant string\n"}},
		{"flinks -h", []string{"flinks", "-h"}, []string{"usage: fetchtoken flinks ", "FLINKS_REFRESH_TOKEN", "  -redirect-url string\n"}},
		{"client-credentials -help", []string{"client-credentials", "-help"}, []string{"usage: fetchtoken client-credentials ", "  -token-url string\n"}},
		{"demo -h", []string{"demo", "-h"}, []string{"usage: fetchtoken demo\n\nthe library's story"}},
		{"serve -h", []string{"serve", "-h"}, []string{"usage: fetchtoken serve [-addr 127.0.0.1:8080] [-fail-status S [-fail-count N] [-retry-after V]] [-delay D]\n", "  -addr string\n"}},
		{"help serve", []string{"help", "serve"}, []string{"usage: fetchtoken serve [-addr 127.0.0.1:8080] [-fail-status S [-fail-count N] [-retry-after V]] [-delay D]\n", "  -addr string\n",
			"  -fail-status int\n", "  -fail-count int\n", "  -retry-after string\n", "  -delay duration\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fetchtoken(t, fliqaEnv(f), tc.args...)
			assert.Equal(t, 0, r.code)
			assert.Empty(t, r.stderr)
			for _, want := range tc.want {
				assert.Contains(t, r.stdout, want)
			}
		})
	}
	assert.NotContains(t, fetchtoken(t, nil, "demo", "-h").stdout, "flags:", "no flags, no title")
	assert.Equal(t, fetchtoken(t, nil, "serve", "-h").stdout, fetchtoken(t, nil, "help", "serve").stdout)
	assert.Equal(t, 0, f.Requests(), "help sends nothing")
}

func TestConfigErrorsNameTheFlag(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	fl := tokensourcetest.NewFlinks(t)
	a := tokensourcetest.NewAbbeyCross(t)
	// Each fake's address without its host, which the Go dialer would take
	// for this machine: a request sent by mistake would reach the fake.
	hostless := func(e *tokensourcetest.Endpoint) string {
		u, err := url.Parse(e.URL)
		require.NoError(t, err)
		return "http://:" + u.Port()
	}
	flinksEnv := []string{"FLINKS_CLIENT_ID=" + fl.ClientID, "FLINKS_CLIENT_SECRET=" + fl.ClientSecret}
	oauthEnv := []string{"OAUTH_CLIENT_ID=" + a.ClientID, "OAUTH_CLIENT_SECRET=" + a.ClientSecret}
	fliqa := func(baseURL, env, tenant string) []string {
		return []string{"fliqa", "-base-url", baseURL, "-env", env, "-tenant", tenant}
	}
	for _, tc := range []struct {
		name  string
		env   []string
		args  []string
		flag  string // the flag the message must start with
		field string // the config field it must not name
	}{
		{"tenant with a slash", fliqaEnv(f), fliqa(f.URL, "sandbox", "a/b"), "-tenant", "TenantSlug"},
		{"tenant dot-dot", fliqaEnv(f), fliqa(f.URL, "sandbox", ".."), "-tenant", "TenantSlug"},
		{"unknown environment", fliqaEnv(f), fliqa(f.URL, "staging", "my_slug"), "-env", "Environment"},
		{"fliqa ftp base URL", fliqaEnv(f), fliqa("ftp://x", "sandbox", "my_slug"), "-base-url", "BaseURL"},
		{"fliqa base URL without a host", fliqaEnv(f), fliqa(hostless(&f.Endpoint), "sandbox", "my_slug"), "-base-url", "BaseURL"},
		{"fliqa base URL with a port alone", fliqaEnv(f), fliqa("http://:8080", "sandbox", "my_slug"), "-base-url", "BaseURL"},
		{"fliqa base URL with a query", fliqaEnv(f), fliqa(f.URL+"?tenant=x", "sandbox", "my_slug"), "-base-url", "BaseURL"},
		{"flinks base URL that does not parse", flinksEnv, []string{"flinks", "-base-url", "http://[::1"}, "-base-url", "BaseURL"},
		{"flinks base URL without a host", append(flinksEnv, "FLINKS_REFRESH_TOKEN=r"), []string{"flinks", "-base-url", hostless(&fl.Endpoint)}, "-base-url", "BaseURL"},
		{"flinks exchange with an ftp base URL", flinksEnv, []string{"flinks", "-base-url", "ftp://x", "-code", "c", "-redirect-url", fl.RedirectURL}, "-base-url", "BaseURL"},
		{"token URL with an empty query", oauthEnv, []string{"client-credentials", "-token-url", a.URL + "/v1/oauth/token?"}, "-token-url", "TokenURL"},
		{"token URL ending in a question mark", oauthEnv, []string{"client-credentials", "-token-url", "https://h/x?"}, "-token-url", "TokenURL"},
		{"token URL with a fragment", oauthEnv, []string{"client-credentials", "-token-url", a.URL + "/v1/oauth/token#x"}, "-token-url", "TokenURL"},
		{"relative token URL", oauthEnv, []string{"client-credentials", "-token-url", "/v1/oauth/token"}, "-token-url", "TokenURL"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fetchtoken(t, tc.env, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout)
			assert.Regexp(t, `^fetchtoken: `+tc.flag+` [^\n]+\n`+regexp.QuoteMeta(usage)+`$`, r.stderr)
			assert.NotContains(t, r.stderr, tc.field)
			assert.NotContains(t, r.stderr, "Config")
		})
	}
	assert.Equal(t, 0, f.Requests()+fl.Requests()+a.Requests())
}

func TestConfigErrorsNameTheVariable(t *testing.T) {
	f := tokensourcetest.NewFliqa(t)
	fl := tokensourcetest.NewFlinks(t)
	a := tokensourcetest.NewAbbeyCross(t)
	for _, tc := range []struct {
		name   string
		env    []string
		args   []string
		want   string // the variable the message must start with
		secret string // the value it must not show
	}{
		{"secret with a trailing newline", []string{"FLIQA_API_KEY=" + f.APIKey, "FLIQA_API_SECRET=" + f.APISecret + "\n"},
			[]string{"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", f.TenantSlug}, "FLIQA_API_SECRET", f.APISecret},
		{"key with a carriage return", []string{"FLIQA_API_KEY=" + f.APIKey + "\r", "FLIQA_API_SECRET=" + f.APISecret},
			[]string{"fliqa", "-base-url", f.URL, "-env", "sandbox", "-tenant", f.TenantSlug}, "FLIQA_API_KEY", f.APISecret},
		{"flinks secret with a tab", []string{"FLINKS_CLIENT_ID=" + fl.ClientID, "FLINKS_CLIENT_SECRET=\t" + fl.ClientSecret},
			[]string{"flinks", "-base-url", fl.URL}, "FLINKS_CLIENT_SECRET", fl.ClientSecret},
		{"client id with a newline", []string{"OAUTH_CLIENT_ID=" + a.ClientID + "\n", "OAUTH_CLIENT_SECRET=" + a.ClientSecret},
			[]string{"client-credentials", "-token-url", a.URL + "/v1/oauth/token"}, "OAUTH_CLIENT_ID", a.ClientSecret},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := fetchtoken(t, tc.env, tc.args...)
			assert.Equal(t, 2, r.code)
			assert.Empty(t, r.stdout)
			assert.Regexp(t, `^fetchtoken: `+tc.want+` [^\n]+\n`+regexp.QuoteMeta(usage)+`$`, r.stderr)
			assert.NotContains(t, r.stderr, tc.secret)
		})
	}
	assert.Equal(t, 0, f.Requests()+fl.Requests()+a.Requests())
}

func TestConfigError(t *testing.T) {
	names := map[string]string{"APISecret": "FLIQA_API_SECRET", "TenantSlug": "-tenant"}
	env := map[string]string{"FLIQA_API_SECRET": "s3cret\n"}
	other := errors.New("tokensource: token request failed")
	for _, tc := range []struct {
		name string
		err  error
		want error
	}{
		{"flag", &tokensource.ConfigError{Config: "FliqaConfig", Field: "TenantSlug", Problem: `must be one path segment, not "a/b"`},
			usageError{`-tenant must be one path segment, not "a/b"`}},
		{"wrapped", fmt.Errorf("fetching: %w", &tokensource.ConfigError{Config: "FliqaConfig", Field: "TenantSlug", Problem: "is required"}),
			usageError{"-tenant is required"}},
		{"variable, its value never shown", &tokensource.ConfigError{Config: "FliqaConfig", Field: "APISecret", Problem: `must not end in a newline, not "s3cret\n" (s3cret\n)`},
			usageError{"FLIQA_API_SECRET must not end in a newline, not [redacted] ([redacted])"}},
		{"field no flag sets", &tokensource.ConfigError{Config: "FliqaConfig", Field: "Retry.MaxInterval", Problem: "must not be negative"},
			&tokensource.ConfigError{Config: "FliqaConfig", Field: "Retry.MaxInterval", Problem: "must not be negative"}},
		{"not a config error", other, other},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := configError(tc.err, names, func(name string) string { return env[name] })
			assert.Equal(t, tc.want, got)
			assert.NotContains(t, got.Error(), "s3cret")
		})
	}
}

func TestDemo(t *testing.T) {
	r := fetchtoken(t, nil, "demo")
	require.Equal(t, 0, r.code, r.stderr)
	for _, want := range []string{
		"Fliqa       fliqa-access-1, Bearer, expires in 6m0s",
		"Flinks      flinks-access-1, Bearer, expires in 4m59s, refresh token flinks-refresh-1",
		"AbbeyCross  abbeycross-access-1, Bearer, expires in 1h0m0s",
		"Fliqa again: fliqa-access-1; requests to Fliqa so far: 1",
		"refreshed: flinks-access-2, refresh token still flinks-refresh-1; OnNewToken stored flinks-access-2",
		"then abbeycross-access-2, after 4 requests",
		"retry after 8h0m0s",
		"200 OK -> GET /v1/quotes authorized with \"Bearer abbeycross-access-1\"",
		"100 new tokens saved by OnNewToken;",
		"100 callers at once for a new user: 1 source made, 1 token request",
		"an idle user comes back: a new source, from the saved token saved-access-9999: 0 token requests",
	} {
		assert.Contains(t, r.stdout, want)
	}
	assert.Regexp(t, `after (0s|\d+ms) and 1 request: status 503`, r.stdout, "given up at once")
	// A busy machine may keep some users from calling within IdleTimeout:
	// their sources are dropped and made again, from the token saved, with
	// no request.
	assert.Regexp(t, `10000 users asked for a token: 1\d{4} sources made, 100 token requests \(the 100 whose`, r.stdout)
	assert.Regexp(t, `tokensource: +[1-5] upstream requests`, r.stdout, "one retry cycle for 20 callers")
	assert.Regexp(t, `oauth2.ReuseTokenSource: +\d{2,3} upstream requests`, r.stdout, "a cycle per caller")

	// Rollover: each source renews once, or twice on a slow machine. Ours
	// renews while it serves the old token, so no caller waits for a fetch;
	// x/oauth2's callers all queue behind its 150ms fetch, as ours would
	// without renewal ahead. A call that a busy machine holds up brings no
	// new token, so it does not count as waiting.
	rolls := map[string][2]int{} // source: token requests, callers who waited
	for _, m := range regexp.MustCompile(`(?m)^   (tokensource|oauth2\.ReuseTokenSourceWithExpiry): +(\d+) token requests?, `+
		`slowest call +[\d.]+ms, +(\d+) of 32 callers waited$`).FindAllStringSubmatch(r.stdout, -1) {
		requests, _ := strconv.Atoi(m[2])
		waited, _ := strconv.Atoi(m[3])
		rolls[m[1]] = [2]int{requests, waited}
	}
	require.Len(t, rolls, 2, r.stdout)
	ours, theirs := rolls["tokensource"], rolls["oauth2.ReuseTokenSourceWithExpiry"]
	assert.Contains(t, []int{2, 3}, ours[0], "token requests: the first token and one or two renewals")
	assert.Contains(t, []int{2, 3}, theirs[0], "token requests: the first token and one or two renewals")
	assert.Equal(t, 0, ours[1], "callers who waited for our renewal ahead of expiry")
	assert.Greater(t, theirs[1], 16, "callers who waited for x/oauth2's fetch: all of them")

	// A rejected token: our Transport fetches another and sends the request
	// again; x/oauth2 keeps sending the rejected one.
	assert.Regexp(t, `cfg.Client \(tokensource.Transport\): +200 200 200, 2 token requests`, r.stdout,
		"one new token after the 401")
	assert.Regexp(t, `oauth2.NewClient: +401 401 401, 1 token request: the token is kept until it expires in 1h0m0s`,
		r.stdout, "x/oauth2 keeps the rejected token")
}

func TestServe(t *testing.T) {
	base, _, cmd, _ := startServe(t)

	ctx := context.Background()
	fliqa := tokensourcetest.NewFliqa(t) // for its default credentials
	tok, err := (&tokensource.FliqaConfig{APIKey: fliqa.APIKey, APISecret: fliqa.APISecret, Environment: "sandbox",
		TenantSlug: "my_slug", BaseURL: base}).Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "fliqa-access-1", tok.AccessToken)
	flinks := tokensourcetest.NewFlinks(t)
	tok, err = (&tokensource.FlinksConfig{ClientID: flinks.ClientID, ClientSecret: flinks.ClientSecret,
		BaseURL: base}).ClientCredentialsTokenSource(ctx).Token()
	require.NoError(t, err)
	assert.Equal(t, "flinks-access-1", tok.AccessToken)
	abbey := tokensourcetest.NewAbbeyCross(t)
	tok, err = (&tokensource.ClientCredentialsConfig{ClientID: abbey.ClientID, ClientSecret: abbey.ClientSecret,
		TokenURL: base + "/v1/oauth/token"}).Token(ctx)
	require.NoError(t, err)
	assert.Equal(t, "abbeycross-access-1", tok.AccessToken)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "a clean stop")
}

// serve's flags script failures and a delay for apps in any language: here
// plain HTTP requests stand for them.
func TestServePlaysAScript(t *testing.T) {
	base, intro, cmd, stderr := startServe(t, "-fail-status", "503", "-fail-count", "2", "-retry-after", "7", "-delay", "300ms")
	assert.Contains(t, intro, "\nthe next 2 token requests to each fake answer 503 with Retry-After 7; "+
		"every answer is delayed by 300ms\n")

	flinks := tokensourcetest.NewFlinks(t) // for its credentials
	body := `{"grant_type":"client_credentials","client_id":"` + flinks.ClientID + `","client_secret":"` + flinks.ClientSecret + `"}`
	for i := range 3 {
		start := time.Now()
		resp := postResponse(t, base+"/api/v1/token", body)
		assert.GreaterOrEqual(t, time.Since(start), 300*time.Millisecond, "delayed")
		if i < 2 {
			assert.Equal(t, http.StatusServiceUnavailable, resp.status)
			assert.Equal(t, "7", resp.header.Get("Retry-After"))
			assert.JSONEq(t, `{"error":"temporarily_unavailable","error_description":"Service Unavailable"}`, resp.body)
			continue
		}
		assert.Equal(t, http.StatusOK, resp.status, resp.body)
		assert.Empty(t, resp.header.Get("Retry-After"))
		assert.Contains(t, resp.body, `"access_token":"flinks-access-1"`)
	}

	// Each fake plays the script: Fliqa's next request fails too.
	abbey := tokensourcetest.NewAbbeyCross(t)
	abbeyBody := `{"client_id":"` + abbey.ClientID + `","client_secret":"` + abbey.ClientSecret + `"}`
	resp := postResponse(t, base+"/v1/oauth/token", abbeyBody)
	assert.Equal(t, http.StatusServiceUnavailable, resp.status)
	assert.Equal(t, "7", resp.header.Get("Retry-After"))

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "a clean stop")
	assert.Regexp(t, `flinks grant=client_credentials status=503\n.*flinks grant=client_credentials status=503\n`+
		`.*flinks grant=client_credentials status=200\n.*abbeycross grant=client_credentials status=503\n$`, stderr.String())
}

func TestServeLogsEachTokenRequestWithoutSecrets(t *testing.T) {
	base, _, cmd, stderr := startServe(t)

	ctx := context.Background()
	once := &tokensource.RetryPolicy{MaxElapsedTime: -1}
	fliqa, flinks, abbey := tokensourcetest.NewFliqa(t), tokensourcetest.NewFlinks(t), tokensourcetest.NewAbbeyCross(t) // for their credentials
	fliqaCfg := &tokensource.FliqaConfig{APIKey: fliqa.APIKey, APISecret: fliqa.APISecret, Environment: "sandbox",
		TenantSlug: "my_slug", BaseURL: base, Retry: once}
	var secrets []string // everything the log must not show
	tok, err := fliqaCfg.Token(ctx)
	require.NoError(t, err)
	secrets = append(secrets, fliqa.APISecret, tok.AccessToken)
	fliqaCfg.APISecret = "wrong-fliqa-secret"
	_, err = fliqaCfg.Token(ctx)
	require.Error(t, err)
	secrets = append(secrets, fliqaCfg.APISecret)

	flinksCfg := &tokensource.FlinksConfig{ClientID: flinks.ClientID, ClientSecret: flinks.ClientSecret, BaseURL: base,
		RedirectURL: flinks.RedirectURL, Retry: once}
	tok, err = flinksCfg.ClientCredentialsTokenSource(ctx).Token()
	require.NoError(t, err)
	secrets = append(secrets, flinks.ClientSecret, tok.AccessToken)
	code := "flinks-code-77"
	exchanged, err := flinksCfg.Exchange(ctx, code)
	require.NoError(t, err)
	tok, err = flinksCfg.TokenSource(ctx, &oauth2.Token{RefreshToken: exchanged.RefreshToken}).Token()
	require.NoError(t, err)
	secrets = append(secrets, code, exchanged.AccessToken, exchanged.RefreshToken, tok.AccessToken)
	odd := "a-secret-sent-as-the-grant"
	status, _ := post(t, base+"/api/v1/token", `{"grant_type":"`+odd+`"}`)
	assert.Equal(t, 400, status)
	secrets = append(secrets, odd)

	tok, err = (&tokensource.ClientCredentialsConfig{ClientID: abbey.ClientID, ClientSecret: abbey.ClientSecret,
		TokenURL: base + "/v1/oauth/token", Retry: once}).Token(ctx)
	require.NoError(t, err)
	secrets = append(secrets, abbey.ClientSecret, tok.AccessToken)

	require.NoError(t, cmd.Process.Signal(syscall.SIGTERM))
	require.NoError(t, cmd.Wait(), "a clean stop")
	// Each line is logged before its answer goes out: all are in.
	var got []string
	for _, line := range strings.Split(strings.TrimSuffix(stderr.String(), "\n"), "\n") {
		when, rest, _ := strings.Cut(line, " ")
		_, err := time.Parse("2006/01/02", when)
		assert.NoError(t, err, "a line starts with the date and time: %q", line)
		got = append(got, rest[len("15:04:05 "):])
	}
	assert.Equal(t, []string{
		"fliqa grant=api_key status=200",
		"fliqa grant=api_key status=401",
		"flinks grant=client_credentials status=200",
		"flinks grant=authorization_code status=200",
		"flinks grant=refresh_token status=200",
		"flinks grant=other status=400",
		"abbeycross grant=client_credentials status=200",
	}, got)
	for _, secret := range secrets {
		assert.NotContains(t, stderr.String(), secret)
	}
}

// startServe starts fetchtoken serve with args on a free port, and returns
// its base URL, what it printed before serving, the command and what it
// writes to stderr, complete once it has stopped.
func startServe(t *testing.T, args ...string) (string, string, *exec.Cmd, *bytes.Buffer) {
	cmd := command(t, nil, append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
	stderr := new(bytes.Buffer)
	cmd.Stderr = stderr
	stdout, err := cmd.StdoutPipe()
	require.NoError(t, err)
	require.NoError(t, cmd.Start())
	lines := bufio.NewScanner(stdout)
	require.True(t, lines.Scan())
	base, ok := strings.CutPrefix(lines.Text(), "serving token endpoint fakes on ")
	require.True(t, ok, lines.Text())
	intro := lines.Text() + "\n"
	for lines.Scan() {
		intro += lines.Text() + "\n"
		if lines.Text() == "each token request is logged on stderr" {
			break
		}
	}
	go func() {
		for lines.Scan() {
		}
	}()
	return base, intro, cmd, stderr
}

// post sends body to url as JSON and returns the status and the body.
func post(t *testing.T, url, body string) (int, string) {
	t.Helper()
	r := postResponse(t, url, body)
	return r.status, r.body
}

type response struct {
	status int
	header http.Header
	body   string
}

// postResponse sends body to url as JSON and returns the response.
func postResponse(t *testing.T, url, body string) response {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, url, strings.NewReader(body))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return response{resp.StatusCode, resp.Header, string(b)}
}
