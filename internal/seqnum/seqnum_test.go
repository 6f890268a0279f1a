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
