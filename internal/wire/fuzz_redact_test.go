package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"
)

func FuzzRedact(f *testing.F) {
	f.Fuzz(func(t *testing.T, body []byte, secret1, secret2 string, escaping []byte, at uint) {
		secrets := []string{secret1, secret2}
		body, form := echo(body, secret1, escaping, at)
		in := bytes.Clone(body)
		out := Redact(body, secrets)
		if !bytes.Equal(in, body) {
			t.Fatal("the body was changed in place")
		}
		checkBody(t, body, out, withForm(checkable(secrets), secret1, form))
		if secret1 == "" && secret2 == "" && !bytes.Equal(out, body) {
			t.Fatalf("nothing to redact, yet %q became %q", body, out)
		}
		if json.Valid(body) && !json.Valid(out) && !acrossPunctuation(secrets) {
			t.Fatalf("JSON %q became %q", body, out)
		}
	})
}

func FuzzFailure(f *testing.F) {
	f.Fuzz(func(t *testing.T, status int, retryAfter string, body []byte, secret1, secret2 string, escaping []byte, at uint) {
		body, form := echo(body, secret1, escaping, at)
		resp := &http.Response{StatusCode: status, Header: http.Header{"Retry-After": {retryAfter}}}
		fail := newFailure(resp, body, []string{secret1, secret2}, nil)
		checkFailure(t, body, fail, withForm(checkable(append(bodyTokens(body), secret1, secret2)), secret1, form))
	})
}

// bodyTokens returns the tokens DecodeToken would read from body.
func bodyTokens(body []byte) []string {
	var m map[string]any
	_ = json.Unmarshal(body, &m)
	var tokens []string
	for _, k := range []string{"access_token", "accessToken", "refresh_token", "refreshToken"} {
		if s, ok := m[k].(string); ok {
			tokens = append(tokens, s)
		}
	}
	return tokens
}

// checkFailure checks that f, for a response with body raw, shows none of
// the watched secrets and keeps its body within MaxBody, and that
// Bounded leaves nothing in its texts to forge a log line with.
func checkFailure(t *testing.T, raw []byte, f *Failure, watch []watched) {
	t.Helper()
	if len(f.Body) > MaxBody {
		t.Fatalf("body of %d bytes", len(f.Body))
	}
	if f.RetryAfter < 0 || f.RetryAfter > MaxRetryAfter {
		t.Fatalf("RetryAfter %v", f.RetryAfter)
	}
	if len(f.Body) < MaxBody { // a body cut short may end in part of a word
		checkBody(t, raw, f.Body, watch)
	}
	v := f.Fields
	fields := []string{v.Code, v.SubCode, v.Message, v.RequestID, v.ResourceID, v.DocumentationURL, v.ParameterName}
	for _, s := range fields {
		checkValue(t, s, watch)
	}
	switch p := v.ParameterValue.(type) {
	case map[string]any, []any:
		b, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		checkJSON(t, b, watch, false) // in meaning only: Marshal escapes its own way
	default:
		checkValue(t, fmt.Sprint(p), watch)
	}
	for _, s := range append(fields, f.Error(), fmt.Sprint(v.ParameterValue), string(f.Body)) {
		if p := Bounded(s, 64); strings.ContainsFunc(p, unprintable) || !utf8.ValidString(p) || len(p) > 64+len("…[truncated]") {
			t.Fatalf("Bounded(%q, 64) = %q", s, p)
		}
	}
}

// checkBody checks that out, what Redact returned for body, shows none of
// secrets: if it is JSON, neither in its bytes nor in what it means, else
// nowhere in its text.
func checkBody(t *testing.T, body, out []byte, secrets []watched) {
	t.Helper()
	switch {
	case json.Valid(out):
		checkJSON(t, out, secrets, true)
	case json.Valid(body): // a long secret across JSON punctuation broke it
		checkText(t, string(out), secrets, true)
	default:
		checkText(t, string(out), secrets, false)
	}
}

