package utf8text

import (
	"fmt"
	"unicode/utf8"
)

// Check returns nil when line is valid UTF-8, else an error naming the
// first invalid byte by its 1-based column and value.
func Check(line []byte) error {
	if utf8.Valid(line) {
		return nil
	}
	for i := 0; i < len(line); {
		r, n := utf8.DecodeRune(line[i:])
		if r == utf8.RuneError && n <= 1 {
			return fmt.Errorf("byte %d (0x%02x) is not valid UTF-8: re-encode the file as UTF-8", i+1, line[i])
		}
		i += n
	}
	return nil
}
