package watermark

import (
	"fmt"
	"math/rand/v2"
	"testing"
	"time"
)

func TestEstimatorReportsMinimumOfCommittedOthers(t *testing.T) {
	r := NewRegistry()
	fast, slow := New(1000), New(100)
	slow.Bind(r, "slow")
	fast.Bind(r, "fast")
	fast.Advance(time.UnixMilli(5000))
	if got := fast.CurrentWatermark().UnixMilli(); got != 100 {
		t.Errorf("fast shard reports %d, want the slow shard's committed 100", got)
	}
	// Progress the slow shard made but has not committed does not count.
	slow.Advance(time.UnixMilli(4000))
	if got := fast.CurrentWatermark().UnixMilli(); got != 100 {
		t.Errorf("fast shard reports %d after uncommitted progress, want 100", got)
	}
	// Resumed from a checkpoint: now it is committed.
	New(slow.State()).Bind(r, "slow")
	if got := fast.CurrentWatermark().UnixMilli(); got != 4000 {
		t.Errorf("fast shard reports %d, want 4000", got)
	}
	if got := slow.CurrentWatermark().UnixMilli(); got != 1000 {
		t.Errorf("slow shard reports %d, want the fast shard's committed 1000", got)
	}
}

func TestPendingShardHoldsAndOtherReadsDoNot(t *testing.T) {
	r := NewRegistry()
	r.Pending("new", 10)
	NewRegistry().Pending("x", 1) // another run's registry
	e := New(500)
	e.Bind(r, "a")
	if got := e.CurrentWatermark().UnixMilli(); got != 10 {
		t.Errorf("got %d, want the pending shard's 10", got)
	}
	r.Pending("new", 1) // already known: no change
	if got := e.CurrentWatermark().UnixMilli(); got != 10 {
		t.Errorf("got %d after a repeated Pending, want 10", got)
	}
}

func TestStaleAndFinishedEntriesExpire(t *testing.T) {
	r := NewRegistry()
	r.StaleAfter, r.Grace = 50*time.Millisecond, 20*time.Millisecond
	r.Commit("moved", 1)
	r.Commit("done", 2)
	r.Finish("done")
	e := New(500)
	e.Bind(r, "a")
	if got := e.CurrentWatermark().UnixMilli(); got != 1 {
		t.Errorf("got %d, want 1 before expiry", got)
	}
	time.Sleep(60 * time.Millisecond)
	e.Bind(r, "a") // refresh own entry only
	if got := e.CurrentWatermark().UnixMilli(); got != 500 {
		t.Errorf("got %d, want own 500 once the others expired", got)
	}
}

func TestAdvanceNeverGoesBack(t *testing.T) {
	e := New(100)
	e.Advance(time.UnixMilli(50))
	if e.State() != 100 {
		t.Errorf("state %d, want 100", e.State())
	}
}

func TestRunning(t *testing.T) {
	r := NewRegistry()
	r.Pending("p", 1)
	if !r.Running("p") {
		t.Error("a pending shard is not running")
	}
	r.Finish("p")
	if r.Running("p") || r.Running("unknown") {
		t.Error("a finished or unknown shard is running")
	}
}

// withShards returns a registry holding n committed shards and the
// estimator of one more, "own", bound to it.
func withShards(n int) (*Registry, *Estimator) {
	r := NewRegistry()
	for i := range n {
		r.Commit(fmt.Sprint("shard-", i), int64(1000+i))
	}
	e := New(5000)
	e.Bind(r, "own")
	return r, e
}

// A shard's checkpoint cycle (Bind, then CurrentWatermark at the
// residual) allocates nothing once the shard is known: at 1,024 shards
// resuming a few times a second each, the registry is on the hot path.
func TestCheckpointCycleDoesNotAllocate(t *testing.T) {
	r, e := withShards(1024)
	ms := int64(6000)
	if n := testing.AllocsPerRun(100, func() {
		ms++
		r.Commit("own", ms)
		_ = e.CurrentWatermark()
	}); n != 0 {
		t.Fatalf("%v allocations per Commit + CurrentWatermark, want 0", n)
	}
}

// The minimum of the others, as the registry keeps it, equals a scan of
// every live entry, through random commits (raising and lowering),
// pending shards, finished shards and expiries.
func TestMinimumOfOthersMatchesAScan(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	r := NewRegistry()
	r.StaleAfter, r.Grace = 40*time.Millisecond, 10*time.Millisecond
	type ref struct {
		ms       int64
		updated  time.Time
		finished bool
	}
	model := map[string]*ref{}
	ids := []string{"a", "b", "c", "d", "e", "f", "g", "h"}
	for step := range 3000 {
		id := ids[rng.IntN(len(ids))]
		now := time.Now()
		switch rng.IntN(6) {
		case 0:
			r.Pending(id, rng.Int64N(100))
			if model[id] == nil {
				model[id] = &ref{ms: r.Committed()[id], updated: now}
			}
		case 1:
			r.Finish(id)
			if m := model[id]; m != nil {
				m.finished, m.updated = true, now
			}
		default:
			ms := rng.Int64N(100)
			r.Commit(id, ms)
			model[id] = &ref{ms: ms, updated: now}
		}
		if step%500 == 0 {
			time.Sleep(15 * time.Millisecond) // let finished entries expire
		}
		if step%1000 == 999 {
			time.Sleep(50 * time.Millisecond) // let every entry expire
		}
		own := ids[rng.IntN(len(ids))]
		now = time.Now()
		got, gotOK := r.minOthers(own, now)
		var want int64
		wantOK := false
		for id, m := range model {
			age := now.Sub(m.updated)
			if m.finished && age > r.Grace || age > r.StaleAfter {
				delete(model, id)
				continue
			}
			if id != own && (!wantOK || m.ms < want) {
				want, wantOK = m.ms, true
			}
		}
		if got != want || gotOK != wantOK {
			t.Fatalf("step %d, own %s: minimum of the others %d (found %v), a scan says %d (found %v)", step, own, got, gotOK, want, wantOK)
		}
	}
}

func BenchmarkCheckpointCycle1024(b *testing.B) {
	r, e := withShards(1024)
	ms := int64(6000)
	for b.Loop() {
		ms++
		r.Commit("own", ms)
		_ = e.CurrentWatermark()
	}
}

// TestEstimatorIsSafeForSplits: Beam Go reads an estimator from the
// goroutine that answers the runner's split requests (CurrentWatermark,
// then the state) while ProcessElement binds and advances it. Under the
// race detector (CI's race step) this failed when the estimator's fields
// were plain (seen in CI: Bind against CurrentWatermark from
// exec.(*DataSource).Split); without it, it checks that the values stay
// sane.
func TestEstimatorIsSafeForSplits(t *testing.T) {
	r := NewRegistry()
	other := New(50)
	other.Bind(r, "other")
	e := New(100)
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := range 2000 {
			e.Bind(r, "own")
			e.Advance(time.UnixMilli(int64(100 + i)))
		}
	}()
	for i := 0; ; i++ {
		if w := e.CurrentWatermark().UnixMilli(); w < 50 || w >= 2100 {
			t.Fatalf("split %d: watermark %d, want within [50, 2100)", i, w)
		}
		if s := e.State(); s < 100 || s >= 2100 {
			t.Fatalf("split %d: state %d, want within [100, 2100)", i, s)
		}
		select {
		case <-done:
			if got := e.State(); got != 2099 {
				t.Errorf("after the last Advance: state %d, want 2099", got)
			}
			return
		default:
		}
	}
}
