package wire

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Bounded returns s fit for one log line: the characters that could break
// or forge one (control characters such as newline, ESC and NUL, other
// non-printing ones such as bidirectional overrides, and bytes that are
// not UTF-8, which some terminals read as controls) escaped the way Go
// quotes them (\n, \x1b, \x00, \u202e, \x9b), and cut to at most max
// bytes, then marked, for a provider's text may be a megabyte. It reads no
// more of s than it keeps, so its cost does not grow with s.
func Bounded(s string, max int) string {
	const cut = "…[truncated]"
	if len(s) <= max && !strings.ContainsFunc(s, unprintable) && utf8.ValidString(s) {
		return s
	}
	var b strings.Builder
	b.Grow(min(len(s), max) + len(cut))
	var buf [16]byte // an escape, without allocating
	for i, r := range s {
		var piece []byte
		switch {
		case notUTF8(s, i, r):
			piece = append(buf[:0], '\\', 'x', hexDigits[s[i]>>4], hexDigits[s[i]&15])
		case unprintable(r):
			q := strconv.AppendQuoteRune(buf[:0], r)
			piece = q[1 : len(q)-1]
		default:
			piece = append(buf[:0], s[i:i+utf8.RuneLen(r)]...)
		}
		if b.Len()+len(piece) > max {
			b.WriteString(cut)
			break
		}
		b.Write(piece)
	}
	return b.String()
}

const hexDigits = "0123456789abcdef"

// notUTF8 reports whether r, ranged over at s[i], stands for a byte that
// is not UTF-8.
func notUTF8(s string, i int, r rune) bool {
	return r == utf8.RuneError && !strings.HasPrefix(s[i:], "\uFFFD")
}

// unprintable reports whether r is a character Bounded escapes.
func unprintable(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }
