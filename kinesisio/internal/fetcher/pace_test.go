package fetcher

import (
	"testing"
	"time"
)

// An idle shard read with the default settings is polled about once per
// default IdlePoll, not at the quota's pace: over 3 s, 5 calls (at 0,
// 0.25, 0.75, 1.75 and 2.75 s); a load that delays the loop only makes
// fewer.
func TestIdleShardIsPolledRarely(t *testing.T) {
	shard := newShard(0, 10, false)
	cfg := fast
	cfg.IdlePoll = 0 // the default
	f := Start(cfg, shard, nil)
	drainFor(f, 3*time.Second)
	f.Close()
	if n := f.Stats().Calls; n > 7 {
		t.Fatalf("%d GetRecords calls on an idle shard in 3 s, want at most 7 (about one a second once idle)", n)
	}
}

// Records put on a shard after it was idle for a while are read by the
// next call, and the shard is back at the quota's pace at once.
func TestRecordsAfterIdleAreReadAndPaceSnapsBack(t *testing.T) {
	shard := newShard(0, 10, false)
	cfg := fast
	cfg.IdlePoll = 0 // the default
	cfg.RecordsPerCall = 1
	f := Start(cfg, shard, nil)
	defer f.Close()
	drainFor(f, 2500*time.Millisecond)
	shard.mu.Lock()
	for range 6 {
		shard.data = append(shard.data, make([]byte, 10))
	}
	idleCalls := len(shard.calls)
	shard.mu.Unlock()
	got := 0
	for deadline := time.Now().Add(20 * time.Second); got < 6 && time.Now().Before(deadline); {
		got += drainFor(f, 10*time.Millisecond)
	}
	if got != 6 {
		t.Fatalf("read %d of the 6 records put after 2.5 s of idleness", got)
	}
	shard.mu.Lock()
	defer shard.mu.Unlock()
	// One record per call: the 6 records took 6 calls after the idle
	// ones, at the quota's pace (200 ms) rather than at the idle pace.
	calls := shard.calls[idleCalls:]
	if len(calls) < 6 {
		t.Fatalf("%d calls after the records were put, want at least 6", len(calls))
	}
	if d := calls[5].Sub(calls[1]); d >= 4*time.Second {
		t.Fatalf("calls 2 to 6 after the idle period took %v, want about 800 ms (the quota's pace), not the idle pace", d)
	}
}

// The idle pacer's waits: doubling from idleFirst while calls come back
// empty on a caught-up shard, never above the bound, back to the quota's
// pace at the first records; no growth while the shard is behind.
func TestIdlePacerSchedule(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type call struct {
		n    int
		mbl  int64
		want time.Duration
	}
	for _, tc := range []struct {
		name  string
		bound time.Duration
		calls []call
	}{
		{"idle grows to the bound", time.Second, []call{{0, 0, ms(250)}, {0, 0, ms(500)}, {0, 0, ms(1000)}, {0, 0, ms(1000)}, {0, -1, ms(1000)}}},
		{"records snap back", time.Second, []call{{0, 0, ms(250)}, {0, 0, ms(500)}, {3, 0, 0}, {0, 0, ms(250)}}},
		{"behind does not grow", time.Second, []call{{0, 0, ms(250)}, {0, 0, ms(500)}, {0, 5000, ms(250)}, {0, 5000, ms(250)}, {10, 4000, 0}}},
		{"bound below the first wait", ms(50), []call{{0, 0, ms(50)}, {0, 0, ms(50)}, {1, 0, 0}, {0, 0, ms(50)}}},
		{"odd bound is reached", ms(700), []call{{0, 0, ms(250)}, {0, 0, ms(500)}, {0, 0, ms(700)}, {0, 0, ms(700)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := idlePacer{bound: tc.bound}
			for i, c := range tc.calls {
				if got := p.after(c.n, c.mbl); got != c.want {
					t.Fatalf("call %d (%d records, MillisBehindLatest %d): wait %v, want %v", i+1, c.n, c.mbl, got, c.want)
				}
			}
		})
	}
}
