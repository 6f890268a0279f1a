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

// Valid reports whether s is a well-formed sequence number. It checks
// eight digits at a time: a reader validates every record's sequence
// number (56 digits from Kinesis) when it claims it.
func Valid(s string) bool {
	if len(s) == 0 || len(s) > MaxDigits {
		return false
	}
	if len(s) > 1 && s[0] == '0' {
		return false
	}
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if !digits8(x) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// digits8 reports whether the eight bytes of x are all ASCII digits: each
// high nibble is 3, and each low nibble stays below 10 (adding 6 carries
// into the high nibble otherwise; with a high nibble of 3 the carry never
// crosses into the next byte).
func digits8(x uint64) bool {
	const high, threes, sixes = 0xF0F0F0F0F0F0F0F0, 0x3030303030303030, 0x0606060606060606
	return x&high == threes && (x+sixes)&high == threes
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
