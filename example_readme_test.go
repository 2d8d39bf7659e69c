package tokensource_test

// The README's snippets are copies of the examples and the test in this
// file (and of example_test.go's); readme_test.go checks that they stay so.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/fintechauth/tokensource"
	"github.com/fintechauth/tokensource/tokensourcetest"
)

func ExampleFliqaConfig_Client() {
	fliqa := tokensourcetest.NewFliqa(nil) // a local fake of Fliqa's token endpoint
	defer fliqa.Close()
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s with %s", r.Method, r.URL.Path, r.Header.Get("Authorization"))
	}))
	defer api.Close()

	cfg := &tokensource.FliqaConfig{
		APIKey:      fliqa.APIKey, // in production: os.Getenv("FLIQA_API_KEY"), say
		APISecret:   fliqa.APISecret,
		Environment: tokensource.FliqaSandbox,
		TenantSlug:  "my_slug",
		BaseURL:     fliqa.URL,
	}
	// One client for the service's lifetime; it caches and renews the token.
	client := cfg.Client(context.Background())
	for range 2 {
		resp, err := client.Get(api.URL + "/accounts")
		if err != nil {
			fmt.Println(err)
			return
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		fmt.Println(string(body))
	}
	fmt.Println("token requests:", fliqa.Requests())
	// Output:
	// GET /accounts with Bearer fliqa-access-1
	// GET /accounts with Bearer fliqa-access-1
	// token requests: 1
}

func ExampleRetryPolicy() {
	abbey := tokensourcetest.NewAbbeyCross(nil) // a local fake of AbbeyCross's token endpoint
	defer abbey.Close()
	abbey.FailNext(2, http.StatusServiceUnavailable, "") // then tokens again

	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     abbey.ClientID,
		ClientSecret: abbey.ClientSecret,
		TokenURL:     abbey.URL + "/v1/oauth/token",
		Retry: &tokensource.RetryPolicy{
			InitialInterval: 100 * time.Millisecond, // first wait
			MaxInterval:     time.Second,            // cap on one wait, jitter included
			MaxElapsedTime:  3 * time.Second,        // budget for one fetch; negative: no retries
			CoolDown:        30 * time.Second,       // first pause after a failed fetch; default MaxInterval
			MaxCoolDown:     15 * time.Minute,       // cap on the pause after failures (at most 24h)
			Notify: func(err error, wait time.Duration) { // failures no caller sees: log them
				if e, ok := errors.AsType[*tokensource.Error](err); ok {
					fmt.Println("will retry:", e.StatusCode, e.Code, e.RequestID)
				}
			},
		},
	}
	tok, err := cfg.Token(context.Background())
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.AccessToken, "after", abbey.Requests(), "requests")
	// Output:
	// will retry: 503 http_503 evt-000001
	// will retry: 503 http_503 evt-000002
	// abbeycross-access-1 after 3 requests
}

func ExampleFlinksConfig_TokenSource_saved() {
	flinks := tokensourcetest.NewFlinks(nil) // a local fake of Flinks' token endpoint
	defer flinks.Close()

	db := map[string]oauth2.Token{} // your database, by user
	cfg := &tokensource.FlinksConfig{
		ClientID:     flinks.ClientID,
		ClientSecret: flinks.ClientSecret,
		BaseURL:      flinks.URL, // omit for https://api.flinks.io
		RedirectURL:  flinks.RedirectURL,
		OnNewToken:   func(tok *oauth2.Token) { db["user-42"] = *tok }, // persist every new token
	}
	// The authorization callback brought a code; it works once.
	if _, err := cfg.Exchange(context.Background(), flinks.Code()); err != nil {
		fmt.Println(err)
		return
	}

	// Later, a source over the saved token refreshes it once it has expired.
	saved := db["user-42"]
	saved.Expiry = time.Now().Add(-time.Minute) // as if its 299 s had passed
	tok, err := cfg.TokenSource(context.Background(), &saved).Token()
	if errors.Is(err, tokensource.ErrReauthorizationRequired) {
		// Mark the connection, and keep the saved token: its refresh token
		// is replaced when the user has authorized again.
		fmt.Println("send the user through authorization again")
		return
	} else if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println(tok.AccessToken, tok.RefreshToken, "saved:", db["user-42"].AccessToken)
	// Output:
	// flinks-access-2 flinks-refresh-1 saved: flinks-access-2
}

func ExampleClientCredentialsConfig_Client() {
	abbey := tokensourcetest.NewAbbeyCross(nil)
	defer abbey.Close()
	cfg := &tokensource.ClientCredentialsConfig{
		ClientID:     abbey.ClientID,
		ClientSecret: abbey.ClientSecret,
		TokenURL:     abbey.URL + "/v1/oauth/token",
	}
	// An API that rejects the first token, as if it had been revoked early.
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if body, _ := io.ReadAll(r.Body); string(body) != `{"amount":100}` {
			w.WriteHeader(http.StatusBadRequest)
		} else if r.Header.Get("Authorization") == "Bearer abbeycross-access-1" {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	defer api.Close()

	client := cfg.Client(context.Background())
	resp, err := client.Post(api.URL+"/payments", "application/json", strings.NewReader(`{"amount":100}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	resp.Body.Close()
	fmt.Println(resp.Status, "after", abbey.Requests(), "token requests")
	// Output:
	// 200 OK after 2 token requests
}

// paymentsAPI stands in for the code a user tests in the README's testing
// section: an API client built on a config's Client.
type paymentsAPI struct {
	client *http.Client
	url    string
}

func newPaymentsAPI(client *http.Client, url string) *paymentsAPI {
	return &paymentsAPI{client: client, url: url}
}

func (p *paymentsAPI) Pay(ctx context.Context, amount int) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, p.url+"/payments",
		strings.NewReader(fmt.Sprintf(`{"amount":%d}`, amount)))
	if err != nil {
		return err
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("payments: %s", resp.Status)
	}
	return nil
}

// paymentsServer answers 200 to a request that carries a token, 401 else.
func paymentsServer(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.HasPrefix(r.Header.Get("Authorization"), "Bearer fliqa-access-") {
			w.WriteHeader(http.StatusUnauthorized)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestPaymentsClient(t *testing.T) {
	fliqa := tokensourcetest.NewFliqa(t)                 // closed when the test ends
	fliqa.FailNext(2, http.StatusServiceUnavailable, "") // then tokens again
	cfg := &tokensource.FliqaConfig{
		APIKey:      fliqa.APIKey,
		APISecret:   fliqa.APISecret,
		Environment: fliqa.Environment,
		TenantSlug:  fliqa.TenantSlug,
		BaseURL:     fliqa.URL,
		Retry:       &tokensource.RetryPolicy{InitialInterval: time.Millisecond}, // a fast test
	}
	api := newPaymentsAPI(cfg.Client(t.Context()), paymentsServer(t).URL)

	require.NoError(t, api.Pay(t.Context(), 100))
	require.NoError(t, api.Pay(t.Context(), 200))
	require.Equal(t, 3, fliqa.Requests()) // two failures, then one token for both payments
}
