package tokensource_test

import (
	"bufio"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The Go snippets of README.md and docs/*.md are copies: each is the body of
// an Example, or a whole function, of this package's tests or of
// redisstore's examples. Those compile and run with go test, so a snippet
// that matches one compiles too. Indentation is the only freedom.

// snippetSources are the test files whose functions the documents may show.
func snippetSources(t *testing.T) []string {
	files, err := filepath.Glob("*_test.go")
	require.NoError(t, err)
	return append(files, filepath.Join("redisstore", "example_test.go"))
}

// snippetDocs are the documents whose Go blocks are checked.
func snippetDocs(t *testing.T) []string {
	docs, err := filepath.Glob(filepath.Join("docs", "*.md"))
	require.NoError(t, err)
	return append([]string{"README.md"}, docs...)
}

// block is a fenced Go block of a document.
type block struct {
	line int // of the opening fence
	text string
}

// goBlocks returns the ```go blocks of the document at path.
func goBlocks(t *testing.T, path string) []block {
	f, err := os.Open(path)
	require.NoError(t, err)
	defer f.Close()
	var blocks []block
	var cur *block
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		line := sc.Text()
		fence := strings.TrimSpace(line)
		switch {
		case cur == nil && fence == "```go":
			cur = &block{line: n}
		case cur != nil && fence == "```":
			blocks = append(blocks, *cur)
			cur = nil
		case cur != nil:
			cur.text += line + "\n"
		}
	}
	require.NoError(t, sc.Err())
	require.Nil(t, cur, "%s: a ```go block is never closed", path)
	return blocks
}

// showable returns what a document may show of the Go file at path, by
// name: each Example's body ("ExampleX body") and each function whole.
func showable(t *testing.T, path string) map[string]string {
	src, err := os.ReadFile(path)
	require.NoError(t, err)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, path, src, parser.ParseComments)
	require.NoError(t, err)
	text := func(from, to token.Pos) string {
		return string(src[fset.Position(from).Offset:fset.Position(to).Offset])
	}
	out := map[string]string{}
	for _, d := range f.Decls {
		fn, ok := d.(*ast.FuncDecl)
		if !ok || fn.Body == nil {
			continue
		}
		where := path + ": " + fn.Name.Name
		out[where] = normalize(text(fn.Pos(), fn.End()))
		if strings.HasPrefix(fn.Name.Name, "Example") {
			out[where+" body"] = normalize(text(fn.Body.Lbrace+1, fn.Body.Rbrace))
		}
	}
	return out
}

// normalize drops trailing spaces and the blank lines around s, and the
// indentation its lines share.
func normalize(s string) string {
	lines := strings.Split(s, "\n")
	for i := range lines {
		lines[i] = strings.TrimRight(lines[i], " \t")
	}
	for len(lines) > 0 && lines[0] == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && lines[len(lines)-1] == "" {
		lines = lines[:len(lines)-1]
	}
	indent, first := "", true
	for _, l := range lines {
		if l == "" {
			continue
		}
		lead := l[:len(l)-len(strings.TrimLeft(l, " \t"))]
		if first {
			indent, first = lead, false
		}
		for !strings.HasPrefix(lead, indent) {
			indent = indent[:len(indent)-1]
		}
	}
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, indent)
	}
	return strings.Join(lines, "\n")
}

// match returns the name of the source that snippet is a copy of, or, if
// none, the first line where it parts from the closest source.
func match(sources map[string]string, snippet string) (name, why string) {
	got := normalize(snippet)
	best, bestLine := "", -1
	for name, src := range sources {
		if src == got {
			return name, ""
		}
		if n := sameLines(src, got); n > bestLine {
			best, bestLine = name, n
		}
	}
	if best == "" {
		return "", "no Go source to compare with"
	}
	want := strings.Split(sources[best], "\n")
	have := strings.Split(got, "\n")
	line := func(l []string) string {
		if bestLine < len(l) {
			return fmt.Sprintf("%q", l[bestLine])
		}
		return "the end"
	}
	return "", fmt.Sprintf("closest is %s, which at the snippet's line %d has %s where the snippet has %s",
		best, bestLine+1, line(want), line(have))
}

// sameLines counts the lines a and b share from the top.
func sameLines(a, b string) int {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	n := 0
	for n < len(al) && n < len(bl) && al[n] == bl[n] {
		n++
	}
	return n
}

func allShowable(t *testing.T) map[string]string {
	sources := map[string]string{}
	for _, path := range snippetSources(t) {
		for name, text := range showable(t, path) {
			sources[name] = text
		}
	}
	return sources
}

func TestDocSnippetsAreCopiesOfTestedCode(t *testing.T) {
	sources := allShowable(t)
	for _, doc := range snippetDocs(t) {
		blocks := goBlocks(t, doc)
		if doc == "README.md" {
			require.NotEmpty(t, blocks, "README.md has Go snippets; none were found")
		}
		for _, b := range blocks {
			t.Run(fmt.Sprintf("%s:%d", doc, b.line), func(t *testing.T) {
				name, why := match(sources, b.text)
				assert.NotEmpty(t, name, "the Go block at %s:%d is not a copy of an Example's body or of a "+
					"test function, so nothing proves that it compiles: make it one (%s)", doc, b.line, why)
			})
		}
	}
}

func TestSnippetCheckCatchesAnEdit(t *testing.T) {
	sources := allShowable(t)
	blocks := goBlocks(t, "README.md")
	require.NotEmpty(t, blocks)
	for _, b := range blocks {
		name, _ := match(sources, b.text)
		require.NotEmpty(t, name, "README.md:%d", b.line)

		// The mistake the README once had: a variable declared and not used.
		edited := strings.Replace(b.text, "err :=", "err, unused :=", 1)
		if edited == b.text {
			edited = b.text + "x := 1\n"
		}
		name, why := match(sources, edited)
		assert.Empty(t, name, "README.md:%d", b.line)
		assert.Contains(t, why, "closest is", "README.md:%d", b.line)

		// Indentation is free: a snippet indented inside a list still matches.
		indented := "  " + strings.ReplaceAll(b.text, "\n", "\n  ")
		name, _ = match(sources, indented)
		assert.NotEmpty(t, name, "README.md:%d", b.line)
	}
}
