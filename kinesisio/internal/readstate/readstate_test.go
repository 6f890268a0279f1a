package readstate

import (
	"errors"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

func TestSweeperDropsFinishedRunsAndStops(t *testing.T) {
	r := NewRegistry()
	r.SweepEvery = 5 * time.Millisecond
	r.SetQuiet(20 * time.Millisecond)
	done := r.Run("read", "1")
	done.Watermarks.Pending("shard", 1)
	done.Watermarks.Finish("shard")
	live := r.Run("read", "2")
	live.Watermarks.Pending("shard", 1)
	if again := r.Run("read", "1"); again != done {
		t.Fatal("a second lookup made a new run")
	}
	deadline := time.Now().Add(5 * time.Second)
	for r.Len() > 1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if _, ok := r.Lookup("read", "1"); ok {
		t.Error("the finished run is still held")
	}
	if _, ok := r.Lookup("read", "2"); !ok {
		t.Fatal("the running run was dropped")
	}
	live.Watermarks.Finish("shard")
	for r.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	r.mu.Lock()
	sweeping := r.sweeping
	r.mu.Unlock()
	if r.Len() != 0 {
		t.Error("the run is still held after it finished")
	}
	for sweeping && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
		r.mu.Lock()
		sweeping = r.sweeping
		r.mu.Unlock()
	}
	if sweeping {
		t.Error("the sweeper still runs with no run held")
	}
}

func TestLastTeardownDropsTheReadsRuns(t *testing.T) {
	r := NewRegistry()
	r.Started("a")
	r.Started("a")
	run := r.Run("a", "1")
	run.Watermarks.Pending("shard", 1) // running: the sweeper keeps it
	r.Run("b", "1").Watermarks.Pending("shard", 1)
	r.Stopped("a")
	if _, ok := r.Lookup("a", "1"); !ok {
		t.Fatal("dropped before the last instance stopped")
	}
	r.Stopped("a")
	if _, ok := r.Lookup("a", "1"); ok {
		t.Error("still held after the last instance stopped")
	}
	if _, ok := r.Lookup("b", "1"); !ok {
		t.Error("another read's run was dropped")
	}
	run.SawChildShards()
	if !run.TakeChildShards() || run.TakeChildShards() {
		t.Error("the child-shard signal is not taken exactly once")
	}
}

// TestStartOnceKeepsNoError: a run's start is made once; a start that
// fails is not kept, and the next call tries again.
func TestStartOnceKeepsNoError(t *testing.T) {
	run := NewRegistry().Run("read", "1")
	calls := 0
	fail := errors.New("store down")
	start := func() ([]checkpoint.Checkpoint, error) {
		calls++
		if calls == 1 {
			return nil, fail
		}
		return []checkpoint.Checkpoint{{ShardID: "s"}}, nil
	}
	if _, err := run.Start(start); !errors.Is(err, fail) {
		t.Fatalf("first start: %v, want %v", err, fail)
	}
	for range 3 {
		cps, err := run.Start(start)
		if err != nil || len(cps) != 1 || cps[0].ShardID != "s" {
			t.Fatalf("start: %v, %v", cps, err)
		}
	}
	if calls != 2 {
		t.Errorf("start made %d times, want 2 (a failure, then once)", calls)
	}
}

// SinkLog gives one limit per key, whichever instance asks.
func TestSinkLogOnePerKey(t *testing.T) {
	r := NewRegistry()
	a, b := r.SinkLog("app\x00dir /x"), r.SinkLog("app\x00dir /x")
	if a != b {
		t.Error("two lookups of one key got two limits")
	}
	if r.SinkLog("other\x00dir /x") == a {
		t.Error("two keys share a limit")
	}
}
