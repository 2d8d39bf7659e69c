package tokensourceotel

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxText bounds every attribute and status description that carries a
// provider's text (its error code) or a config's (the identity).
const maxText = 256

// cut is what ends a text cut to maxText.
const cut = "…"

// clean returns s as a span may carry it: valid UTF-8 without control
// characters (each invalid byte or control character becomes U+FFFD, so
// that a provider's text cannot forge a line in an exporter's output), and
// at most maxText bytes, cut on a rune boundary and ended with "…". A
// string that is already so is returned as it is, without allocating.
func clean(s string) string {
	if len(s) <= maxText && utf8.ValidString(s) && !strings.ContainsFunc(s, unicode.IsControl) {
		return s
	}
	b := make([]byte, 0, maxText)
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if unicode.IsControl(r) { // utf8.RuneError, for an invalid byte, is not one
			r = utf8.RuneError
		}
		if len(b)+utf8.RuneLen(r) > maxText { // cut: make room for the mark
			for len(b) > maxText-len(cut) {
				_, n := utf8.DecodeLastRune(b)
				b = b[:len(b)-n]
			}
			return string(append(b, cut...))
		}
		b = utf8.AppendRune(b, r)
		i += size
	}
	return string(b)
}
