package wire

import (
	"bytes"
	"encoding/json"
	"html"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestRedact(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		secrets    []string
		want       string
	}{
		{"raw", `{"errorMessage":"secret s3cr3t/Key+x= is not valid"}`, []string{"s3cr3t/Key+x="},
			`{"errorMessage":"secret [redacted] is not valid"}`},
		{"escaped slash, as PHP writes it", `{"text":"bad s3cr3t\/Key+x="}`, []string{"s3cr3t/Key+x="},
			`{"text":"bad [redacted]"}`},
		{"every character \\u-escaped", `{"text":"\u0073\u0033\u0063\u0072\u0033\u0074\u002f\u004b\u0065\u0079"}`, []string{"s3cr3t/Key"},
			`{"text":"[redacted]"}`},
		{"HTML-escaped, as Go writes it", `{"text":"got a\u003cb\u003e\u0026cdefg"}`, []string{"a<b>&cdefg"},
			`{"text":"got [redacted]"}`},
		{"non-ASCII escaped, as Python writes it", `{"text":"p\u00e4ssw\u00f6rd-1 \ud83d\ude00"}`, []string{"pässwörd-1 😀"},
			`{"text":"[redacted]"}`},
		{"the rest stays byte for byte", "{ \"a\" : \"x\\/y\\u0041\" ,\n \"text\":\"tok s3cr3t-value\",\"n\":1.50e3 }", []string{"s3cr3t-value"},
			"{ \"a\" : \"x\\/y\\u0041\" ,\n \"text\":\"tok [redacted]\",\"n\":1.50e3 }"},
		{"only the literal that holds a secret is re-encoded", `{"a":"\u00e9\/","b":"\u00e9\/ s3cr3t-value <"}`, []string{"s3cr3t-value"},
			`{"a":"\u00e9\/","b":"é/ [redacted] <"}`},
		{"a number", `{"parameter_value":123456,"n":91234567899}`, []string{"123456", "12345678"},
			`{"parameter_value":"[redacted]","n":"9[redacted]99"}`},
		{"true, false and null", `[true,false,null]`, []string{"true", "null"}, `["[redacted]",false,"[redacted]"]`},
		{"a long secret in a key", `{"s3cr3t-value":"x"}`, []string{"s3cr3t-value"}, `{"[redacted]":"x"}`},
		{"short secrets keep keys, codes and words", `{"error":"invalid_request","error_description":"errors: invalid-grant, it's a_s"}`,
			[]string{"error", "invalid", "a", "s"},
			`{"error":"invalid_request","error_description":"errors: invalid-grant, it'[redacted] a_s"}`},
		{"a short secret as a whole value or word", `{"code":"s","text":"use s or t","other":"s.s"}`, []string{"s"},
			`{"code":"[redacted]","text":"use [redacted] or t","other":"[redacted].[redacted]"}`},
		{"a word next to a non-ASCII letter is not whole", `{"text":"éabc abcé abc"}`, []string{"abc"}, `{"text":"éabc abcé [redacted]"}`},
		{"JSON in a string, as Flinks echoes a request", `{"error_description":"{\"refresh_token\":\"rt-1\",\"error\":\"x\"}"}`, []string{"rt-1", "error"},
			`{"error_description":"{\"refresh_token\":\"[redacted]\",\"error\":\"x\"}"}`},
		{"overlapping secrets become one", `{"text":"<abcdefghijkl>"}`, []string{"abcdefgh", "efghijkl"}, `{"text":"<[redacted]>"}`},
		{"a repeated secret", `{"text":"abcabcabcabcabc"}`, []string{"abcabcabc"}, `{"text":"[redacted]"}`},
		{"a secret with a quote", `{"text":"say \"ab\"cdefgh\""}`, []string{`ab"cdefgh`}, `{"text":"say \"[redacted]\""}`},
		{"a secret the body's escaping spells is re-encoded", `{"text":"\u0041bcdefgh","n":"x"}`, []string{"u0041bcdefgh"},
			`{"text":"Abcdefgh","n":"x"}`},
		{"a secret the body's escaping spells, even re-encoded", `{"text":"\"abcdefg"}`, []string{`\"abcdefg`}, `{"text":"[redacted]"}`},
		{"a string that is a secret in JSON", `{"text":"{\"a\":\"bcdefg\"}"}`, []string{`{"a":"bcdefg"}`}, `{"text":"[redacted]"}`},
		{"a long secret across JSON punctuation", `{"a":"xabcd","b":"efghy"}`, []string{`abcd","b":"efgh`}, `{"a":"x[redacted]y"}`},
		{"URL query escaping in a value", `{"text":"see https://x.test/?s=ab%2Bcd%3D%3Defgh"}`, []string{"ab+cd==efgh"},
			`{"text":"see https://x.test/?s=[redacted]"}`},
		{"not JSON: raw, JSON, URL and HTML escapings", `<p>ab/c&lt;d&gt;efgh ab\/c\u003cd\u003eefgh ab%2Fc%3Cd%3Eefgh ab/c<d>efgh</p>`, []string{"ab/c<d>efgh"},
			`<p>[redacted] [redacted] [redacted] [redacted]</p>`},
		{"not JSON: cut short", `{"text":"ab\/cdefgh and more`, []string{"ab/cdefgh"}, `{"text":"[redacted] and more`},
		{"not JSON: strings are decoded", `{"a":"\u0073\u0033\u0063\u0072\u0033\u0074-x","b":"\u0078\u0022 and s3cr3t-x","c":"cut`, []string{"s3cr3t-x"},
			`{"a":"[redacted]","b":"x\" and [redacted]","c":"cut`},
		{"not JSON: JSON and more", "{\"m\":\"\\u0073ecret-value\"}\n<html>\"x\n\" secret-value", []string{"secret-value"},
			"{\"m\":\"[redacted]\"}\n<html>\"x\n\" [redacted]"},
		{"not JSON: short secrets as whole words", `error: invalid code s, invalid_grant`, []string{"invalid", "s"},
			`error: [redacted] code [redacted], invalid_grant`},
		{"not JSON: part of a character is no whole word", "ڗ \x97 x", []string{"\x97"}, "ڗ [redacted] x"},
		{"not JSON: a long secret takes all of a character it is part of", "a ڗbcdefgh", []string{"\x97bcdefgh"}, "a [redacted]"},
		{"a secret that is not UTF-8, as a JSON encoder sends it", `{"text":"\ufffdsecret"}`, []string{"\xffsecret"}, `{"text":"[redacted]"}`},
		{"not JSON: bytes that are not UTF-8", "x \xff\xfesecret\xff y", []string{"\xff\xfesecret\xff"}, "x [redacted] y"},
		{"no secret found", `{"a":"b"}`, []string{"zzz", "", "c"}, `{"a":"b"}`},
		{"empty secrets", `{"a":"b"}`, []string{""}, `{"a":"b"}`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Redact([]byte(tc.body), tc.secrets)
			assert.Equal(t, tc.want, string(got))
			if json.Valid([]byte(tc.body)) {
				assert.True(t, json.Valid(got), "JSON stays JSON")
			}
		})
	}
}

