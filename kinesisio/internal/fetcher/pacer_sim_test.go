package fetcher

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"
)

// pacerSim is the outcome of simulating one caught-up shard polled by the
// pacer: Poisson arrivals at a fixed rate on a simulated clock, every
// call taking the same time and seeing the records that arrived before
// it started.
type pacerSim struct {
	rate          float64 // records per second put on the shard
	calls         int
	records       int
	seconds       float64
	p50, p99, max time.Duration // lag from a record's arrival to the end of the call that fetched it
}

func (s pacerSim) callsPerSecond() float64 { return float64(s.calls) / s.seconds }

func (s pacerSim) recordsPerCall() float64 { return float64(s.records) / float64(s.calls) }

// simulatePacer polls a caught-up shard receiving Poisson arrivals at
// rate records/s for span of simulated time, each call starting when the
// quota's floor and the pacer's gap allow (as poll does) and lasting
// callTime.
func simulatePacer(rate float64, span, callTime, floor, bound time.Duration, seed uint64) pacerSim {
	rng := rand.New(rand.NewPCG(seed, math.Float64bits(rate)))
	nextArrival := func(after time.Duration) time.Duration {
		if rate <= 0 {
			return math.MaxInt64
		}
		return after + time.Duration(rng.ExpFloat64()/rate*float64(time.Second))
	}
	p := pacer{bound: bound, floor: floor}
	epoch := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	var lags []time.Duration
	arrival := nextArrival(0)
	out := pacerSim{rate: rate, seconds: span.Seconds()}
	for start := time.Duration(0); start < span; {
		n := 0
		for ; arrival <= start; arrival = nextArrival(arrival) {
			lags = append(lags, start+callTime-arrival)
			n++
		}
		out.calls++
		out.records += n
		next := start + floor
		if gap := p.after(epoch.Add(start), n, n >= MaxRecordsPerCall, 0); gap > 0 {
			next = max(next, start+gap)
		}
		start = max(next, start+callTime)
	}
	if len(lags) > 0 {
		slices.Sort(lags)
		out.p50 = lags[len(lags)/2]
		out.p99 = lags[len(lags)*99/100]
		out.max = lags[len(lags)-1]
	}
	return out
}

// TestPacerSimulation polls a simulated caught-up shard with the pacer at
// 0 to 100 records/s (seeded Poisson arrivals, an hour of simulated time,
// calls of 20 ms, the full quota's 200 ms floor, the default 1.5 s bound)
// and checks what the pacer promises: no record waits longer than the
// bound plus one call; a shard at 10 records/s is fetched with p99 lag
// well under 1 s at about 2 calls/s; an idle or near-idle shard costs
// about one call per bound; a busy one keeps the quota's pace. It prints
// the table of docs/performance.md:
//
//	go test -count=1 -v -run TestPacerSimulation ./kinesisio/internal/fetcher/
func TestPacerSimulation(t *testing.T) {
	const (
		span     = time.Hour
		callTime = 20 * time.Millisecond
		floor    = 200 * time.Millisecond
		bound    = DefaultIdlePoll
	)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	t.Log("| records/s | calls/s | records/call | lag p50 | p99 | max |")
	t.Log("|---|---|---|---|---|---|")
	for _, tc := range []struct {
		rate     float64
		maxCalls float64       // calls per second at most
		maxP99   time.Duration // lag p99 at most
	}{
		{0, 0.70, 0},
		{0.1, 0.70, bound + callTime},
		{1, 0.75, bound + callTime},
		{5, 1.25, ms(1300)},
		{10, 2.20, ms(700)},
		{25, 5, ms(400)},
		{100, 5, ms(250)},
	} {
		s := simulatePacer(tc.rate, span, callTime, floor, bound, 24)
		line := fmt.Sprintf("| %g | %.2f | %.2f | %d ms | %d ms | %d ms |", s.rate, s.callsPerSecond(), s.recordsPerCall(),
			s.p50.Milliseconds(), s.p99.Milliseconds(), s.max.Milliseconds())
		t.Log(strings.ReplaceAll(line, "| 0 ms | 0 ms | 0 ms |", "| - | - | - |"))
		if s.max > bound+callTime {
			t.Errorf("%g records/s: a record waited %v, beyond the bound %v plus one call (%v)", tc.rate, s.max, bound, callTime)
		}
		if c := s.callsPerSecond(); c > tc.maxCalls {
			t.Errorf("%g records/s: %.2f calls/s, want at most %.2f", tc.rate, c, tc.maxCalls)
		}
		if s.p99 > tc.maxP99 {
			t.Errorf("%g records/s: lag p99 %v, want at most %v", tc.rate, s.p99, tc.maxP99)
		}
	}
}
