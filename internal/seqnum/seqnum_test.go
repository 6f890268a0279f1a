package seqnum

import (
	"math/big"
	"strings"
	"testing"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want bool
	}{
		{"0", true},
		{"1", true},
		{"49590338271490256608559692538361571095921575989136588898", true},
		{"1" + strings.Repeat("9", 128), true},
		{"1" + strings.Repeat("9", 129), false},
		{"", false},
		{"01", false},
		{"-1", false},
		{"12a", false},
		{" 1", false},
	} {
		if got := Valid(tc.in); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.in, got, tc.want)
		}
	}
}

func TestCompareMatchesBigInt(t *testing.T) {
	nums := []string{"0", "1", "9", "10", "99", "100", "49590338271490256608559692538361571095921575989136588898",
		"49590338271490256608559692538361571095921575989136588899", "5" + strings.Repeat("0", 128)}
	for _, a := range nums {
		for _, b := range nums {
			x, _ := new(big.Int).SetString(a, 10)
			y, _ := new(big.Int).SetString(b, 10)
			if got, want := Compare(a, b), x.Cmp(y); got != want {
				t.Errorf("Compare(%s, %s) = %d, want %d", a, b, got, want)
			}
		}
	}
}

func FuzzCompare(f *testing.F) {
	f.Add("1", "2")
	f.Add("100", "99")
	f.Fuzz(func(t *testing.T, a, b string) {
		if !Valid(a) || !Valid(b) {
			return
		}
		x, _ := new(big.Int).SetString(a, 10)
		y, _ := new(big.Int).SetString(b, 10)
		if got, want := Compare(a, b), x.Cmp(y); got != want {
			t.Fatalf("Compare(%s, %s) = %d, want %d", a, b, got, want)
		}
	})
}

// validSlow is Valid's definition, byte by byte.
func validSlow(s string) bool {
	if len(s) == 0 || len(s) > MaxDigits || len(s) > 1 && s[0] == '0' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// TestValidEveryByteEveryPosition puts every byte value at every position
// of a 56-digit sequence number (seven 8-byte blocks, whatever the byte's
// place in its block) and of a 13-digit one (a block and a tail).
func TestValidEveryByteEveryPosition(t *testing.T) {
	for _, base := range []string{"49590338271490256608559692538361571095921575989136588898", "1234567890123"} {
		for i := range len(base) {
			for c := range 256 {
				s := base[:i] + string([]byte{byte(c)}) + base[i+1:]
				if got, want := Valid(s), validSlow(s); got != want {
					t.Fatalf("Valid(%q) = %v, want %v", s, got, want)
				}
			}
		}
	}
}

func FuzzValid(f *testing.F) {
	f.Add("49590338271490256608559692538361571095921575989136588898")
	f.Add("1234567:/")
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Valid(s), validSlow(s); got != want {
			t.Fatalf("Valid(%q) = %v, want %v", s, got, want)
		}
	})
}
