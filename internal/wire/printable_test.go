package wire

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
)

func TestBoundedEscapes(t *testing.T) {
	for _, tc := range []struct{ name, in, want string }{
		{"plain text", "invalid_grant: code expired", "invalid_grant: code expired"},
		{"newline", "line\nforged: ok", `line\nforged: ok`},
		{"carriage return and tab", "a\rb\tc", `a\rb\tc`},
		{"ESC", "\x1b[31mred", `\x1b[31mred`},
		{"NUL", "a\x00b", `a\x00b`},
		{"right-to-left override", "abc\u202edcba", `abc\u202edcba`},
		{"DEL and a C1 control", "a\x7fb\u009bc", `a\x7fb\u009bc`},
		{"bytes that are not UTF-8", "a\xffb\x9b[2J", `a\xffb\x9b[2J`},
		{"a real replacement character stays", "a\uFFFDb", "a\uFFFDb"},
		{"non-ASCII letters stay", "Zürich, 東京", "Zürich, 東京"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := Bounded(tc.in, 1<<10)
			assert.Equal(t, tc.want, got)
			assert.False(t, strings.ContainsFunc(got, unprintable))
		})
	}
}

func TestBounded(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		max      int
		want     string
	}{
		{"short enough", "invalid_grant", 13, "invalid_grant"},
		{"cut", "invalid_grant", 7, "invalid…[truncated]"},
		{"never inside a character", "Zürich", 2, "Z…[truncated]"},
		{"never inside an escape", "ab\ncd", 3, "ab…[truncated]"},
		{"escapes count", "a\u0085b", 7, "a\\u0085…[truncated]"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			assert.Equal(t, tc.want, Bounded(tc.in, tc.max))
		})
	}
	big := strings.Repeat("a\u0085\n\x1b[2J\r\u202e", 1<<20/10)
	got := Bounded(big, 1024)
	assert.LessOrEqual(t, len(got), 1024+len("…[truncated]"))
	assert.True(t, strings.HasSuffix(got, "…[truncated]"))
	assert.False(t, strings.ContainsFunc(got, unprintable))
	assert.True(t, utf8.ValidString(got))
}
