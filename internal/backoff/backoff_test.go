package backoff

import (
	"testing"
	"time"
)

func TestDelayStaysUnderTheCeiling(t *testing.T) {
	p := Policy{Base: 100 * time.Millisecond, Max: time.Second}
	for k, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 5: time.Second, 80: time.Second} {
		if got := p.Ceiling(k); got != want {
			t.Errorf("Ceiling(%d) = %v, want %v", k, got, want)
		}
		for range 100 {
			if d := p.Delay(k); d < 0 || d > want {
				t.Fatalf("Delay(%d) = %v, outside [0, %v]", k, d, want)
			}
		}
	}
}
