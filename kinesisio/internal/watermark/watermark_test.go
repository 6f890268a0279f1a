package watermark

import (
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
