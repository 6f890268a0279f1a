package commit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

func newStore(t *testing.T) checkpoint.Store {
	t.Helper()
	st, err := checkpoint.NewDir(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func acquire(t *testing.T, st checkpoint.Store, owner string, stale time.Duration) checkpoint.Lease {
	t.Helper()
	l, err := st.Acquire(context.Background(), checkpoint.Lease{App: "app", Stream: "s", Owner: owner, Job: "test", StaleAfter: stale}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return l
}

var cfg = Config{Stream: "s", Interval: 100 * time.Millisecond, Tick: 10 * time.Millisecond, Retry: backoff.Policy{Base: 10 * time.Millisecond, Max: 50 * time.Millisecond}}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within 10 s", what)
		}
	}
}

func stored(t *testing.T, st checkpoint.Store, shard string) checkpoint.Checkpoint {
	t.Helper()
	got, err := st.Get(context.Background(), "app", "s", []string{shard})
	if err != nil {
		t.Fatal(err)
	}
	return got[shard]
}

// TestOffersAreWrittenAtMostOncePerInterval: a burst of offers becomes
// one write of the newest, later ones wait out the interval, and offers
// that go back are ignored.
func TestOffersAreWrittenAtMostOncePerInterval(t *testing.T) {
	st := newStore(t)
	c := New(st, acquire(t, st, "run", time.Minute), cfg)
	defer c.Close(context.Background())
	for _, seq := range []string{"5", "7", "6", "10"} {
		c.Offer("a", []string{"p"}, seq, 0)
	}
	// The counter moves just after the store's write returns.
	var commits, failures int64
	waitFor(t, "first write counted", func() bool {
		d := c.StatsDelta()
		commits, failures = commits+d.Commits, failures+d.Failures
		return commits >= 1
	})
	if got := stored(t, st, "a").Seq; got != "10" || commits != 1 || failures != 0 {
		t.Errorf("after a burst: stored %q, %d commits, %d failures; want 10 in 1 commit", got, commits, failures)
	}
	c.Offer("a", nil, "11", 0)
	start := time.Now()
	waitFor(t, "second write", func() bool { return stored(t, st, "a").Seq == "11" })
	if d := time.Since(start); d < cfg.Interval/2 {
		t.Logf("second write after %v (the interval is %v)", d, cfg.Interval)
	}
	cp := stored(t, st, "a")
	if cp.Owner != "run" || cp.Epoch != 1 || len(cp.Parents) != 1 || cp.Finished {
		t.Errorf("stored %+v", cp)
	}
	if _, ok := c.SinceCommit("a", time.Now()); !ok {
		t.Error("SinceCommit has no entry for a written shard")
	}
}

// TestFinalWritesAtOnce: Final writes the pending position with Finished
// without waiting for the interval, and ParentsFinished and KnownFinished
// (without the store) then see it.
func TestFinalWritesAtOnce(t *testing.T) {
	st := newStore(t)
	c := New(st, acquire(t, st, "run", time.Minute), Config{Stream: "s", Interval: time.Hour, Retry: cfg.Retry})
	defer c.Close(context.Background())
	c.Offer("a", nil, "5", 0)
	if ok, err := c.ParentsFinished(context.Background(), []string{"a"}); ok || err != nil {
		t.Errorf("ParentsFinished before the end = %v, %v", ok, err)
	}
	if err := c.Final(context.Background(), "a", nil, true); err != nil {
		t.Fatal(err)
	}
	if cp := stored(t, st, "a"); cp.Seq != "5" || !cp.Finished {
		t.Errorf("stored %+v, want 5, finished", cp)
	}
	c.Offer("a", nil, "9", 0) // after the end: ignored
	if ok, err := c.ParentsFinished(context.Background(), []string{"a"}); !ok || err != nil {
		t.Errorf("ParentsFinished after the end = %v, %v", ok, err)
	}
	if !c.KnownFinished([]string{"a"}) || c.KnownFinished([]string{"a", "b"}) {
		t.Errorf("KnownFinished(a) = %v, KnownFinished(a, b) = %v; want true, false (b was not read)", c.KnownFinished([]string{"a"}), c.KnownFinished([]string{"a", "b"}))
	}
}

// TestFencedCommitLosesTheLease: once another job took the name over and
// wrote a shard, this committer's write is refused, it reports the lost
// lease and writes nothing more.
func TestFencedCommitLosesTheLease(t *testing.T) {
	st := newStore(t)
	l := acquire(t, st, "old", time.Second)
	c := New(st, l, Config{Stream: "s", Interval: time.Hour, Retry: cfg.Retry})
	defer c.Close(context.Background())
	thief, err := st.Acquire(context.Background(), checkpoint.Lease{App: "app", Stream: "s", Owner: "new", Job: "test", StaleAfter: time.Minute}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(context.Background(), thief, checkpoint.Checkpoint{Stream: "s", ShardID: "a", Seq: "3"}); err != nil {
		t.Fatal(err)
	}
	c.Offer("a", nil, "8", 0)
	if err := c.Final(context.Background(), "a", nil, false); !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("Final = %v, want ErrFenced", err)
	}
	if c.Err() == nil {
		t.Error("Err() = nil after a fenced write")
	}
	if cp := stored(t, st, "a"); cp.Seq != "3" || cp.Owner != "new" {
		t.Errorf("stored %+v, want the new owner's 3", cp)
	}
}

