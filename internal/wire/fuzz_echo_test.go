package wire

import (
	"fmt"
	"slices"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

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
