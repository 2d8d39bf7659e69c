package tokensourceotel_test

import (
	"os"
	"regexp"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// The README's example is Example's body, so that it compiles and runs.
func TestREADMEExampleIsExample(t *testing.T) {
	body := func(file, fn string) string {
		b, err := os.ReadFile(file)
		require.NoError(t, err)
		m := regexp.MustCompile(`(?ms)^func ` + fn + `\(\) \{\n(.*?)^\}\n`).FindSubmatch(b)
		require.NotNil(t, m, "%s in %s", fn, file)
		return string(m[1])
	}
	assert.Equal(t, body("example_test.go", "Example"), body("README.md", "main"))
}