// TestHeartbeatOnlyWhileActive: the lease is heartbeated while the run is
// touched, and goes stale once it is not (a cancelled job).
func TestHeartbeatOnlyWhileActive(t *testing.T) {
	st := newStore(t)
	stale := 400 * time.Millisecond
	c := New(st, acquire(t, st, "run", stale), cfg)
	defer c.Close(context.Background())
	for end := time.Now().Add(3 * stale); time.Now().Before(end); time.Sleep(20 * time.Millisecond) {
		c.Touch()
	}
	l, _, err := st.ReadLease(context.Background(), "app", "s")
	if err != nil || !l.Live(time.Now()) {
		t.Fatalf("lease while touched: %+v, %v; want live", l, err)
	}
	waitFor(t, "lease stale once untouched", func() bool {
		l, _, err := st.ReadLease(context.Background(), "app", "s")
		return err == nil && !l.Live(time.Now())
	})
}

// TestHeartbeatSeesTakeover: a heartbeat refused because another job took
// the lease makes Err report it.
func TestHeartbeatSeesTakeover(t *testing.T) {
	st := newStore(t)
	c := New(st, acquire(t, st, "run", 200*time.Millisecond), cfg)
	defer c.Close(context.Background())
	if _, err := st.Acquire(context.Background(), checkpoint.Lease{App: "app", Stream: "s", Owner: "other", Job: "test", StaleAfter: time.Minute}, time.Now().Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "lost lease seen", func() bool { c.Touch(); return c.Err() != nil })
	if !errors.Is(c.Err(), checkpoint.ErrLeaseLost) {
		t.Errorf("Err() = %v, want ErrLeaseLost", c.Err())
	}
}

// TestReleaseWritesPendingFirst: Release writes what is pending, then
// releases the lease.
func TestReleaseWritesPendingFirst(t *testing.T) {
	st := newStore(t)
	c := New(st, acquire(t, st, "run", time.Minute), Config{Stream: "s", Interval: time.Hour, Retry: cfg.Retry})
	defer c.Close(context.Background())
	c.Offer("a", nil, "4", 0)
	if err := c.Release(context.Background()); err != nil {
		t.Fatal(err)
	}
	if cp := stored(t, st, "a"); cp.Seq != "4" {
		t.Errorf("stored %+v, want 4", cp)
	}
	if l, ok, err := st.ReadLease(context.Background(), "app", "s"); err != nil || !ok || l.Owner != "" {
		t.Errorf("lease %+v, %v, %v; want released", l, ok, err)
	}
}

// downStore is a store whose Commit fails while down is set, counting
// the calls.
type downStore struct {
	checkpoint.Store
	down    atomic.Bool
	commits atomic.Int64
}

var errDown = errors.New("the store does not answer")

func (s *downStore) Commit(ctx context.Context, l checkpoint.Lease, cp checkpoint.Checkpoint) error {
	s.commits.Add(1)
	if s.down.Load() {
		return errDown
	}
	return s.Store.Commit(ctx, l, cp)
}

// TestFailedWritesBackOffTogether: 64 shards with positions to write
// while the store fails for 1 s. The committer's passes wait out one
// backoff for all of them and end at their first failure, rather than
// each shard retrying on its own (with only a backoff per shard:
// 860 calls, and as many log lines); a
// reader's final write in the outage waits it out too, and every
// position is written once the store answers.
func TestFailedWritesBackOffTogether(t *testing.T) {
	const shards, outage = 64, time.Second
	st := &downStore{Store: newStore(t)}
	retry := backoff.Policy{Base: 10 * time.Millisecond, Max: 200 * time.Millisecond}
	var logs backoff.LogLimit
	c := New(st, acquire(t, st.Store, "run", time.Minute), Config{Stream: "s", Interval: 20 * time.Millisecond, Tick: 5 * time.Millisecond, Retry: retry, Log: &logs})
	defer c.Close(context.Background())
	st.down.Store(true)
	for i := range shards {
		c.Offer(fmt.Sprintf("shard-%02d", i), nil, "5", 0)
	}
	waitFor(t, "a failed write", func() bool { n, _, _ := c.WriteBackoff(time.Now()); return n > 0 })
	// A reader's final write fails and leaves the committer backing off.
	if err := c.Final(context.Background(), "shard-00", nil, true); !errors.Is(err, errDown) {
		t.Errorf("Final while the store fails: %v, want %v", err, errDown)
	}
	if n, _, _ := c.WriteBackoff(time.Now()); n < 2 {
		t.Errorf("after a failed final write: %d failures in a row, want at least 2", n)
	}
	time.Sleep(outage)
	calls := st.commits.Load()
	st.down.Store(false)
	waitFor(t, "every position written", func() bool {
		for i := range shards {
			if stored(t, st.Store, fmt.Sprintf("shard-%02d", i)).Seq != "5" {
				return false
			}
		}
		return true
	})
	n, _, wait := c.WriteBackoff(time.Now())
	t.Logf("store failing for %v: %d writes for %d shards (retry %v up to %v); after it: %d failures in a row, next write in %v", outage, calls, shards, retry.Base, retry.Max, n, wait)
	// Passes at most every ~100 ms on average (full jitter up to 200 ms
	// after the first few), one failed write each, and the final write.
	if max := int64(outage / (20 * time.Millisecond)); calls > max {
		t.Errorf("%d shards made %d writes to a failing store in %v, want at most %d (one backoff for all)", shards, calls, outage, max)
	}
	if n != 0 || wait != 0 {
		t.Errorf("after the store answered: %d failures in a row, next write in %v; want 0 and 0", n, wait)
	}
	if !stored(t, st.Store, "shard-00").Finished {
		t.Error("shard-00's final position is not written as finished")
	}
}
