// Package checkpointtest is the conformance suite of checkpoint stores:
// every Store implementation must pass Run.
package checkpointtest

import (
	"context"
	"errors"
	"fmt"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// Run runs the conformance suite against stores made by open, as
// subtests that run in parallel. open must return an empty store, not
// shared with another call, and arrange for it to be closed (t.Cleanup);
// it is called from parallel subtests, so it must not call t.Setenv.
func Run(t *testing.T, open func(t *testing.T) checkpoint.Store) {
	for _, tc := range []struct {
		name string
		f    func(t *testing.T, s checkpoint.Store)
	}{
		{"AcquireEmpty", testAcquireEmpty},
		{"AcquireRetryKeepsEpoch", testAcquireRetry},
		{"AcquireHeld", testAcquireHeld},
		{"TakeoverStale", testTakeoverStale},
		{"TakeoverReleased", testTakeoverReleased},
		{"HeartbeatAfterTakeover", testHeartbeatAfterTakeover},
		{"ReleaseAfterTakeover", testReleaseAfterTakeover},
		{"ReadLeaseNone", testReadLeaseNone},
		{"InvalidArguments", testInvalidArguments},
		{"CommitFenced", testCommitFenced},
		{"CommitRoundTrip", testCommitRoundTrip},
		{"CommitDefaultsUpdated", testCommitDefaultsUpdated},
		{"LoadSorted", testLoadSorted},
		{"AppsIsolated", testAppsIsolated},
		{"Get", testGet},
		{"Set", testSet},
		{"Reset", testReset},
		{"ConcurrentAcquire", testConcurrentAcquire},
		{"ConcurrentCommits", testConcurrentCommits},
		{"StreamsHaveTheirOwnLeases", testStreamsLeases},
		{"StopRequest", testStopRequest},
		{"MarkSink", testMarkSink},
		{"HeartbeatProcesses", testHeartbeatProcs},
		{"TakeoverProvablyDead", testTakeoverDead},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.f(t, open(t))
		})
	}
}

// t0 is the clock of the tests' first acquisitions (ms precision).
var t0 = time.Date(2026, 3, 4, 5, 6, 7, 8_000_000, time.UTC)

const stale = 10 * time.Second

// timeout bounds each subtest's calls.
const timeout = 60 * time.Second

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	t.Cleanup(cancel)
	return ctx
}

// cmpOpts compares checkpoints and leases: times by instant, no parents
// the same as empty ones.
var cmpOpts = cmp.Options{cmpopts.EquateEmpty(), cmp.Comparer(func(a, b time.Time) bool { return a.Equal(b) })}

func mustAcquire(t *testing.T, s checkpoint.Store, app, owner string, staleAfter time.Duration, now time.Time) checkpoint.Lease {
	t.Helper()
	l, err := s.Acquire(ctxFor(t), checkpoint.Lease{App: app, Stream: "stream", Owner: owner, Job: "job of " + owner, StaleAfter: staleAfter}, now)
	if err != nil {
		t.Fatalf("Acquire(%s, %s) at %v: %v", app, owner, now, err)
	}
	return l
}

func mustReadLease(t *testing.T, s checkpoint.Store, app string) checkpoint.Lease {
	t.Helper()
	l, ok, err := s.ReadLease(ctxFor(t), app, "stream")
	if err != nil || !ok {
		t.Fatalf("ReadLease(%s) = %+v, %v, %v; want a lease", app, l, ok, err)
	}
	return l
}

// mustCommit commits cp under l, or, for another stream than l's, under
// the lease of that stream that l's owner takes (or has) at t0.
func mustCommit(t *testing.T, s checkpoint.Store, l checkpoint.Lease, cp checkpoint.Checkpoint) {
	t.Helper()
	if cp.Stream != l.Stream {
		want := l
		want.Stream = cp.Stream
		var err error
		if l, err = s.Acquire(ctxFor(t), want, t0); err != nil {
			t.Fatalf("Acquire(%s) for a commit: %v", want.Name(), err)
		}
	}
	if err := s.Commit(ctxFor(t), l, cp); err != nil {
		t.Fatalf("Commit(%s/%s under epoch %d): %v", cp.Stream, cp.ShardID, l.Epoch, err)
	}
}

func mustLoad(t *testing.T, s checkpoint.Store, app, stream string) []checkpoint.Checkpoint {
	t.Helper()
	cps, err := s.Load(ctxFor(t), app, stream)
	if err != nil {
		t.Fatalf("Load(%s, %q): %v", app, stream, err)
	}
	return cps
}

func mustGet(t *testing.T, s checkpoint.Store, app, stream string, ids ...string) map[string]checkpoint.Checkpoint {
	t.Helper()
	got, err := s.Get(ctxFor(t), app, stream, ids)
	if err != nil {
		t.Fatalf("Get(%s, %s, %v): %v", app, stream, ids, err)
	}
	return got
}

// takeover returns a lease of owner "a" on app and the lease that owner
// "b" took over from it once it was stale.
func takeover(t *testing.T, s checkpoint.Store, app string) (a, b checkpoint.Lease) {
	t.Helper()
	a = mustAcquire(t, s, app, "a", stale, t0)
	b = mustAcquire(t, s, app, "b", stale, t0.Add(stale+time.Millisecond))
	if b.Epoch != a.Epoch+1 {
		t.Fatalf("takeover: epoch %d after %d, want +1", b.Epoch, a.Epoch)
	}
	return a, b
}

