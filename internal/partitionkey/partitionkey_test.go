package partitionkey

import (
	"strings"
	"testing"
)

// TestLengthAndCheck: lengths count UTF-16 code units, not bytes; the
// limit is 256 of them.
func TestLengthAndCheck(t *testing.T) {
	for _, tc := range []struct {
		key    string
		length int
		ok     bool
	}{
		{"", 0, false},
		{"a", 1, true},
		{strings.Repeat("a", 256), 256, true},
		{strings.Repeat("a", 257), 257, false},
		{strings.Repeat("é", 256), 256, true},
		{strings.Repeat("é", 257), 257, false},
		{strings.Repeat("€", 256), 256, true},
		{strings.Repeat("\U0001F600", 128), 256, true},
		{strings.Repeat("\U0001F600", 129), 258, false},
		{"k\xff", 2, false},
	} {
		if got := Length(tc.key); got != tc.length {
			t.Errorf("Length(%.20q…) = %d, want %d", tc.key, got, tc.length)
		}
		if msg := Check(tc.key); (msg == "") != tc.ok {
			t.Errorf("Check(%.20q…) = %q, want ok %v", tc.key, msg, tc.ok)
		}
	}
}
