package utf8text

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestCheck(t *testing.T) {
	for _, ok := range []string{"", "plain", "İstanbul Σ é 日本 \U0001F600", "\uFFFD written as such"} {
		require.NoError(t, Check([]byte(ok)), ok)
	}
	for s, want := range map[string]string{
		"caf\xe9":        "byte 4 (0xe9)",                    // Latin-1
		"ab\xc3":         "byte 3 (0xc3)",                    // truncated sequence
		"\xed\xa0\x80":   "byte 1 (0xed)",                    // a UTF-16 surrogate
		"ok é \xff\xfe":  "byte 7 (0xff)",                    // after a valid multi-byte rune
		"\xc0\xaf slash": "byte 1 (0xc0) is not valid UTF-8", // overlong
	} {
		require.ErrorContains(t, Check([]byte(s)), want, "%q", s)
	}
}
