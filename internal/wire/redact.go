package wire

import (
	"bytes"
	"encoding/json"
	"strconv"
	"strings"
	"unicode"
)

// Redact replaces every secret in b with "[redacted]".
func Redact(b []byte, secrets []string) []byte {
	for _, s := range secrets {
		if s != "" && bytes.Contains(b, []byte(s)) {
			b = bytes.ReplaceAll(b, []byte(s), []byte("[redacted]"))
		}
	}
	return b
}

// tokensIn returns the tokens a body carries, which an unusable 2xx
// response may do: they are secrets too.
func tokensIn(body []byte) []string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return nil
	}
	return []string{str(m, "access_token", "accessToken"), str(m, "refresh_token", "refreshToken")}
}

// Printable escapes the characters of s that could break or forge a log
// line (control characters such as newline, ESC and NUL, and other
// non-printing ones such as bidirectional overrides) the way Go quotes
// them: \n, \x1b, \x00, \u202e.
func Printable(s string) string {
	if !strings.ContainsFunc(s, unprintable) {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if unprintable(r) {
			q := strconv.QuoteRune(r)
			b.WriteString(q[1 : len(q)-1])
		} else {
			b.WriteRune(r)
		}
	}
	return b.String()
}

func unprintable(r rune) bool { return r != ' ' && !unicode.IsPrint(r) }
