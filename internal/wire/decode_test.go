package wire

import (
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

func TestParseRetryAfter(t *testing.T) {
	for _, tc := range []struct {
		name, header string
		want         time.Duration
	}{
		{"none", "", 0},
		{"seconds", "120", 2 * time.Minute},
		{"spaces", " 30 ", 30 * time.Second},
		{"a day", "86400", MaxRetryAfter},
		{"more than a day", "86401", MaxRetryAfter},
		{"milliseconds by mistake", "9999999999999", MaxRetryAfter},
		{"more digits than int64", "99999999999999999999999", MaxRetryAfter},
		{"negative", "-5", 0},
		{"very negative", "-99999999999999999999999", 0},
		{"a fraction", "1.5", 0},
		{"garbage", "soon", 0},
		// A synctest bubble's clock starts at midnight UTC, 1 January 2000.
		{"HTTP date", "Sat, 01 Jan 2000 00:01:00 GMT", time.Minute},
		{"HTTP date in the past", "Fri, 31 Dec 1999 23:59:00 GMT", 0},
		{"HTTP date years ahead", "Mon, 01 Jan 2035 00:00:00 GMT", MaxRetryAfter},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				assert.Equal(t, tc.want, ParseRetryAfter(tc.header))
			})
		})
	}
}
