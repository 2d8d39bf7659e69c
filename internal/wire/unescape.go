package wire

import (
	"bytes"
	"html"
	"sort"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// A text shows a secret if the secret is in one of its readings: the text
// as it is, and the text with the escapes of one escaping read, or of all
// of them (see readings). So a secret with any of its characters escaped
// is found, in either hex case, as long as the escape characters it holds
// itself are escaped too, as every escaping does to its own ('%' in
// percent-encoding, '&' in HTML). Each reading is linear in the text.

// An escaping is a set of the escapes that unescape reads.
type escaping uint8

const (
	percentEscapes escaping = 1 << iota // %XX, either hex case
	plusSpaces                          // '+' for a space, as in a URL query
	htmlRefs                            // HTML character references
	jsonEscapes                         // \n, \/, \u00e9
)

// reading is a text with some escapes read.
type reading struct {
	text    []byte
	escapes []decoded // in the order of the text
}

// decoded is one escape read: text[at:at+size] of a reading came from
// original[from:from+n].
type decoded struct{ at, size, from, n int32 }

// readings returns t read with each escaping that reads an escape in it:
// percent-encoding, and also with '+' as a space if space, HTML, JSON,
// and all but '+' at once if more than one does. t as it is is not among
// them.
func readings(t []byte, space bool) []reading {
	var out []reading
	found := escaping(0) // the escapings that read an escape in t
	for _, w := range []struct {
		c   byte
		way escaping
	}{{'%', percentEscapes}, {'&', htmlRefs}, {'\\', jsonEscapes}} {
		if bytes.IndexByte(t, w.c) >= 0 {
			if r := readEscapes(t, w.way); r.escapes != nil {
				out = append(out, r)
				found |= w.way
			}
		}
	}
	if space && bytes.IndexByte(t, '+') >= 0 {
		out = append(out, readEscapes(t, found&percentEscapes|plusSpaces)) // it reads the '+'
	}
	if found&(found-1) != 0 {
		out = append(out, readEscapes(t, found))
	}
	return out
}

// readEscapes returns t with the escapes of way read.
func readEscapes(t []byte, way escaping) reading {
	starts := "" // the bytes an escape of way starts with
	for _, w := range []struct {
		c   string
		way escaping
	}{{"%", percentEscapes}, {"+", plusSpaces}, {"&", htmlRefs}, {`\\`, jsonEscapes}} {
		if way&w.way != 0 {
			starts += w.c
		}
	}
	var r reading
	last := 0 // t[:last] is in r.text
	for i := 0; i < len(t); i++ {
		k := bytes.IndexAny(t[i:], starts)
		if k < 0 {
			break
		}
		i += k
		n, dec := unescape(t, i, way)
		if n == 0 {
			continue
		}
		if r.text == nil {
			r.text = make([]byte, 0, len(t))
		}
		r.text = append(r.text, t[last:i]...)
		r.escapes = append(r.escapes, decoded{at: int32(len(r.text)), size: int32(len(dec)), from: int32(i), n: int32(n)})
		r.text = append(r.text, dec...)
		last = i + n
		i = last - 1
	}
	if r.escapes != nil {
		r.text = append(r.text, t[last:]...)
	}
	return r
}

// span returns where the original holds what gave text[j:k], k > j: from
// the start of the escape that gave text[j], if one did, to the end of the
// one that gave text[k-1].
func (r reading) span(j, k int) [2]int {
	return [2]int{r.original(j, false), r.original(k-1, true)}
}

// original returns where text[j] is in the original, the start of the
// escape that gave it or, if end, just past that escape.
func (r reading) original(j int, end bool) int {
	e := sort.Search(len(r.escapes), func(i int) bool { return int(r.escapes[i].at) > j }) - 1
	if e < 0 {
		return j + btoi(end)
	}
	x := r.escapes[e]
	at, size, from, n := int(x.at), int(x.size), int(x.from), int(x.n)
	if j < at+size {
		return from + btoi(end)*n
	}
	return from + n + j - (at + size) + btoi(end)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// appendMatches appends to spans where text holds s, each start and end.
func appendMatches(text []byte, s string, spans [][2]int) [][2]int {
	for i := 0; ; i++ {
		j := bytes.Index(text[i:], []byte(s))
		if j < 0 {
			return spans
		}
		i += j
		spans = append(spans, [2]int{i, i + len(s)})
	}
}

// unescape returns the length of the escape of way that starts at t[i]
// and what it stands for, or 0 if none does: a percent-encoded byte
// (either hex case), '+' for a space, an HTML character reference (decimal
// or hex of any case, or named; the ';' optional where browsers read it
// without one), or a JSON escape (\uXXXX, a surrogate pair as one
// character).
func unescape(t []byte, i int, way escaping) (int, string) {
	switch t[i] {
	case '%':
		if i+2 < len(t) && way&percentEscapes != 0 {
			hi, ok1 := hexDigit(t[i+1])
			lo, ok2 := hexDigit(t[i+2])
			if ok1 && ok2 {
				return 3, byteString[hi<<4|lo]
			}
		}
	case '+':
		if way&plusSpaces != 0 {
			return 1, " "
		}
	case '&':
		if way&htmlRefs == 0 {
			return 0, ""
		}
		if i+1 < len(t) && t[i+1] == '#' {
			return numericRef(t, i)
		}
		return namedRef(t, i)
	case '\\':
		if way&jsonEscapes != 0 {
			return jsonEscape(t, i)
		}
	}
	return 0, ""
}

// byteString holds each byte as a string, so that unescaping allocates
// nothing for ASCII.
var byteString = func() (a [256]string) {
	for i := range a {
		a[i] = string([]byte{byte(i)})
	}
	return a
}()

// runeString returns r as UTF-8.
func runeString(r rune) string {
	if r < utf8.RuneSelf {
		return byteString[r]
	}
	return string(r)
}

// numericRef reads an HTML numeric character reference at t[i] ("&#43;",
// "&#x2F;", "&#X2f", leading zeros allowed) as a browser does: 0, a
// surrogate or a number past U+10FFFF is U+FFFD, and 0x80 to 0x9F are
// read as Windows-1252.
func numericRef(t []byte, i int) (int, string) {
	j, base := i+2, 10
	if j < len(t) && (t[j] == 'x' || t[j] == 'X') {
		j, base = j+1, 16
	}
	digits, x := j, 0
	for ; j < len(t); j++ {
		d, ok := hexDigit(t[j])
		if !ok || d >= base {
			break
		}
		x = min(x*base+d, utf8.MaxRune+1) // saturates: any longer number is invalid all the same
	}
	if j == digits {
		return 0, ""
	}
	if j < len(t) && t[j] == ';' {
		j++
	}
	switch r := rune(x); {
	case 0x80 <= r && r <= 0x9f:
		return j - i, html.UnescapeString("&#" + strconv.Itoa(x) + ";")
	case r == 0, utf16.IsSurrogate(r), r > utf8.MaxRune:
		return j - i, "\uFFFD"
	default:
		return j - i, runeString(r)
	}
}

// namedRef reads an HTML named character reference at t[i] ("&plus;",
// "&sol;", "&amp;", and the few a browser reads without ';', such as
// "&amp").
func namedRef(t []byte, i int) (int, string) {
	const longest = 32 // "&CounterClockwiseContourIntegral;" and a little
	j := i + 1
	for j < len(t) && j-i < longest && isAlnum(t[j]) {
		j++
	}
	if j < len(t) && t[j] == ';' {
		j++
	}
	if j == i+1 {
		return 0, ""
	}
	if dec := commonRef(t[i:j]); dec != "" { // without allocating, for the usual HTML page
		return j - i, dec
	}
	ref := string(t[i:j])
	dec := html.UnescapeString(ref) // the reference, then any letters it does not use, as they are
	if dec == ref {
		return 0, ""
	}
	return j - i, dec
}

// commonRef reads the references html.EscapeString writes, and "&nbsp;".
func commonRef(ref []byte) string {
	switch string(ref) {
	case "&amp;":
		return "&"
	case "&lt;":
		return "<"
	case "&gt;":
		return ">"
	case "&quot;":
		return `"`
	case "&apos;":
		return "'"
	case "&nbsp;":
		return "\u00a0"
	}
	return ""
}

// jsonEscape reads a JSON escape at t[i]. A lone surrogate is U+FFFD, as
// encoding/json reads it.
func jsonEscape(t []byte, i int) (int, string) {
	if i+1 >= len(t) {
		return 0, ""
	}
	if k := strings.IndexByte(`"\/bfnrt`, t[i+1]); k >= 0 {
		return 2, byteString["\"\\/\b\f\n\r\t"[k]]
	}
	r, ok := hex4(t, i)
	if !ok {
		return 0, ""
	}
	if utf16.IsSurrogate(r) {
		if r2, ok := hex4(t, i+6); ok {
			if pair := utf16.DecodeRune(r, r2); pair != utf8.RuneError {
				return 12, runeString(pair)
			}
		}
		return 6, "\uFFFD"
	}
	return 6, runeString(r)
}

// hex4 reads the \uXXXX at t[i].
func hex4(t []byte, i int) (rune, bool) {
	if i+6 > len(t) || t[i] != '\\' || t[i+1] != 'u' {
		return 0, false
	}
	var r rune
	for _, c := range t[i+2 : i+6] {
		d, ok := hexDigit(c)
		if !ok {
			return 0, false
		}
		r = r<<4 | rune(d)
	}
	return r, true
}

func hexDigit(c byte) (int, bool) {
	switch {
	case '0' <= c && c <= '9':
		return int(c - '0'), true
	case 'a' <= c && c <= 'f':
		return int(c-'a') + 10, true
	case 'A' <= c && c <= 'F':
		return int(c-'A') + 10, true
	}
	return 0, false
}

func isAlnum(c byte) bool {
	_, hex := hexDigit(c)
	return hex || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}