// cp is a checkpoint of stream and shard at seq.
func cp(stream, shard, seq string) checkpoint.Checkpoint {
	return checkpoint.Checkpoint{Stream: stream, ShardID: shard, Seq: seq, Updated: t0}
}

func testAcquireEmpty(t *testing.T, s checkpoint.Store) {
	got := mustAcquire(t, s, "app", "run-1", stale, t0)
	want := checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-1", Job: "job of run-1", Epoch: 1, Heartbeat: t0, StaleAfter: stale}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("Acquire on an empty store (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(want, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("ReadLease after Acquire (-want +got):\n%s", diff)
	}
}

func testAcquireRetry(t *testing.T, s checkpoint.Store) {
	mustAcquire(t, s, "app", "run-1", stale, t0)
	// A retry, later and with other settings, keeps the epoch and takes
	// the new heartbeat and StaleAfter; even once the lease is stale.
	for _, at := range []time.Time{t0.Add(time.Second), t0.Add(time.Hour)} {
		got := mustAcquire(t, s, "app", "run-1", 2*stale, at)
		want := checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-1", Job: "job of run-1", Epoch: 1, Heartbeat: at, StaleAfter: 2 * stale}
		if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
			t.Errorf("Acquire again by the owner at %v (-want +got):\n%s", at, diff)
		}
		if diff := cmp.Diff(want, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
			t.Errorf("ReadLease (-want +got):\n%s", diff)
		}
	}
}

func testAcquireHeld(t *testing.T, s checkpoint.Store) {
	a := mustAcquire(t, s, "app", "run-a", stale, t0)
	// Staleness is judged by the holder's StaleAfter, not the caller's:
	// a short one does not make a live lease stale.
	for _, tc := range []struct {
		at         time.Time
		staleAfter time.Duration
	}{
		{t0, stale},
		{t0.Add(stale - time.Millisecond), stale},
		{t0.Add(stale / 2), time.Millisecond},
	} {
		_, err := s.Acquire(ctxFor(t), checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-b", Job: "job of run-b", StaleAfter: tc.staleAfter}, tc.at)
		if !errors.Is(err, checkpoint.ErrLeaseHeld) {
			t.Fatalf("Acquire by another owner at %v = %v, want ErrLeaseHeld", tc.at, err)
		}
		var held *checkpoint.HeldError
		if !errors.As(err, &held) {
			t.Fatalf("Acquire by another owner = %T %v, want a *HeldError", err, err)
		}
		if diff := cmp.Diff(a, held.Lease, cmpOpts); diff != "" {
			t.Errorf("HeldError.Lease (-want +got):\n%s", diff)
		}
		if !held.Now.Equal(tc.at) {
			t.Errorf("HeldError.Now = %v, want %v", held.Now, tc.at)
		}
		for _, w := range []string{"run-a", "job of run-a", `"app"`} {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("HeldError %q does not name %s", err, w)
			}
		}
	}
	if diff := cmp.Diff(a, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("the lease changed after refused Acquires (-want +got):\n%s", diff)
	}
}

func testTakeoverStale(t *testing.T, s checkpoint.Store) {
	mustAcquire(t, s, "app", "run-a", stale, t0)
	// Stale from StaleAfter after the heartbeat on, by the holder's
	// StaleAfter, whatever the caller's.
	at := t0.Add(stale)
	got := mustAcquire(t, s, "app", "run-b", time.Hour, at)
	want := checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-b", Job: "job of run-b", Epoch: 2, Heartbeat: at, StaleAfter: time.Hour}
	if diff := cmp.Diff(want, got, cmpOpts); diff != "" {
		t.Errorf("takeover of a stale lease (-want +got):\n%s", diff)
	}
	// A heartbeat keeps it live: no takeover at the same time after it.
	if _, err := s.Heartbeat(ctxFor(t), got, procid.Self(), at.Add(time.Hour)); err != nil {
		t.Fatalf("Heartbeat: %v", err)
	}
	if _, err := s.Acquire(ctxFor(t), checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-c", Job: "c", StaleAfter: stale}, at.Add(time.Hour+time.Minute)); !errors.Is(err, checkpoint.ErrLeaseHeld) {
		t.Errorf("Acquire after a heartbeat = %v, want ErrLeaseHeld", err)
	}
	got = mustAcquire(t, s, "app", "run-c", stale, at.Add(2*time.Hour))
	if got.Epoch != 3 {
		t.Errorf("second takeover: epoch %d, want 3", got.Epoch)
	}
}

func testTakeoverReleased(t *testing.T, s checkpoint.Store) {
	a := mustAcquire(t, s, "app", "run-a", stale, t0)
	if err := s.Release(ctxFor(t), a); err != nil {
		t.Fatalf("Release: %v", err)
	}
	// A retried Release succeeds.
	if err := s.Release(ctxFor(t), a); err != nil {
		t.Errorf("Release again: %v", err)
	}
	r := mustReadLease(t, s, "app")
	if r.Owner != "" || r.Epoch != 1 {
		t.Errorf("ReadLease after Release = %+v, want no owner and epoch 1", r)
	}
	b := mustAcquire(t, s, "app", "run-b", stale, t0.Add(time.Second))
	if b.Epoch != 2 || b.Owner != "run-b" {
		t.Errorf("Acquire of a released lease = %+v, want run-b under epoch 2", b)
	}
	if err := s.Release(ctxFor(t), b); err != nil {
		t.Fatalf("Release: %v", err)
	}
	// Its former owner acquires it anew, not as a retry.
	if a2 := mustAcquire(t, s, "app", "run-b", stale, t0.Add(2*time.Second)); a2.Epoch != 3 {
		t.Errorf("Acquire of its own released lease: epoch %d, want 3", a2.Epoch)
	}
}