func TestRedactReturnsTheSameBytesWhenNothingMatches(t *testing.T) {
	b := []byte(`{"a":"b"}`)
	assert.Same(t, &b[0], &Redact(b, []string{"zzzzzzzz", "q"})[0])
}

func TestRedactFindsEveryEscaping(t *testing.T) {
	const secret = "q8Zt+Yw/3LmN9pQr7sT="
	for _, tc := range []struct{ name, form string }{
		{"percent-encoded, lower case", "q8Zt%2bYw%2f3LmN9pQr7sT%3d"},
		{"percent-encoded, some characters", "q8Zt%2BYw/3LmN9pQr7sT%3D"},
		{"percent-encoded, every character", "%71%38%5A%74%2B%59%77%2F%33%4C%6D%4E%39%70%51%72%37%73%54%3D"},
		{"HTML decimal and hex references", "q8Zt&#43;Yw&#x2F;3LmN9pQr7sT&#61;"},
		{"HTML hex references of any case, leading zeros", "q8Zt&#X2b;Yw&#x002f;3LmN9pQr7sT&#0061;"},
		{"HTML references without ';' where no digit follows", "q8Zt&#43Yw/3LmN9pQr7sT&#x3d"},
		{"HTML named references", "q8Zt&plus;Yw&sol;3LmN9pQr7sT&equals;"},
		{"mixed", `q8Zt%2b&#89;w\/3LmN9pQr7sT&#x3D`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, body := range []string{
				`{"error":"invalid_client","error_description":"bad secret ` + tc.form + `."}`,
				`<p>bad secret ` + tc.form + `</p>`,
			} {
				got := string(Redact([]byte(body), []string{secret}))
				assert.Equal(t, strings.Replace(body, tc.form, marker, 1), got)
			}
		})
	}
	for _, tc := range []struct{ name, secret, body, want string }{
		{"a short secret as a whole word", "a+b", "use a%2bb or a&#43;b, not xa%2Bb", "use [redacted] or [redacted], not xa%2Bb"},
		{"'+' for a space", "ab cdefgh", "s=ab+cdefgh&t=ab%20cdefgh", "s=[redacted]&t=[redacted]"},
		{"a named reference to two characters", "x\u2242\u0338yzabcdefg", "x&NotEqualTilde;yzabcdefg", "[redacted]"},
		{"a '&' the secret holds, escaped or not", "a&amp;bcdefg", "a&amp;bcdefg a&amp;amp;bcdefg a%26amp;bcdefg", "[redacted] [redacted] [redacted]"},
		{"a '%' the secret holds", "%41%41%41%41", "%41%41%41%41 %2541%2541%2541%2541 AAAA", "[redacted] [redacted] AAAA"},
		{"a broken escape is text", "ab%zzcdefgh&#;", "ab%zzcdefgh&#; ab%zzcdefgh&#;", "[redacted] [redacted]"},
		{"no secret, many escapes", "q8Zt+Yw/3LmN9pQr7sT=", "q8Zt%2BYw%2F3LmN9pQr7sT %26#43; &unknown; &#; %", "q8Zt%2BYw%2F3LmN9pQr7sT %26#43; &unknown; &#; %"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, string(Redact([]byte(tc.body), []string{tc.secret})))
		})
	}
}

