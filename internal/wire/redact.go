package wire

import (
	"bytes"
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// marker is what Redact puts in a secret's place.
const marker = "[redacted]"

// Redact returns b with every secret in it replaced by "[redacted]". It
// finds a secret by meaning, not by bytes alone:
//
//   - In a JSON body every string is decoded, so a secret escaped as "\/",
//     "\u00XX" or "\u003c" is found. A string value that holds a secret is
//     replaced by the JSON string of its redacted value, and so is a number,
//     true, false or null that holds one; a string value that is itself a
//     JSON object or array is redacted the same way. The rest of the body
//     stays byte for byte.
//   - In a body that is not JSON (JSON cut short at MaxBody, or followed by
//     more), the JSON strings in it are decoded and redacted the same way,
//     and then all of it is searched as text.
//   - Text, a decoded string or a body that is not JSON, is searched for a
//     secret raw and with any of its characters escaped, in either hex
//     case: percent-encoding ('+' for a space too), HTML character
//     references (decimal, hex, or named, such as "&#43;", "&#X2f;" or
//     "&plus;") and JSON escapes ("\/", "\u00e9"), one of them or all
//     mixed, as long as the escape characters the secret holds itself
//     ('%', '&', '\\') are escaped too, as an escaping does to its own.
//     One level of escaping: "%252B", a "%2B" escaped again, is not read.
//     An unfinished escape just before an escaped secret ("%4", then
//     "1%2B…") is read with the secret's first character, which hides it;
//     the secret as a JSON encoder escapes it is found even there.
//
// So that a short or common secret ("s", "error") cannot blank the rest of
// a message, a secret of 8 or more characters is redacted wherever it
// appears, and a shorter one only where it stands as a whole word (next to
// no letter, digit, '_' or '-') and not in an object key. "Wherever" covers
// object keys and the body's bytes as well as its meaning: a string whose
// escaping spells a secret is re-encoded, and a secret that runs across
// JSON punctuation is cut out there, the one case where a JSON body stops
// being JSON. Empty secrets are ignored. The result may be longer than b.
func Redact(b []byte, secrets []string) []byte {
	var r redactor
	for _, s := range secrets {
		if s != "" && !slices.ContainsFunc(r, func(o secret) bool { return o.texts[0] == s }) {
			r = append(r, newSecret(s))
		}
	}
	if len(r) == 0 {
		return b
	}
	return r.redact(b)
}

// secret is one secret Redact looks for.
type secret struct {
	texts  []string // the secret, then, if it is not UTF-8, as a JSON encoder sends it: each such byte U+FFFD
	quoted []string // the secret as JSON encoders escape it, found even after a backslash that a reading would pair with theirs
	long   bool     // redacted wherever it appears, not only as a whole word
}

func newSecret(s string) secret {
	texts := []string{s}
	if u := string([]rune(s)); u != s {
		texts = append(texts, u)
	}
	var quoted []string
	for i := range 8 {
		if q := quote(s, i&1 != 0, i&2 != 0, i&4 != 0); !slices.Contains(texts, q[1:len(q)-1]) {
			quoted = append(quoted, q[1:len(q)-1])
		}
	}
	slices.Sort(quoted)
	return secret{texts, slices.Compact(quoted), utf8.RuneCountInString(s) >= 8}
}

type redactor []secret

// redact redacts b: by meaning if it is JSON; else by the meaning of the
// JSON strings in it, then as text.
func (r redactor) redact(b []byte) []byte {
	valid := json.Valid(b)
	var out []byte
	last := 0 // b[:last] is in out
	for i := 0; i < len(b); {
		start, key := i, false
		var v, raw []byte // the token's value, and its bytes within any quotes
		switch {
		case b[i] == '"':
			if i = stringEnd(b, i); i < 0 {
				i = len(b) // no string can start after an unclosed one
				continue
			}
			var s string
			if json.Unmarshal(b[start:i], &s) != nil {
				continue // text, not a string
			}
			v, raw = []byte(s), b[start+1:i-1]
			key = valid && bytes.HasPrefix(bytes.TrimLeft(b[i:], " \t\r\n"), []byte(":"))
		case !valid || delimiter(b[i]):
			i++
			continue
		default: // a number, true, false or null
			for i < len(b) && !delimiter(b[i]) {
				i++
			}
			v, raw = b[start:i], b[start:i]
		}
		red := r.redactValue(v, key)
		if bytes.Equal(red, v) && r.spans(raw, true) == nil {
			continue
		}
		lit := quote(string(red), false, false, false)
		if r.spans([]byte(lit), true) != nil { // only escaping hid a secret
			lit = `"` + marker + `"`
		}
		out = append(append(out, b[last:start]...), lit...)
		last = i
	}
	if out != nil {
		b = append(out, b[last:]...)
	}
	return r.redactText(b, valid) // in JSON, long secrets across its punctuation
}

// stringEnd returns the end of the JSON string that starts at b[i], just
// past its closing quote, or -1 if it is not closed.
func stringEnd(b []byte, i int) int {
	for i++; i < len(b); i++ {
		switch b[i] {
		case '\\':
			i++
		case '"':
			return i + 1
		}
	}
	return -1
}

// delimiter reports whether c is JSON whitespace or punctuation.
func delimiter(c byte) bool { return strings.IndexByte(" \t\r\n{}[],:", c) >= 0 }

// redactValue redacts v, the decoded value of a JSON string, number or
// literal. In an object key (key) only long secrets are redacted; a value
// that holds a JSON object or array is redacted as JSON.
func (r redactor) redactValue(v []byte, key bool) []byte {
	if t := bytes.TrimLeft(v, " \t\r\n"); !key && len(t) > 0 && (t[0] == '{' || t[0] == '[') {
		return r.redact(v)
	}
	return r.redactText(v, key)
}

// redactText replaces the spans of t that show a secret (only a long
// secret if longOnly) with the marker; overlapping spans become one. It
// returns t itself when there are none.
func (r redactor) redactText(t []byte, longOnly bool) []byte {
	spans := r.spans(t, longOnly)
	if spans == nil {
		return t
	}
	slices.SortFunc(spans, func(a, b [2]int) int { return a[0] - b[0] })
	var out []byte
	last := 0 // t[:last] is in out
	for _, sp := range spans {
		if sp[0] > last || out == nil {
			out = append(append(out, t[last:sp[0]]...), marker...)
		}
		last = max(last, sp[1])
	}
	return append(out, t[last:]...)
}

// spans returns where t shows a secret, of a long secret only if longOnly:
// every match of a long secret in t or in a reading of it (see readings),
// and every match of a short one that is a whole word.
func (r redactor) spans(t []byte, longOnly bool) [][2]int {
	var spans, found [][2]int
	var reads []reading // t's readings, computed once, for the first secret looked for
	haveReads := false
	for i, s := range r {
		if longOnly && !s.long {
			continue
		}
		if !haveReads {
			reads, haveReads = readings(t, slices.ContainsFunc(r[i:], func(s secret) bool { return strings.Contains(s.texts[0], " ") })), true
		}
		found = found[:0]
		for _, q := range s.quoted {
			found = appendMatches(t, q, found)
		}
		for _, text := range s.texts {
			found = appendMatches(t, text, found)
			for _, rd := range reads {
				for _, sp := range appendMatches(rd.text, text, nil) {
					found = append(found, rd.span(sp[0], sp[1]))
				}
			}
		}
		for _, sp := range found {
			switch start, end := sp[0], sp[1]; {
			case s.long: // a secret that is not UTF-8 may match part of a character: take all of it
				if k := runeStart(t, end); k < end {
					_, size := utf8.DecodeRune(t[k:])
					end = k + size
				}
				spans = append(spans, [2]int{runeStart(t, start), end})
			case wholeWord(t, start, end):
				spans = append(spans, [2]int{start, end})
			}
		}
	}
	return spans
}

// wholeWord reports whether t[i:j] is whole characters with no letter,
// digit, '_' or '-' next to it.
func wholeWord(t []byte, i, j int) bool {
	if runeStart(t, i) != i || runeStart(t, j) != j {
		return false
	}
	before, _ := utf8.DecodeLastRune(t[:i])
	after, _ := utf8.DecodeRune(t[j:])
	return !wordRune(before) && !wordRune(after)
}

// runeStart returns the start of the UTF-8 character of t that t[i] is
// part of, or i if t[i] starts one or is part of none.
func runeStart(t []byte, i int) int {
	for k := 1; k < utf8.UTFMax && k <= i; k++ {
		if utf8.RuneStart(t[i-k]) {
			if _, size := utf8.DecodeRune(t[i-k:]); size > k {
				return i - k
			}
			return i
		}
	}
	return i
}

func wordRune(r rune) bool { return r == '_' || r == '-' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// quote returns s as a JSON string. Like encoding/json it escapes '"',
// '\', control characters, U+2028 and U+2029, and writes each byte that is
// not UTF-8 as \ufffd; besides, it escapes '<', '>' and '&' if html, as
// encoding/json does by default, '/' if slash, and every other non-ASCII
// character if ascii, as Python and PHP do by default.
func quote(s string, html, slash, ascii bool) string {
	const short, letter = "\"\\\b\f\n\r\t", `"\bfnrt`
	b := []byte{'"'}
	for i, r := range s {
		switch k := strings.IndexRune(short, r); {
		case k >= 0:
			b = append(b, '\\', letter[k])
		case slash && r == '/':
			b = append(b, `\/`...)
		case r < 0x20, r == '\u2028', r == '\u2029', notUTF8(s, i, r), html && strings.ContainsRune("<>&", r),
			ascii && r > 0x7f && r <= 0xffff:
			b = fmt.Appendf(b, `\u%04x`, r)
		case ascii && r > 0xffff:
			r1, r2 := utf16.EncodeRune(r)
			b = fmt.Appendf(b, `\u%04x\u%04x`, r1, r2)
		default:
			b = utf8.AppendRune(b, r)
		}
	}
	return string(append(b, '"'))
}

// tokenNames are the fields of a token response that hold a token.
var tokenNames = []string{"access_token", "accessToken", "refresh_token", "refreshToken"}

// tokenField finds a token field in a body, even one cut short or not JSON.
var tokenField = regexp.MustCompile(`"(?:` + strings.Join(tokenNames, "|") + `)"\s*:\s*"((?s:[^"\\]|\\.)*)`)

// tokensIn returns the tokens a body carries, which an unusable 2xx
// response may do: they are secrets too. A token cut short by the end of
// the body is returned as far as it goes.
func tokensIn(body []byte) []string {
	var m map[string]any
	_ = json.Unmarshal(body, &m) // finds what DecodeToken would, escaped names too
	var tokens []string
	for _, k := range tokenNames {
		if s, ok := m[k].(string); ok {
			tokens = append(tokens, s)
		}
	}
	for _, f := range tokenField.FindAllSubmatch(body, -1) {
		var s string
		if json.Unmarshal(slices.Concat([]byte(`"`), f[1], []byte(`"`)), &s) != nil {
			s = string(f[1])
		}
		tokens = append(tokens, s)
	}
	slices.Sort(tokens)
	return slices.Compact(tokens)
}