func testHeartbeatAfterTakeover(t *testing.T, s checkpoint.Store) {
	a, b := takeover(t, s, "app")
	_, err := s.Heartbeat(ctxFor(t), a, procid.Self(), t0.Add(time.Minute))
	if !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Fatalf("Heartbeat by the old owner = %v, want ErrLeaseLost", err)
	}
	hb := t0.Add(2 * time.Minute)
	if _, err := s.Heartbeat(ctxFor(t), b, procid.Self(), hb); err != nil {
		t.Fatalf("Heartbeat by the new owner: %v", err)
	}
	want := b
	want.Heartbeat = hb
	want.Procs = []checkpoint.Proc{{ID: procid.Self(), Heartbeat: hb}}
	if diff := cmp.Diff(want, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("ReadLease after Heartbeat (-want +got):\n%s", diff)
	}
	// Once released, or gone, a heartbeat is lost too.
	if err := s.Release(ctxFor(t), b); err != nil {
		t.Fatalf("Release: %v", err)
	}
	if _, err := s.Heartbeat(ctxFor(t), b, procid.Self(), hb); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Heartbeat after Release = %v, want ErrLeaseLost", err)
	}
	if _, err := s.Heartbeat(ctxFor(t), checkpoint.Lease{App: "other", Stream: "stream", Owner: "x", Epoch: 1}, procid.Self(), hb); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Heartbeat of no lease = %v, want ErrLeaseLost", err)
	}
}

func testReleaseAfterTakeover(t *testing.T, s checkpoint.Store) {
	a, b := takeover(t, s, "app")
	if err := s.Release(ctxFor(t), a); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Fatalf("Release by the old owner = %v, want ErrLeaseLost", err)
	}
	if diff := cmp.Diff(b, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("the lease changed after a refused Release (-want +got):\n%s", diff)
	}
	if err := s.Release(ctxFor(t), checkpoint.Lease{App: "other", Stream: "stream", Owner: "x", Epoch: 1}); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Release of no lease = %v, want ErrLeaseLost", err)
	}
}

func testReadLeaseNone(t *testing.T, s checkpoint.Store) {
	l, ok, err := s.ReadLease(ctxFor(t), "app", "stream")
	if err != nil || ok {
		t.Errorf("ReadLease on an empty store = %+v, %v, %v; want ok false", l, ok, err)
	}
}

func testInvalidArguments(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	for _, app := range []string{"", ".", "..", "../x", "a/b", "a#b", strings.Repeat("a", 129)} {
		if _, err := s.Acquire(ctx, checkpoint.Lease{App: app, Stream: "stream", Owner: "o", Job: "j", StaleAfter: stale}, t0); err == nil {
			t.Errorf("Acquire(%q) succeeded", app)
		}
		if _, _, err := s.ReadLease(ctx, app, "stream"); err == nil {
			t.Errorf("ReadLease(%q) succeeded", app)
		}
		if _, err := s.Load(ctx, app, ""); err == nil {
			t.Errorf("Load(%q) succeeded", app)
		}
		if err := s.Reset(ctx, app); err == nil {
			t.Errorf("Reset(%q) succeeded", app)
		}
	}
	if _, err := s.Acquire(ctx, checkpoint.Lease{App: "app2", Stream: "stream", Owner: "", Job: "j", StaleAfter: stale}, t0); err == nil {
		t.Errorf("Acquire with no owner succeeded")
	}
	if _, err := s.Acquire(ctx, checkpoint.Lease{App: "app2", Stream: "stream", Owner: "o", Job: "j", StaleAfter: 0}, t0); err == nil {
		t.Errorf("Acquire with StaleAfter 0 succeeded")
	}
	for _, name := range []string{"", ".", "..", "../x", "a/b", "a#b", "a b", strings.Repeat("s", 129)} {
		if err := s.Commit(ctx, l, cp(name, "shard-1", "1")); err == nil {
			t.Errorf("Commit to stream %q succeeded", name)
		}
		if err := s.Commit(ctx, l, cp("stream", name, "1")); err == nil {
			t.Errorf("Commit to shard %q succeeded", name)
		}
		if err := s.Set(ctx, "app", cp("stream", name, "1")); err == nil {
			t.Errorf("Set of shard %q succeeded", name)
		}
		if _, err := s.Get(ctx, "app", "stream", []string{name}); err == nil {
			t.Errorf("Get of shard %q succeeded", name)
		}
		if name != "" {
			if _, err := s.Load(ctx, "app", name); err == nil {
				t.Errorf("Load of stream %q succeeded", name)
			}
		}
	}
	if got := mustLoad(t, s, "app", ""); len(got) != 0 {
		t.Errorf("invalid commits wrote %+v", got)
	}
}