func TestUnescape(t *testing.T) {
	for _, tc := range []struct {
		in   string
		n    int
		want string
	}{
		{"%2b", 3, "+"}, {"%2B", 3, "+"}, {"%C3", 3, "\xc3"}, {"%2", 0, ""}, {"%g1", 0, ""},
		{"+", 1, " "},
		{"&#43;", 5, "+"}, {"&#43x", 4, "+"}, {"&#x2F;", 6, "/"}, {"&#X2f", 5, "/"}, {"&#0000000000000000043;", 22, "+"},
		{"&#0;", 4, "\uFFFD"}, {"&#xD800;", 8, "\uFFFD"}, {"&#99999999999999999999;", 23, "\uFFFD"}, {"&#128;", 6, "€"},
		{"&#;", 0, ""}, {"&#x;", 0, ""}, {"&#xg", 0, ""},
		{"&plus;", 6, "+"}, {"&sol;", 5, "/"}, {"&equals;", 8, "="}, {"&amp;", 5, "&"}, {"&AMP;", 5, "&"}, {"&amp", 4, "&"},
		{"&notit;", 7, "¬it;"}, {"&unknown;", 0, ""}, {"& ", 0, ""},
		{`\/`, 2, "/"}, {`\n`, 2, "\n"}, {`\u00E9`, 6, "é"}, {`\ud83d\ude00`, 12, "😀"}, {`\ud83d`, 6, "\uFFFD"}, {`\x`, 0, ""},
		{"a", 0, ""},
	} {
		t.Run(tc.in, func(t *testing.T) {
			n, got := unescape([]byte(tc.in), 0, percentEscapes|plusSpaces|htmlRefs|jsonEscapes)
			assert.Equal(t, tc.n, n)
			assert.Equal(t, tc.want, got)
		})
	}
}

func TestReadings(t *testing.T) {
	text := []byte(`a%2Bb &#x2F;\u00e9 %41 x+y`)
	var got []string
	for _, r := range readings(text, true) {
		got = append(got, string(r.text))
		j := bytes.IndexRune(r.text, 'é')
		if j >= 0 {
			assert.Equal(t, "\\u00e9", string(text[r.span(j, j+1)[0]:r.span(j, j+1)[1]]), "part of a character is all of its escape")
		}
	}
	assert.Equal(t, []string{`a+b &#x2F;\u00e9 A x+y`, `a%2Bb /\u00e9 %41 x+y`, `a%2Bb &#x2F;é %41 x+y`, `a+b &#x2F;\u00e9 A x y`,
		`a+b /é A x+y`}, got, "percent, HTML, JSON, URL query, all but '+'")
	assert.Empty(t, readings([]byte("plain text"), true), "nothing to read")
	assert.Len(t, readings([]byte("a+b"), false), 0, "'+' is a space only where a secret holds one")
	assert.Equal(t, [][2]int{{3, 11}}, []([2]int){readEscapes([]byte("ab %2Bcd%2B"), percentEscapes).span(3, 7)})
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct {
		name, in           string
		html, slash, ascii bool
		want               string
	}{
		{"short escapes", "\"\\\b\f\n\r\t", false, false, false, `"\"\\\b\f\n\r\t"`},
		{"other controls", "\x00\x1b\x1f\x7f", false, false, false, "\"\\u0000\\u001b\\u001f\x7f\""},
		{"html", "<>&\u2028", true, false, false, `"\u003c\u003e\u0026\u2028"`},
		{"slash", "a/b", false, true, false, `"a\/b"`},
		{"ascii", "é😀", false, false, true, `"\u00e9\ud83d\ude00"`},
		{"minimal", "<é/\u2028", false, false, false, "\"<é/\\u2028\""},
		{"bytes that are not UTF-8", "a\xffb\uFFFD", false, false, false, "\"a\\ufffdb\uFFFD\""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := quote(tc.in, tc.html, tc.slash, tc.ascii)
			assert.Equal(t, tc.want, got)
			var back string
			require.NoError(t, json.Unmarshal([]byte(got), &back))
			assert.Equal(t, string([]rune(tc.in)), back)
		})
	}
}

