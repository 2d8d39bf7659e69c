package wire

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"html"
	"math"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// The fuzz targets check these invariants: nothing panics; no secret of the
// request and no token of the body shows in any output (see shows); a body
// stays within MaxBody; a 2xx yields a token with an access token and an
// expiry after the send time, or a *Failure; a stated expiry is at most
// MaxLifetime ahead, and one value gets the same treatment in every form
// of expiry (see checkExpiryForms); Bounded leaves no control character
// and keeps to its bound. Their seed corpora, in testdata/fuzz, hold the providers' documented bodies and the cases that
// once went wrong.

func FuzzDecodeToken(f *testing.F) {
	sent := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte, lifetime int64) {
		tok, err := DecodeToken(body, sent, time.Duration(lifetime))
		if err != nil {
			if tok != nil {
				t.Fatalf("both a token and %v", err)
			}
			return
		}
		if tok.AccessToken == "" || tok.TokenType == "" {
			t.Fatalf("token without access token or type: %+v", tok)
		}
		if !tok.Expiry.After(sent) {
			t.Fatalf("expiry %v not after the send time", tok.Expiry)
		}
		if tok.ExpiresIn < 0 || tok.ExpiresIn > int64(MaxLifetime/time.Second) {
			t.Fatalf("expires_in %d", tok.ExpiresIn)
		}
		checkStatedExpiry(t, body, sent, time.Duration(lifetime), tok.Expiry)
		var m map[string]any
		_ = json.Unmarshal(body, &m)
		checked := 0
		for _, v := range m {
			if x, ok := v.(float64); ok && checked < 4 {
				checkExpiryForms(t, sent, x)
				checked++
			}
		}
	})
}

// checkStatedExpiry checks that expiry, decoded from body with lifetime,
// is lifetime (or its default) after sent, or else, stated by the body,
// at most MaxLifetime after sent.
func checkStatedExpiry(t *testing.T, body []byte, sent time.Time, lifetime time.Duration, expiry time.Time) {
	t.Helper()
	if lifetime <= 0 {
		lifetime = DefaultLifetime
	}
	other := lifetime + time.Hour
	if lifetime > 2*time.Hour {
		other = lifetime - time.Hour
	}
	tok, err := DecodeToken(body, sent, other)
	if err != nil {
		t.Fatalf("decodes with one lifetime, not with another: %v", err)
	}
	switch {
	case !tok.Expiry.Equal(expiry): // the lifetime's, so the body states none
		if !expiry.Equal(sent.Add(lifetime)) {
			t.Fatalf("expiry %v: neither stated nor the lifetime %v", expiry, lifetime)
		}
	case expiry.Sub(sent) > MaxLifetime:
		t.Fatalf("stated expiry %v more than MaxLifetime after %v", expiry, sent)
	}
}

// checkExpiryForms checks that the number x gets the same treatment in
// every form a body can state an expiry in: as absolute Unix seconds under
// each name, as a JWT's exp (ignored where the absolute form is malformed),
// as RFC 3339 where it is a time; and that expires_in x, as a number or a
// decimal string, is x seconds cut to MaxLifetime, never absent unless 0.
func checkExpiryForms(t *testing.T, sent time.Time, x float64) {
	t.Helper()
	num, _ := json.Marshal(x) // a number decoded from JSON always marshals
	decode := func(body string) (time.Time, string) {
		tok, err := DecodeToken([]byte(body), sent, 0)
		if err != nil {
			return time.Time{}, err.Error()
		}
		return tok.Expiry, ""
	}
	at, atErr := decode(`{"access_token":"a","expires":` + string(num) + `}`)
	for _, k := range []string{"expires_at", "expiresAt", "expiry"} {
		got, gotErr := decode(`{"access_token":"a","` + k + `":` + string(num) + `}`)
		if !got.Equal(at) || strings.Replace(gotErr, k, "expires", 1) != atErr {
			t.Fatalf("%s %v: %v %q, expires: %v %q", k, x, got, gotErr, at, atErr)
		}
	}
	jwtAt, jwtErr := decode(`{"access_token":"` + jwt(`{"exp":`+string(num)+`}`) + `"}`)
	switch {
	case atErr == "expires is not Unix seconds":
		if jwtErr != "" || !jwtAt.Equal(sent.Add(DefaultLifetime)) {
			t.Fatalf("JWT exp %v that is not Unix seconds: %v %q", x, jwtAt, jwtErr)
		}
	case !jwtAt.Equal(at) || jwtErr != atErr:
		t.Fatalf("JWT exp %v: %v %q, expires: %v %q", x, jwtAt, jwtErr, at, atErr)
	}
	if x > 0 && x <= maxUnix {
		rfc, rfcErr := decode(`{"access_token":"a","expires":"` + time.Unix(int64(x), 0).UTC().Format(time.RFC3339) + `"}`)
		if !rfc.Equal(at) || rfcErr != atErr {
			t.Fatalf("RFC 3339 of %v: %v %q, Unix seconds: %v %q", x, rfc, rfcErr, at, atErr)
		}
	}
	in, inErr := decode(`{"access_token":"a","expires_in":` + string(num) + `}`)
	str, strErr := decode(`{"access_token":"a","expires_in":"` + strconv.FormatFloat(x+0, 'f', -1, 64) + `"}`) // -0 as 0
	if !str.Equal(in) || strErr != inErr {
		t.Fatalf("expires_in %v: as a string %v %q, as a number %v %q", x, str, strErr, in, inErr)
	}
	switch d := time.Duration(x * float64(time.Second)); {
	case x == 0:
		if !in.Equal(sent.Add(DefaultLifetime)) {
			t.Fatalf("expires_in 0: %v %q, not absent", in, inErr)
		}
	case x < 0 || x > math.MaxInt32:
		if inErr != "expires_in is not a valid number of seconds" {
			t.Fatalf("expires_in %v: %v %q", x, in, inErr)
		}
	case d == 0:
		if inErr == "" {
			t.Fatalf("expires_in %v under a nanosecond: %v", x, in)
		}
	case !in.Equal(sent.Add(min(d, MaxLifetime))):
		t.Fatalf("expires_in %v: %v %q", x, in, inErr)
	}
}