func testCommitFenced(t *testing.T, s checkpoint.Store) {
	a := mustAcquire(t, s, "app", "run-a", stale, t0)
	mustCommit(t, s, a, cp("stream", "shard-1", "100"))
	mustCommit(t, s, a, cp("stream", "shard-1", "101")) // same epoch: overwrites
	b := mustAcquire(t, s, "app", "run-b", stale, t0.Add(stale))
	mustCommit(t, s, b, cp("stream", "shard-1", "200"))
	want := mustGet(t, s, "app", "stream", "shard-1")

	err := s.Commit(ctxFor(t), a, cp("stream", "shard-1", "102"))
	if !errors.Is(err, checkpoint.ErrFenced) {
		t.Fatalf("Commit under an older epoch = %v, want ErrFenced", err)
	}
	if diff := cmp.Diff(want, mustGet(t, s, "app", "stream", "shard-1"), cmpOpts); diff != "" {
		t.Errorf("a fenced Commit changed the checkpoint (-want +got):\n%s", diff)
	}
	if got := want["shard-1"]; got.Seq != "200" || got.Epoch != 2 || got.Owner != "run-b" {
		t.Errorf("stored checkpoint = %+v, want seq 200 by run-b under epoch 2", got)
	}
}

func testCommitRoundTrip(t *testing.T, s checkpoint.Store) {
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	long := strings.Repeat("1234567890", 12) + "123456789" // 129 digits
	in := []checkpoint.Checkpoint{
		{
			Stream: "stream.a-1_B", ShardID: "shardId-000000000007", Seq: long, SubSeq: 41,
			Finished: true, Parents: []string{"shardId-000000000003", "shardId-000000000001"},
			Epoch: 99, Owner: "ignored", Updated: t0.Add(1234 * time.Millisecond),
		},
		// A shard that ended before its first record, and no parents.
		{Stream: "stream.a-1_B", ShardID: "shardId-000000000008", Finished: true, Updated: t0},
		// Sub-millisecond times are cut to the millisecond.
		{Stream: "s", ShardID: "x", Seq: "0", Updated: t0.Add(5*time.Millisecond + 999*time.Microsecond)},
		// Read to its end before its last record was committed.
		{Stream: "stream.a-1_B", ShardID: "shardId-000000000009", Seq: "5", EndSeq: "7", Updated: t0},
	}
	for _, c := range in {
		mustCommit(t, s, l, c)
	}
	var want []checkpoint.Checkpoint
	for _, c := range in {
		c.Epoch, c.Owner, c.Updated = l.Epoch, l.Owner, c.Updated.Truncate(time.Millisecond)
		want = append(want, c)
	}
	want[0], want[1], want[2] = want[2], want[0], want[1] // by stream, then shard
	if diff := cmp.Diff(want, mustLoad(t, s, "app", ""), cmpOpts); diff != "" {
		t.Errorf("Load after Commit (-want +got):\n%s", diff)
	}
	got := mustGet(t, s, "app", "stream.a-1_B", "shardId-000000000007", "shardId-000000000008")
	if diff := cmp.Diff(map[string]checkpoint.Checkpoint{"shardId-000000000007": want[1], "shardId-000000000008": want[2]}, got, cmpOpts); diff != "" {
		t.Errorf("Get after Commit (-want +got):\n%s", diff)
	}
}

func testCommitDefaultsUpdated(t *testing.T, s checkpoint.Store) {
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	before := time.Now().Truncate(time.Millisecond)
	mustCommit(t, s, l, checkpoint.Checkpoint{Stream: "s", ShardID: "x", Seq: "5"})
	after := time.Now()
	got := mustGet(t, s, "app", "s", "x")["x"]
	if got.Updated.Before(before) || got.Updated.After(after) {
		t.Errorf("Commit with no Updated stored %v, want the store's clock in [%v, %v]", got.Updated, before, after)
	}
}