func TestTokensIn(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		want       []string
	}{
		{"OAuth names", `{"access_token":"at-1","refresh_token":"rt-1"}`, []string{"at-1", "rt-1"}},
		{"camelCase names, nested", `{"data":{"accessToken" : "at\/1"},"refreshToken":"rt"}`, []string{"at/1", "rt"}},
		{"an escaped name", `{"access\u005ftoken":"at-1"}`, []string{"at-1"}},
		{"every value of a repeated name", `{"access_token":"at-1","access_token":"at-2","accessToken":"at-1"}`, []string{"at-1", "at-2"}},
		{"cut short", `{"accessToken":"eyJhbGciOiJIUzI1NiJ9.eyJzdWIi`, []string{"eyJhbGciOiJIUzI1NiJ9.eyJzdWIi"}},
		{"not a value", `{"note":"access_token","access_token":7}`, nil},
		{"not JSON", `access_token=abc`, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, tokensIn([]byte(tc.body)))
		})
	}
}

func TestNewFailure(t *testing.T) {
	resp := func(retryAfter string) *http.Response {
		return &http.Response{StatusCode: 400, Header: http.Header{"Retry-After": {retryAfter}}}
	}
	t.Run("fields come from the redacted body", func(t *testing.T) {
		body := `{"errorId":"evt-1","code":"invalid_parameter","text":"client_secret ab\/cdefgh is unknown","parameter_name":"client_secret",` +
			`"parameter_value":{"given":"ab\u002fcdefgh"},"access_token":"at-12345"}`
		f := newFailure(resp("7"), []byte(body), []string{"ab/cdefgh"}, nil)
		assert.Equal(t, Fields{Code: "invalid_parameter", Message: "client_secret [redacted] is unknown", RequestID: "evt-1",
			ParameterName: "client_secret", ParameterValue: map[string]any{"given": "[redacted]"}}, f.Fields)
		assert.Equal(t, `{"errorId":"evt-1","code":"invalid_parameter","text":"client_secret [redacted] is unknown","parameter_name":"client_secret",`+
			`"parameter_value":{"given":"[redacted]"},"access_token":"[redacted]"}`, string(f.Body))
		assert.Equal(t, 7e9, float64(f.RetryAfter))
	})
	t.Run("a body that grows is cut at MaxBody, after its fields are read", func(t *testing.T) {
		body := `{"error":"invalid_request","error_description":"` + strings.Repeat("s ", MaxBody/2-40) + `"}`
		f := newFailure(resp(""), []byte(body), []string{"s"}, nil)
		assert.Equal(t, MaxBody, len(f.Body))
		assert.Equal(t, "invalid_request", f.Code)
		assert.NotContains(t, string(f.Body), " s ")
	})
}

func TestNamedRefs(t *testing.T) {
	for r, name := range namedRefs {
		assert.Equal(t, string(r), html.UnescapeString("&"+name+";"), name)
	}
}

// BenchmarkRedact measures redaction where no secret is: a usual error
// body, and 1 MiB of JSON and of an HTML page full of escapes.
func BenchmarkRedact(b *testing.B) {
	secrets := []string{"q8Zt+Yw/3LmN9pQr7sT=", "at-123"}
	for _, bc := range []struct{ name, body string }{
		{"error", `{"error":"invalid_client","error_description":"Client authentication failed (see https://docs.example/errors?code=1&x=2)"}`},
		{"1MiB JSON", `{"error":"invalid_request","error_description":"` + strings.Repeat(`lorem ipsum dolor sit amet q8 & 50% \/ `, 1<<20/40) + `"}`},
		{"1MiB HTML", strings.Repeat("<p>Bad &amp; worse: 50%25 done, see &lt;x&gt;</p>\n", 1<<20/50)},
	} {
		b.Run(bc.name, func(b *testing.B) {
			body := []byte(bc.body)
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				Redact(body, secrets)
			}
		})
	}
}