func FuzzParseRetryAfter(f *testing.F) {
	f.Fuzz(func(t *testing.T, v string) {
		if d := ParseRetryAfter(v); d < 0 || d > MaxRetryAfter {
			t.Fatalf("ParseRetryAfter(%q) = %v", v, d)
		}
	})
}

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

func FuzzSend(f *testing.F) {
	// One loopback server for the whole target: each request says in its
	// body how to be answered, so runs share nothing.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var a answer
		if err := json.NewDecoder(r.Body).Decode(&a); err != nil {
			http.Error(w, err.Error(), http.StatusTeapot)
			return
		}
		w.Header().Set("Retry-After", a.RetryAfter)
		w.Header().Set("Content-Type", a.ContentType)
		w.WriteHeader(a.Status)
		_, _ = w.Write(a.Body)
	}))
	f.Cleanup(srv.Close)
	f.Fuzz(func(t *testing.T, status uint16, retryAfter, contentType string, body []byte, secret string, escaping []byte, at uint) {
		body, form := echo(body, secret, escaping, at)
		a := answer{Status: 200 + int(status)%400, RetryAfter: headerValue(retryAfter), ContentType: headerValue(contentType),
			Body: body, Secret: secret}
		req := &Request{URL: srv.URL, Secrets: []string{secret}}
		req.Body, _ = json.Marshal(a) // a struct of strings, bytes and an int always marshals
		sent := time.Now()
		tok, err := req.Send(t.Context(), srv.Client())
		var fail *Failure
		switch {
		case err == nil && a.Status < 300:
			if tok.AccessToken == "" || !tok.Expiry.After(sent) {
				t.Fatalf("unusable token %+v", tok)
			}
		case errors.As(err, &fail):
			if fail.Response.StatusCode != a.Status {
				t.Fatalf("status %d, Failure for %d", a.Status, fail.Response.StatusCode)
			}
			checkFailure(t, body, fail, withForm(checkable(append(bodyTokens(body), secret)), secret, form))
		default:
			t.Fatalf("status %d: token %v, error %v", a.Status, tok, err)
		}
	})
}

// answer is how FuzzSend's server answers a request: the request's body.
type answer struct {
	Status                  int
	RetryAfter, ContentType string
	Body                    []byte
	Secret                  string // sent as a real request would send it
}