func testLoadSorted(t *testing.T, s checkpoint.Store) {
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	// Written out of order; names whose order a suffix or separator
	// could upset ("a" before "a-b" and "a.b").
	keys := [][2]string{
		{"s2", "shard-b"}, {"s1", "shard-b"}, {"s1-x", "a"}, {"s1", "a.b"}, {"s1", "a"},
		{"s1", "a-b"}, {"s2", "shard-a"}, {"s1.x", "a"}, {"s1", "shard-a"},
	}
	for i, k := range keys {
		mustCommit(t, s, l, cp(k[0], k[1], fmt.Sprint(i)))
	}
	order := func(cps []checkpoint.Checkpoint) []string {
		var out []string
		for _, c := range cps {
			out = append(out, c.Stream+"/"+c.ShardID)
		}
		return out
	}
	all := []string{"s1/a", "s1/a-b", "s1/a.b", "s1/shard-a", "s1/shard-b", "s1-x/a", "s1.x/a", "s2/shard-a", "s2/shard-b"}
	if diff := cmp.Diff(all, order(mustLoad(t, s, "app", ""))); diff != "" {
		t.Errorf("Load of every stream (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[:5], order(mustLoad(t, s, "app", "s1"))); diff != "" {
		t.Errorf("Load of s1 (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(all[7:], order(mustLoad(t, s, "app", "s2"))); diff != "" {
		t.Errorf("Load of s2 (-want +got):\n%s", diff)
	}
	if got := mustLoad(t, s, "app", "s3"); len(got) != 0 {
		t.Errorf("Load of a stream with no checkpoints = %+v", got)
	}
}

func testAppsIsolated(t *testing.T, s checkpoint.Store) {
	l1 := mustAcquire(t, s, "app1", "run-1", stale, t0)
	l2 := mustAcquire(t, s, "app2", "run-2", stale, t0)
	if l1.Epoch != 1 || l2.Epoch != 1 {
		t.Errorf("epochs %d and %d, want 1 each", l1.Epoch, l2.Epoch)
	}
	mustCommit(t, s, l1, cp("stream", "shard-1", "1"))
	mustCommit(t, s, l2, cp("stream", "shard-1", "2"))
	mustCommit(t, s, l2, cp("stream", "shard-2", "3"))
	if got := mustLoad(t, s, "app1", ""); len(got) != 1 || got[0].Seq != "1" {
		t.Errorf("Load(app1) = %+v, want its one checkpoint", got)
	}
	if got := mustLoad(t, s, "app2", "stream"); len(got) != 2 || got[0].Seq != "2" || got[1].Seq != "3" {
		t.Errorf("Load(app2) = %+v, want its two checkpoints", got)
	}
	if got := mustLoad(t, s, "app3", ""); len(got) != 0 {
		t.Errorf("Load(app3) = %+v, want none", got)
	}
	// A prefix of an application's name is another application.
	if got := mustLoad(t, s, "app", ""); len(got) != 0 {
		t.Errorf("Load(app) = %+v, want none", got)
	}
}

func testGet(t *testing.T, s checkpoint.Store) {
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	mustCommit(t, s, l, cp("stream", "shard-1", "1"))
	mustCommit(t, s, l, cp("stream", "shard-2", "2"))
	mustCommit(t, s, l, cp("other", "shard-3", "3"))
	got := mustGet(t, s, "app", "stream", "shard-2", "shard-3", "shard-9", "shard-2")
	if len(got) != 1 || got["shard-2"].Seq != "2" || got["shard-2"].Stream != "stream" {
		t.Errorf("Get(shard-2, shard-3, shard-9, shard-2) = %+v, want shard-2 only", got)
	}
	if got := mustGet(t, s, "app", "stream"); len(got) != 0 {
		t.Errorf("Get of no shards = %+v", got)
	}
	if got := mustGet(t, s, "nobody", "stream", "shard-1"); len(got) != 0 {
		t.Errorf("Get of another application = %+v", got)
	}
	// More than a DynamoDB batch.
	var ids []string
	want := map[string]string{}
	for i := range 130 {
		id := fmt.Sprintf("shard-%03d", i)
		ids = append(ids, id)
		if i%2 == 0 {
			want[id] = fmt.Sprint(i)
			mustCommit(t, s, l, cp("many", id, want[id]))
		}
	}
	seqs := map[string]string{}
	for id, c := range mustGet(t, s, "app", "many", ids...) {
		if c.ShardID != id {
			t.Errorf("Get[%s] is the checkpoint of %s", id, c.ShardID)
		}
		seqs[id] = c.Seq
	}
	if diff := cmp.Diff(want, seqs); diff != "" {
		t.Errorf("Get of 130 shards, sequence numbers by shard (-want +got):\n%s", diff)
	}
}

func testSet(t *testing.T, s checkpoint.Store) {
	// With no lease, Set writes under epoch 0, and any lease commits over it.
	set := cp("stream", "shard-0", "5")
	set.Owner = "operator"
	if err := s.Set(ctxFor(t), "app", set); err != nil {
		t.Fatalf("Set with no lease: %v", err)
	}
	if got := mustGet(t, s, "app", "stream", "shard-0")["shard-0"]; got.Epoch != 0 || got.Seq != "5" || got.Owner != "operator" {
		t.Errorf("Set with no lease stored %+v, want seq 5 by operator under epoch 0", got)
	}
	a, b := takeover(t, s, "app")

	set = cp("stream", "shard-1", "10")
	set.SubSeq, set.Finished, set.Parents, set.Owner, set.Epoch = 3, true, []string{"p2", "p1"}, "operator", 77
	if err := s.Set(ctxFor(t), "app", set); err != nil {
		t.Fatalf("Set: %v", err)
	}
	want := set
	want.Epoch = b.Epoch
	if diff := cmp.Diff(want, mustGet(t, s, "app", "stream", "shard-1")["shard-1"], cmpOpts); diff != "" {
		t.Errorf("after Set (-want +got):\n%s", diff)
	}
	// A commit under an older epoch cannot go over it; the holder's can.
	if err := s.Commit(ctxFor(t), a, cp("stream", "shard-1", "11")); !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("Commit under the old epoch over a Set = %v, want ErrFenced", err)
	}
	mustCommit(t, s, b, cp("stream", "shard-1", "12"))
	if got := mustGet(t, s, "app", "stream", "shard-1")["shard-1"]; got.Seq != "12" || got.Owner != "b" {
		t.Errorf("after the holder's Commit: %+v", got)
	}
	// Set also goes over a checkpoint of the current epoch, and works on
	// a released lease (its epoch stays).
	if err := s.Release(ctxFor(t), b); err != nil {
		t.Fatal(err)
	}
	if err := s.Set(ctxFor(t), "app", cp("stream", "shard-1", "9")); err != nil {
		t.Fatalf("Set over the holder's checkpoint: %v", err)
	}
	if got := mustGet(t, s, "app", "stream", "shard-1")["shard-1"]; got.Seq != "9" || got.Epoch != b.Epoch {
		t.Errorf("after Set on a released lease: %+v, want seq 9 under epoch %d", got, b.Epoch)
	}
}

func testReset(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	if err := s.Reset(ctx, "app"); err != nil {
		t.Fatalf("Reset of an empty application: %v", err)
	}
	// With no lease, Reset writes none.
	if l, ok, err := s.ReadLease(ctx, "app", "stream"); err != nil || ok {
		t.Errorf("ReadLease after Reset of an empty application = %+v, %v, %v; want none", l, ok, err)
	}
	_, b := takeover(t, s, "app")
	x2, err := s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "stream2", Owner: "run-x", StaleAfter: stale}, t0)
	if err != nil {
		t.Fatal(err)
	}
	o := mustAcquire(t, s, "other", "run-o", stale, t0)
	for i := range 30 { // more than a DynamoDB batch
		mustCommit(t, s, b, cp("stream", fmt.Sprintf("shard-%d", i), "1"))
	}
	mustCommit(t, s, x2, cp("stream2", "shard-0", "1"))
	mustCommit(t, s, o, cp("stream", "shard-0", "2"))
	if err := s.Reset(ctx, "app"); err != nil {
		t.Fatalf("Reset: %v", err)
	}
	// Each lease is released under a new epoch, its floor.
	r := mustReadLease(t, s, "app")
	if r.App != "app" || r.Owner != "" || r.Epoch != b.Epoch+1 || r.Floor != r.Epoch {
		t.Errorf("ReadLease after Reset = %+v, want released under epoch %d, its floor", r, b.Epoch+1)
	}
	if r2, ok, err := s.ReadLease(ctx, "app", "stream2"); err != nil || !ok || r2.Owner != "" || r2.Epoch != x2.Epoch+1 || r2.Floor != r2.Epoch {
		t.Errorf("ReadLease of the second stream after Reset = %+v, %v, %v, want released under epoch %d, its floor", r2, ok, err, x2.Epoch+1)
	}
	if got := mustLoad(t, s, "app", ""); len(got) != 0 {
		t.Errorf("Load after Reset = %+v", got)
	}
	if got := mustGet(t, s, "app", "stream", "shard-0"); len(got) != 0 {
		t.Errorf("Get after Reset = %+v", got)
	}
	// The other application keeps everything.
	if diff := cmp.Diff(o, mustReadLease(t, s, "other"), cmpOpts); diff != "" {
		t.Errorf("the other application's lease after Reset (-want +got):\n%s", diff)
	}
	if got := mustLoad(t, s, "other", ""); len(got) != 1 || got[0].Seq != "2" {
		t.Errorf("the other application's checkpoints after Reset: %+v", got)
	}
	// The holder it cut off has lost its lease, and a retried Release
	// does not take the new epoch's release for its own.
	if _, err := s.Heartbeat(ctx, b, procid.Self(), t0); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Heartbeat of a lease from before Reset = %v, want ErrLeaseLost", err)
	}
	if err := s.Release(ctx, b); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Release of a lease from before Reset = %v, want ErrLeaseLost", err)
	}
	if got := mustReadLease(t, s, "app"); got.Owner != "" || got.Epoch != b.Epoch+1 {
		t.Errorf("the lease after refused Heartbeat and Release = %+v, want released under epoch %d", got, b.Epoch+1)
	}
	// Should it still commit, under its old epoch, the commit is refused
	// or does not count: no read sees it, before or after the next job
	// takes the name (a reset holds).
	if err := s.Commit(ctx, b, cp("stream", "shard-0", "late")); err != nil && !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("Commit by the cut-off holder after Reset = %v, want nil or ErrFenced", err)
	}
	if got := mustLoad(t, s, "app", "stream"); len(got) != 0 {
		t.Errorf("Load after a cut-off holder's commit = %+v, want nothing", got)
	}
	if got := mustGet(t, s, "app", "stream", "shard-0"); len(got) != 0 {
		t.Errorf("Get after a cut-off holder's commit = %+v, want nothing", got)
	}
	n := mustAcquire(t, s, "app", "run-n", stale, t0)
	if n.Epoch != b.Epoch+2 {
		t.Errorf("Acquire after Reset: epoch %d, want %d", n.Epoch, b.Epoch+2)
	}
	if got := mustLoad(t, s, "app", "stream"); len(got) != 0 {
		t.Errorf("Load by the next job after a cut-off holder's commit = %+v, want nothing", got)
	}
	mustCommit(t, s, n, cp("stream", "shard-0", "3"))
	if got := mustGet(t, s, "app", "stream", "shard-0")["shard-0"]; got.Seq != "3" || got.Epoch != n.Epoch || got.Owner != "run-n" {
		t.Errorf("after the next job's Commit: %+v, want seq 3 by run-n under epoch %d", got, n.Epoch)
	}
	if err := s.Commit(ctx, b, cp("stream", "shard-0", "later")); !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("Commit by the cut-off holder over the next job's = %v, want ErrFenced", err)
	}
	// A Reset of a held lease releases it too; the new epoch is above the
	// holder's, whoever holds it.
	if err := s.Reset(ctx, "app"); err != nil {
		t.Fatalf("Reset of a held lease: %v", err)
	}
	if got := mustReadLease(t, s, "app"); got.Owner != "" || got.Epoch != n.Epoch+1 {
		t.Errorf("ReadLease after the second Reset = %+v, want released under epoch %d", got, n.Epoch+1)
	}
	if _, err := s.Heartbeat(ctx, n, procid.Self(), t0); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("Heartbeat after the second Reset = %v, want ErrLeaseLost", err)
	}
	if got := mustLoad(t, s, "app", ""); len(got) != 0 {
		t.Errorf("Load after the second Reset = %+v", got)
	}
	// A Reset of a released lease releases it under a new epoch again.
	if err := s.Reset(ctx, "app"); err != nil {
		t.Fatalf("Reset of a released lease: %v", err)
	}
	if got := mustReadLease(t, s, "app"); got.Owner != "" || got.Epoch != n.Epoch+2 {
		t.Errorf("ReadLease after the third Reset = %+v, want released under epoch %d", got, n.Epoch+2)
	}
}

