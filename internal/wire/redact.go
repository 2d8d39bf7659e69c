package wire

import (
	"bytes"
	"encoding/json"
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
