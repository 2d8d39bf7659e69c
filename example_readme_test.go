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
		if r.Header.Get("Authorization") == "Bearer abbeycross-access-1" {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s with %s", body, r.Header.Get("Authorization"))
	}))
	defer api.Close()

	client := cfg.Client(context.Background())
	resp, err := client.Post(api.URL+"/payments", "application/json", strings.NewReader(`{"amount":100}`))
	if err != nil {
		fmt.Println(err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	fmt.Println(resp.Status, string(body))
	fmt.Println("token requests:", abbey.Requests())
	// Output:
	// 200 OK {"amount":100} with Bearer abbeycross-access-2
	// token requests: 2
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