func testConcurrentAcquire(t *testing.T, s checkpoint.Store) {
	const n = 8
	var wg sync.WaitGroup
	leases := make([]checkpoint.Lease, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			leases[i], errs[i] = s.Acquire(ctxFor(t), checkpoint.Lease{App: "app", Stream: "stream", Owner: fmt.Sprintf("run-%d", i), Job: "job", StaleAfter: stale}, t0)
		})
	}
	wg.Wait()
	var winners []checkpoint.Lease
	for i, err := range errs {
		var held *checkpoint.HeldError
		switch {
		case err == nil:
			winners = append(winners, leases[i])
		case errors.As(err, &held):
		default:
			t.Errorf("Acquire by run-%d: %v, want success or ErrLeaseHeld", i, err)
		}
	}
	if len(winners) != 1 {
		t.Fatalf("%d of %d concurrent Acquires won (%+v), want exactly 1", len(winners), n, winners)
	}
	if winners[0].Epoch != 1 {
		t.Errorf("winner's epoch %d, want 1", winners[0].Epoch)
	}
	for i, err := range errs {
		var held *checkpoint.HeldError
		if errors.As(err, &held) && held.Lease.Owner != winners[0].Owner {
			t.Errorf("run-%d was told %s holds it; %s won", i, held.Lease.Owner, winners[0].Owner)
		}
	}
	if diff := cmp.Diff(winners[0], mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("ReadLease after the race (-want +got):\n%s", diff)
	}
	// A race to take over a stale lease: one winner again, epoch 2.
	at := t0.Add(stale)
	for i := range n {
		wg.Go(func() {
			leases[i], errs[i] = s.Acquire(ctxFor(t), checkpoint.Lease{App: "app", Stream: "stream", Owner: fmt.Sprintf("new-%d", i), Job: "job", StaleAfter: stale}, at)
		})
	}
	wg.Wait()
	winners = winners[:0]
	for i, err := range errs {
		if err == nil {
			winners = append(winners, leases[i])
		} else if !errors.Is(err, checkpoint.ErrLeaseHeld) {
			t.Errorf("takeover by new-%d: %v", i, err)
		}
	}
	if len(winners) != 1 || winners[0].Epoch != 2 {
		t.Fatalf("concurrent takeovers: winners %+v, want exactly 1 under epoch 2", winners)
	}
}