// headerValue returns v without the control characters that make a
// response malformed, and so an error of the HTTP client, not a Failure.
func headerValue(v string) string {
	return strings.Map(func(r rune) rune {
		if r != '\t' && (r < ' ' || r == 0x7f) {
			return -1
		}
		return r
	}, v)
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

// echo returns body with a form of secret inserted at byte at (modulo its
// length), as a provider echoes a secret back, each character escaped as
// escaping says (see escape); and that form, if a reading finds it where
// it is: not right after an escape character or an unfinished escape
// ("\\", "%4", "&#4"), which would read the form's start with it. With no
// escaping, or no secret, body is returned as it is.
func echo(body []byte, secret string, escaping []byte, at uint) ([]byte, string) {
	if len(escaping) == 0 || secret == "" {
		return body, ""
	}
	form := escape(secret, escaping)
	i := int(at % uint(len(body)+1))
	j := i // the start of the letters and digits before the form
	for j > 0 && (unicode.IsLetter(rune(body[j-1])) || unicode.IsDigit(rune(body[j-1])) || body[j-1] == '#') {
		j--
	}
	with := slices.Concat(body[:i], []byte(form), body[i:])
	if j > 0 && strings.IndexByte(`%&\`, body[j-1]) >= 0 {
		return with, ""
	}
	return with, form
}

// escape returns s escaped as escaping says: its first byte chooses an
// escaping, and each next one (cycled) the way of each character. The
// escapings are percent-encoding; the same with '+' for a space (URL
// query); HTML references, decimal or hex ('x' or 'X', up to 3 leading
// zeros) or named where one exists; JSON \u escapes; all of them mixed.
// Each character is itself or escaped, in either hex case, except the
// escaping's own escape characters, always escaped, as every encoder does.
// Written apart from unescape, from the standards.
func escape(s string, escaping []byte) string {
	mode, ways := escaping[0]%5, escaping[min(1, len(escaping)-1):]
	var pct, plus, ref, json bool // the ways mode allows, besides the character itself
	switch mode {
	case 0:
		pct = true
	case 1:
		pct, plus = true, true
	case 2:
		ref = true
	case 3:
		json = true
	default:
		pct, ref, json = true, true, true
	}
	var b strings.Builder
	n := 0
	for i, r := range s {
		way := ways[n%len(ways)]
		n++
		c, valid := string(r), true
		if r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD") {
			c, valid = s[i:i+1], false
		}
		var options []string
		if plus && r == ' ' {
			options = append(options, "+")
		}
		if pct {
			options = append(options, percent(c, way))
		}
		if ref && valid && r != 0 && (r < 0x80 || r > 0x9f) { // else a reference reads as U+FFFD or Windows-1252
			zeros := strings.Repeat("0", int(way>>2%4))
			x := map[bool]string{false: "x", true: "X"}[way&16 != 0]
			options = append(options, fmt.Sprintf("&#%s%d;", zeros, r), fmt.Sprintf("&#%s%s;", x, mixCase(fmt.Sprintf("%s%x", zeros, r), way)))
		}
		if ref && namedRefs[r] != "" {
			options = append(options, "&"+namedRefs[r]+";")
		}
		if json && valid {
			var u strings.Builder
			for _, half := range utf16.Encode([]rune{r}) {
				fmt.Fprintf(&u, `\u%s`, mixCase(fmt.Sprintf("%04x", half), way))
			}
			options = append(options, u.String())
		}
		own := pct && (r == '%' || plus && r == '+') || ref && r == '&' || json && r == '\\'
		if len(options) == 0 || !own && way%2 == 0 {
			b.WriteString(c)
		} else {
			b.WriteString(options[int(way>>1)%len(options)])
		}
	}
	return b.String()
}

// percent returns each byte of c percent-encoded, the case of its hex
// digits chosen by the bits of way.
func percent(c string, way byte) string {
	var b strings.Builder
	for i := range len(c) {
		fmt.Fprintf(&b, "%%%s", mixCase(fmt.Sprintf("%02x", c[i]), way>>uint(i%4)))
	}
	return b.String()
}

// mixCase upper-cases the letters of hex that the bits of way choose.
func mixCase(hex string, way byte) string {
	out := []byte(hex)
	for i := range out {
		if way>>uint(i%8)&1 != 0 {
			out[i] = byte(unicode.ToUpper(rune(out[i])))
		}
	}
	return string(out)
}

// namedRefs are the HTML named references of some characters: those a
// secret of printable ASCII holds, and a few more. TestNamedRefs checks
// them against html.UnescapeString.
var namedRefs = map[rune]string{
	'!': "excl", '"': "quot", '#': "num", '$': "dollar", '%': "percnt", '&': "amp", '\'': "apos", '(': "lpar", ')': "rpar",
	'*': "ast", '+': "plus", ',': "comma", '.': "period", '/': "sol", ':': "colon", ';': "semi", '<': "lt", '=': "equals",
	'>': "gt", '?': "quest", '@': "commat", '[': "lsqb", '\\': "bsol", ']': "rsqb", '^': "Hat", '_': "lowbar", '`': "grave",
	'{': "lcub", '|': "verbar", '}': "rcub", '\t': "Tab", '\n': "NewLine", '\u00a0': "nbsp", 'é': "eacute", '€': "euro",
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
