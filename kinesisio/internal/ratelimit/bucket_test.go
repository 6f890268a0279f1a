package ratelimit

import (
	"math/rand/v2"
	"testing"
	"time"
)

func TestBucketGrantsOneSecondThenDebt(t *testing.T) {
	t0 := time.Unix(1000, 0)
	const took = 10 * time.Millisecond // every call lasts this long
	q := Bucket{Rate: 100}
	steps := []struct {
		at   time.Duration // call start, since t0
		n    int64
		want time.Duration // next call due, since t0
	}{
		{0, 50, 0}, // 100 -> 50: within the first second's worth
		// 50 -> -50, charged at the call's end: due 0.5 s after it.
		{0, 100, took + 500*time.Millisecond},
		// Refilled only up to this call's start (0.51 - 0.01 s: 0 -> 0),
		// then 1000 more: a large call buys 10 s of silence.
		{took + 500*time.Millisecond, 1000, 2*took + 10500*time.Millisecond},
		{time.Hour, 10, time.Hour}, // refilled, but never above one second's worth
		{time.Hour, 100, time.Hour + took + 100*time.Millisecond},
	}
	for i, s := range steps {
		start := t0.Add(s.at)
		if got := q.Charge(start, start.Add(took), float64(s.n)); !got.Equal(t0.Add(s.want)) {
			t.Fatalf("step %d: charge(%v, %d) due at %v, want %v", i, s.at, s.n, got.Sub(t0), s.want)
		}
	}
}

// TestBucketNeverAheadOfTheService replays calls against a model of the
// service that charges each call at a random moment between its start and
// end: a call the bucket finds due must always be admitted.
func TestBucketNeverAheadOfTheService(t *testing.T) {
	const rate = 1000.0
	q := Bucket{Rate: rate}
	var srv struct {
		tokens float64
		last   time.Time
	}
	srv.tokens = rate
	now := time.Unix(1000, 0)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 2000 {
		start := now
		charged := start.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		end := charged.Add(time.Duration(rng.Int64N(int64(20 * time.Millisecond))))
		if !srv.last.IsZero() {
			srv.tokens = min(srv.tokens+charged.Sub(srv.last).Seconds()*rate, rate)
		}
		srv.last = charged
		if srv.tokens < 0 {
			t.Fatalf("call %d at %v: the service would throttle (balance %.1f)", i, start.Sub(time.Unix(1000, 0)), srv.tokens)
		}
		n := 1 + rng.Int64N(3*rate)
		srv.tokens -= float64(n)
		if due := q.Charge(start, end, float64(n)); due.After(end) {
			now = due
		} else {
			now = end
		}
	}
}