func testConcurrentCommits(t *testing.T, s checkpoint.Store) {
	const goroutines, commits = 8, 10
	l := mustAcquire(t, s, "app", "run-a", stale, t0)
	var wg sync.WaitGroup
	errs := make(chan error, goroutines*commits*2)
	for g := range goroutines {
		wg.Go(func() {
			for i := range commits {
				seq := fmt.Sprintf("%d%03d", g+1, i)
				// Each goroutine its own shard, and all one shared shard.
				for _, shard := range []string{fmt.Sprintf("shard-%d", g), "shared"} {
					if err := s.Commit(ctxFor(t), l, cp("stream", shard, seq)); err != nil {
						errs <- fmt.Errorf("goroutine %d, commit %d to %s: %w", g, i, shard, err)
					}
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got := mustLoad(t, s, "app", "stream")
	if len(got) != goroutines+1 {
		t.Fatalf("Load gave %d checkpoints, want %d: %+v", len(got), goroutines+1, got)
	}
	for g := range goroutines {
		want := fmt.Sprintf("%d%03d", g+1, commits-1)
		if c := got[g]; c.ShardID != fmt.Sprintf("shard-%d", g) || c.Seq != want || c.Epoch != l.Epoch || c.Owner != l.Owner {
			t.Errorf("checkpoint %d = %+v, want shard-%d at %s", g, c, g, want)
		}
	}
	shared := got[goroutines]
	var ok bool
	for g := range goroutines {
		ok = ok || shared.Seq == fmt.Sprintf("%d%03d", g+1, commits-1)
	}
	if shared.ShardID != "shared" || !ok {
		t.Errorf("shared checkpoint = %+v, want some goroutine's last commit", shared)
	}
}

func testStreamsLeases(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	a := mustAcquire(t, s, "app", "run-a", stale, t0)
	b, err := s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "other", Owner: "run-b", Job: "job of run-b", StaleAfter: stale}, t0)
	if err != nil {
		t.Fatalf("Acquire of a second stream of the application by another run: %v", err)
	}
	got, err := s.Leases(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]checkpoint.Lease{b, a}, got, cmpOpts); diff != "" {
		t.Errorf("Leases (-want +got):\n%s", diff)
	}
	mustCommit(t, s, a, cp("stream", "shard-0", "1"))
	mustCommit(t, s, b, cp("other", "shard-0", "2"))
	if got := mustLoad(t, s, "app", ""); len(got) != 2 {
		t.Errorf("Load of both streams = %+v", got)
	}
	if none, err := s.Leases(ctx, "nobody"); err != nil || len(none) != 0 {
		t.Errorf("Leases of an unknown application = %+v, %v", none, err)
	}
}

func testStopRequest(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	if _, err := s.RequestStop(ctx, "app", ""); !errors.Is(err, checkpoint.ErrNotHeld) {
		t.Errorf("RequestStop with no lease = %v, want ErrNotHeld", err)
	}
	a := mustAcquire(t, s, "app", "run-a", stale, t0)
	if a.StopRequested() {
		t.Fatalf("a new lease has a stop request: %+v", a)
	}
	asked, err := s.RequestStop(ctx, "app", "")
	if err != nil || len(asked) != 1 || !asked[0].StopRequested() || asked[0].Owner != "run-a" {
		t.Fatalf("RequestStop = %+v, %v; want run-a's lease asked", asked, err)
	}
	got, err := s.Heartbeat(ctx, a, procid.Self(), t0.Add(time.Second))
	if err != nil || !got.StopRequested() {
		t.Errorf("Heartbeat after RequestStop = %+v, %v; want the stop request", got, err)
	}
	// Released, the request is gone with the holder; the next holder
	// starts without one.
	if err := s.Release(ctx, a); err != nil {
		t.Fatal(err)
	}
	if _, err := s.RequestStop(ctx, "app", "stream"); !errors.Is(err, checkpoint.ErrNotHeld) {
		t.Errorf("RequestStop of a released lease = %v, want ErrNotHeld", err)
	}
	n := mustAcquire(t, s, "app", "run-n", stale, t0.Add(2*time.Second))
	if n.StopRequested() || mustReadLease(t, s, "app").StopRequested() {
		t.Errorf("the next holder's lease has a stop request: %+v", n)
	}
}

func testMarkSink(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	want := checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-a", StaleAfter: stale, AfterSink: true}
	a, err := s.Acquire(ctx, want, t0)
	if err != nil {
		t.Fatal(err)
	}
	if !a.AfterSink || a.SinkAttached() {
		t.Fatalf("Acquire = %+v, want AfterSink and no sink yet", a)
	}
	if err := s.MarkSink(ctx, a); err != nil {
		t.Fatalf("MarkSink: %v", err)
	}
	if got := mustReadLease(t, s, "app"); !got.SinkAttached() || !got.AfterSink {
		t.Errorf("lease after MarkSink = %+v, want the sink attached", got)
	}
	// A new holder starts without it, and an old epoch cannot mark it.
	b := mustAcquire(t, s, "app", "run-b", stale, t0.Add(stale))
	if b.SinkAttached() || mustReadLease(t, s, "app").SinkAttached() {
		t.Errorf("the next holder's lease has the sink attached: %+v", b)
	}
	if err := s.MarkSink(ctx, a); !errors.Is(err, checkpoint.ErrNotHeld) {
		t.Errorf("MarkSink under an old epoch = %v, want ErrNotHeld", err)
	}
}

func testHeartbeatProcs(t *testing.T, s checkpoint.Store) {
	ctx := ctxFor(t)
	me := procid.Self()
	other := me
	other.PID++
	a, err := s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "stream", Owner: "run-a", StaleAfter: stale, Procs: []checkpoint.Proc{{ID: me}}}, t0)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.Procs) != 1 || a.Procs[0].ID != me || !a.Procs[0].Heartbeat.Equal(t0) {
		t.Fatalf("Acquire's processes = %+v, want this one at t0", a.Procs)
	}
	at := t0.Add(time.Second)
	got, err := s.Heartbeat(ctx, a, other, at)
	if err != nil || len(got.Procs) != 2 {
		t.Fatalf("Heartbeat by a second process = %+v, %v; want two processes", got, err)
	}
	// A process silent for more than 10 StaleAfters is dropped.
	late := t0.Add(11 * stale)
	got, err = s.Heartbeat(ctx, got, other, late)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]checkpoint.Proc{{ID: other, Heartbeat: late}}, got.Procs, cmpOpts); diff != "" {
		t.Errorf("processes after a long silence of one (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(got, mustReadLease(t, s, "app"), cmpOpts); diff != "" {
		t.Errorf("Heartbeat's lease and ReadLease differ (-returned +read):\n%s", diff)
	}
}

