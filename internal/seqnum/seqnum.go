// Package seqnum compares Kinesis sequence numbers.
//
// Kinesis sequence numbers are decimal strings of up to 129 digits
// (`0|([1-9]\d{0,128})`): far beyond int64, and comparing them as big.Int
// values would allocate on the hot path. Without leading zeros, a longer
// string is a larger number and strings of one length compare
// lexicographically, so no arithmetic is needed.
package seqnum

// MaxDigits is the longest sequence number Kinesis accepts.
const MaxDigits = 129

// Valid reports whether s is a well-formed sequence number.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxDigits {
		return false
	}
	if len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// Compare returns -1, 0 or +1 as a is less than, equal to or greater than b.
// Both must be valid sequence numbers.
func Compare(a, b string) int {
	switch {
	case len(a) < len(b):
		return -1
	case len(a) > len(b):
		return 1
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}