// checkJSON checks that the JSON b shows no secret in any decoded value,
// nor a long one in a key or, if inBytes, in its bytes.
func checkJSON(t *testing.T, b []byte, secrets []watched, inBytes bool) {
	t.Helper()
	if inBytes {
		checkText(t, string(b), secrets, true)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var open []byte // for each open object or array: 'k' before a key, 'v' before a value, 'a' an array
	valueDone := func() {
		if n := len(open); n > 0 && open[n-1] == 'v' {
			open[n-1] = 'k'
		}
	}
	for {
		tok, err := dec.Token()
		if err != nil {
			return
		}
		switch tok := tok.(type) {
		case json.Delim:
			switch tok {
			case '{':
				open = append(open, 'k')
			case '[':
				open = append(open, 'a')
			default:
				open = open[:len(open)-1]
				valueDone()
			}
		case string:
			if n := len(open); n > 0 && open[n-1] == 'k' {
				checkText(t, tok, secrets, true)
				open[n-1] = 'v'
			} else {
				checkValue(t, tok, secrets)
				valueDone()
			}
		case nil:
			checkValue(t, "null", secrets)
			valueDone()
		default:
			checkValue(t, fmt.Sprint(tok), secrets)
			valueDone()
		}
	}
}

// checkValue checks a decoded JSON value, which is itself JSON if it looks
// like an object or array and is one.
func checkValue(t *testing.T, v string, secrets []watched) {
	t.Helper()
	if s := strings.TrimLeft(v, " \t\r\n"); s != "" && (s[0] == '{' || s[0] == '[') && json.Valid([]byte(v)) {
		checkJSON(t, []byte(v), secrets, true)
		return
	}
	checkText(t, v, secrets, false)
}

// checkText checks that text shows no secret (no long secret, if
// longOnly): a long secret in none of the escapings Redact handles, a short
// one as no whole word, except where it overlaps or touches a "[redacted]".
func checkText(t *testing.T, text string, secrets []watched, longOnly bool) {
	t.Helper()
	for _, w := range secrets {
		if longOnly && !w.long {
			continue
		}
		for _, form := range w.forms {
			for i := 0; ; i++ {
				j := strings.Index(text[i:], form)
				if j < 0 {
					break
				}
				i += j
				if (w.long || wholeWord([]byte(text), i, i+len(form))) && !nearMarker(text, i, i+len(form)) {
					t.Fatalf("secret %q shows as %q at %d in %q", w.secret, form, i, text)
				}
			}
		}
	}
}

// forms returns the forms secret s takes when a provider sends it back,
// worked out apart from Redact's own list: raw; with each byte that is not
// UTF-8 as U+FFFD; as encoding/json encodes it with and without HTML
// escaping, each also with "\/" and with \u escapes of non-ASCII as in
// Python and PHP; URL query and path escaped; HTML escaped.
func forms(s string) []string {
	goJSON, _ := json.Marshal(s) // a string always marshals
	var plain bytes.Buffer
	enc := json.NewEncoder(&plain)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s)
	out := []string{s, string([]rune(s)), url.QueryEscape(s), url.PathEscape(s), html.EscapeString(s)}
	for _, q := range []string{string(goJSON), strings.TrimSuffix(plain.String(), "\n")} {
		q = q[1 : len(q)-1]
		for _, j := range []string{q, strings.ReplaceAll(q, "/", `\/`)} {
			var ascii strings.Builder
			for _, r := range j {
				if r < utf8.RuneSelf {
					ascii.WriteRune(r)
					continue
				}
				for _, u := range utf16.Encode([]rune{r}) {
					fmt.Fprintf(&ascii, `\u%04x`, u)
				}
			}
			out = append(out, j, ascii.String())
		}
	}
	return out
}

// nearMarker reports whether text[i:j] overlaps or touches a "[redacted]".
func nearMarker(text string, i, j int) bool {
	for k := 0; ; k++ {
		m := strings.Index(text[k:], marker)
		if m < 0 || k+m > j {
			return false
		}
		if k += m; k+len(marker) >= i {
			return true
		}
	}
}

// watched is a secret the checks look for.
type watched struct {
	secret string
	long   bool     // of 8 or more characters
	forms  []string // see forms
}

// checkable returns the secrets whose absence can be checked: the
// non-empty ones, without the short ones if a long one may run across
// JSON punctuation, where cutting it out may turn JSON into text in which
// short secrets rightly remain.
func checkable(secrets []string) []watched {
	var out []watched
	for _, s := range secrets {
		long := utf8.RuneCountInString(s) >= 8
		if s != "" && (long || !acrossPunctuation(secrets)) {
			out = append(out, watched{s, long, forms(s)})
		}
	}
	return out
}

// acrossPunctuation reports whether a long secret could run across JSON
// punctuation, where Redact cuts it out of the bytes and may break the
// JSON.
func acrossPunctuation(secrets []string) bool {
	return slices.ContainsFunc(secrets, func(s string) bool {
		return utf8.RuneCountInString(s) >= 8 && strings.ContainsAny(s, "\"{}[],: \t\r\n")
	})
}

// withForm returns watch with form added to the forms of secret.
func withForm(watch []watched, secret, form string) []watched {
	for i := range watch {
		if watch[i].secret == secret && form != "" {
			watch[i].forms = append(slices.Clip(watch[i].forms), form)
		}
	}
	return watch
}