func testTakeoverDead(t *testing.T, s checkpoint.Store) {
	if runtime.GOOS != "linux" {
		t.Log("processes are provably dead on Linux only: checking that a live lease is kept")
	}
	ctx := ctxFor(t)
	dead := procid.Self()
	dead.Start++ // this PID, started at another time: a process that ended
	for _, tc := range []struct {
		name     string
		procs    []procid.ID
		takeover bool
	}{
		{"no processes recorded", nil, false},
		{"this process", []procid.ID{procid.Self()}, false},
		{"a dead process and a live one", []procid.ID{dead, procid.Self()}, false},
		{"a dead process", []procid.ID{dead}, runtime.GOOS == "linux"},
	} {
		app := "app-" + strings.ReplaceAll(tc.name, " ", "-")
		want := checkpoint.Lease{App: app, Stream: "stream", Owner: "run-a", StaleAfter: stale}
		for _, id := range tc.procs {
			want.Procs = append(want.Procs, checkpoint.Proc{ID: id})
		}
		a, err := s.Acquire(ctx, want, t0)
		if err != nil {
			t.Fatal(err)
		}
		b, err := s.Acquire(ctx, checkpoint.Lease{App: app, Stream: "stream", Owner: "run-b", StaleAfter: stale}, t0.Add(time.Millisecond))
		switch {
		case tc.takeover && (err != nil || b.Epoch != a.Epoch+1):
			t.Errorf("%s: Acquire of a live lease = %+v, %v; want it taken over under epoch %d", tc.name, b, err, a.Epoch+1)
		case !tc.takeover && !errors.Is(err, checkpoint.ErrLeaseHeld):
			t.Errorf("%s: Acquire of a live lease = %+v, %v; want ErrLeaseHeld", tc.name, b, err)
		}
	}
	// A process that stopped heartbeating StaleAfter ago does not count:
	// the lease is stale by then anyway.
}
