package backoff

import (
	"testing"
	"time"
)

func TestLogLimitLetsTheFirstLineThroughThenOnePerInterval(t *testing.T) {
	var l LogLimit
	t0 := time.Unix(1000, 0)
	var logged []int // skipped counts of the lines let through
	// A failure every 200 ms for 25 s, as a loop without backoff would.
	for i := 0; i < 125; i++ {
		if ok, skipped, _ := l.allow(t0.Add(time.Duration(i) * 200 * time.Millisecond)); ok {
			logged = append(logged, skipped)
		}
	}
	want := []int{0, 49, 49}
	if len(logged) != len(want) {
		t.Fatalf("%d lines logged (%v), want %d", len(logged), logged, len(want))
	}
	for i := range want {
		if logged[i] != want[i] {
			t.Errorf("line %d says %d left out, want %d", i, logged[i], want[i])
		}
	}
}

func TestStreak(t *testing.T) {
	var s Streak
	t0 := time.Unix(1000, 0)
	p := Policy{Base: time.Second, Max: time.Minute}
	if s.Wait(t0) != 0 || !s.Since().IsZero() {
		t.Fatal("a new streak is not due or has a start")
	}
	n, since, wait := s.Fail(t0, p, time.Time{})
	if n != 1 || !since.Equal(t0) || wait > time.Second {
		t.Errorf("first failure: n=%d since=%v wait=%v", n, since, wait)
	}
	n, since, wait = s.Fail(t0.Add(time.Second), p, t0.Add(1500*time.Millisecond))
	if n != 2 || !since.Equal(t0) || wait > 500*time.Millisecond {
		t.Errorf("second failure: n=%d since=%v wait=%v (limit 500 ms away)", n, since, wait)
	}
	if w := s.Wait(t0.Add(1500 * time.Millisecond)); w != 0 {
		t.Errorf("due in %v at the limit", w)
	}
	s.Reset()
	if !s.Since().IsZero() || s.Wait(t0) != 0 {
		t.Error("Reset did not end the streak")
	}
}
