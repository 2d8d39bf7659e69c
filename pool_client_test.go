package tokensource_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/fintechauth/tokensource"
)

func get(t *testing.T, c *http.Client, req *http.Request) (int, string) {
	t.Helper()
	resp, err := c.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestPoolClient(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, only("tok-a-1"))
	m := newMaker()
	p := tokensource.NewPool(m.newSource, nil)
	t.Cleanup(p.Close)

	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, api.URL, nil)
	require.NoError(t, err)
	status, body := get(t, p.Client(t.Context(), "a"), req)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Bearer tok-a-2", body, "a 401 is sent again with a new token")
	assert.Equal(t, int32(2), api.requests.Load())

	require.True(t, p.Remove("a"))
	status, body = get(t, p.Client(t.Context(), "a"), req)
	assert.Equal(t, http.StatusOK, status)
	assert.Equal(t, "Bearer tok-a-2", body, "after a 401: the new source's second token")
	assert.Equal(t, 2, m.callsOf("a"))
}

func TestPoolTransport(t *testing.T) {
	api := newAPI(t, http.StatusUnauthorized, func(string) bool { return false })
	m := newMaker()
	p := tokensource.NewPool(m.newSource, nil)
	t.Cleanup(p.Close)
	client := &http.Client{Transport: p.Transport(nil)}

	for _, key := range []string{"a", "b", "a"} {
		req, err := http.NewRequestWithContext(tokensource.ContextWithKey(t.Context(), key), http.MethodGet, api.URL, nil)
		require.NoError(t, err)
		status, body := get(t, client, req)
		assert.Equal(t, http.StatusOK, status)
		assert.Equal(t, "Bearer tok-"+key+"-1", body)
	}
	assert.Equal(t, 2, p.Len())

	for _, ctx := range []context.Context{t.Context(), tokensource.ContextWithKey(t.Context(), 7)} {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, api.URL, strings.NewReader("body"))
		require.NoError(t, err)
		_, err = client.Do(req)
		require.ErrorContains(t, err, "tokensource: the request's context has no string key for the pool; set one with ContextWithKey")
	}
	assert.Equal(t, int32(3), api.requests.Load(), "requests without a key are not sent")
}
