package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/commit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// stepKey marks the context of the checkpoint steps a test runs, so that
// flakyStore counts their calls apart from the committer's background
// writes.
type stepKey struct{}

// flakyStore is a checkpoint store whose Get and Commit fail while
// failing is set; otherwise Get finds nothing and Commit succeeds. It
// counts the calls made from checkpoint steps (stepKey). Other calls
// panic (the tests make none).
type flakyStore struct {
	checkpoint.Store
	failing       atomic.Bool
	gets, commits atomic.Int64
	background    atomic.Int64 // the committer's own Commit calls
}

var errStoreDown = errors.New("the store does not answer")

func (s *flakyStore) Get(ctx context.Context, _, _ string, _ []string) (map[string]checkpoint.Checkpoint, error) {
	if ctx.Value(stepKey{}) != nil {
		s.gets.Add(1)
	}
	if s.failing.Load() {
		return nil, errStoreDown
	}
	return map[string]checkpoint.Checkpoint{}, nil
}

func (s *flakyStore) Commit(ctx context.Context, _ checkpoint.Lease, _ checkpoint.Checkpoint) error {
	if ctx.Value(stepKey{}) != nil {
		s.commits.Add(1)
	} else {
		s.background.Add(1)
	}
	if s.failing.Load() {
		return errStoreDown
	}
	return nil
}

func (s *flakyStore) ReadLease(ctx context.Context, _, _ string) (checkpoint.Lease, bool, error) {
	if ctx.Value(stepKey{}) != nil {
		s.gets.Add(1)
	}
	if s.failing.Load() {
		return checkpoint.Lease{}, false, errStoreDown
	}
	return checkpoint.Lease{}, false, nil
}

func (s *flakyStore) calls() int64 { return s.gets.Load() + s.commits.Load() }

// storeReader is a readFn on st whose run holds a committer already (as
// where the discovery step took the lease), and a context marked as the
// steps'.
func storeReader(t *testing.T, st checkpoint.Store, afterSink bool) (*readFn, *readstate.Run, context.Context) {
	fn := &readFn{}
	fn.store = st
	fn.Spec.Checkpoints.App = "app"
	fn.Spec.Checkpoints.AfterSink = afterSink
	fn.stream.Name = "stream"
	run := readstate.NewRegistry().Run("read", "run")
	c, _ := run.Committer(func() (*commit.Committer, error) {
		return commit.New(st, checkpoint.Lease{App: "app", Stream: "stream", Owner: "run", Epoch: 1, AfterSink: afterSink}, fn.Spec.commitConfig(run, "stream")), nil
	})
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		c.Close(ctx)
	})
	return fn, run, context.WithValue(context.Background(), stepKey{}, true)
}

// simShard is a shard as a runner resumes it: its restriction's tracker
// and when its last checkpoint step asked to resume.
type simShard struct {
	d   shardDesc
	rt  *restriction.Tracker
	due time.Time
}

// stepped is one checkpoint step a runner ran: on which shard, the
// store calls it made, and how it ended.
type stepped struct {
	shard int
	calls int64
	cont  sdf.ProcessContinuation // nil: the step let the call read
}

// resumeFor runs the shards' checkpoint steps as a runner resumes them,
// one at a time (as Prism does), each when its last step asked, for
// window or until every shard stopped. It returns the steps run.
func resumeFor(t *testing.T, fn *readFn, run *readstate.Run, ctx context.Context, st *flakyStore, shards []*simShard, window time.Duration) []stepped {
	t.Helper()
	var out []stepped
	end := time.Now().Add(window)
	for {
		next := -1
		for i, s := range shards {
			if s != nil && (next < 0 || s.due.Before(shards[next].due)) {
				next = i
			}
		}
		if next < 0 || shards[next].due.After(end) {
			return out
		}
		time.Sleep(time.Until(shards[next].due))
		s := shards[next]
		before := st.calls()
		_, cont, err := fn.checkpointStep(ctx, run, s.rt, s.d)
		if err != nil {
			t.Fatalf("shard %s: checkpoint step: %v", s.d.ShardID, err)
		}
		var pc sdf.ProcessContinuation
		if cont != nil {
			pc = *cont
		}
		out = append(out, stepped{next, st.calls() - before, pc})
		switch {
		case pc == nil || !pc.ShouldResume():
			shards[next] = nil // reads, or stopped
		default:
			s.due = time.Now().Add(pc.ResumeDelay())
		}
	}
}

// TestChildrenAskTheirParentsWithTheRunsBackoff: 64 children of split
// shards wait for their parents through the store. While the store fails,
// they ask it with one backoff for the run (100 ms up to 5 s), not each
// every 500 ms; once it answers ("not yet": a parent is being read),
// the first question after the backoff's due ends it, and every child
// asks again at the parent poll.
func TestChildrenAskTheirParentsWithTheRunsBackoff(t *testing.T) {
	const (
		children = 64
		outage   = 3 * time.Second
	)
	st := &flakyStore{}
	fn, run, ctx := storeReader(t, st, false)
	var shards []*simShard
	now := time.Now()
	for i := range children {
		d := shardDesc{RunID: "run", ShardID: fmt.Sprintf("shardId-%012d", i+2), ParentIDs: []string{"shardId-000000000000", "shardId-000000000001"}}
		shards = append(shards, &simShard{d: d, rt: restriction.NewTracker(restriction.Restriction{ShardID: d.ShardID, Start: restriction.Position{Kind: restriction.TrimHorizon}}), due: now})
	}
	st.failing.Store(true)
	failed := resumeFor(t, fn, run, ctx, st, shards, outage)
	asked := st.gets.Load()
	st.failing.Store(false)
	// The run's next question is due within storeRetry.Max.
	healed := storeRetry.Max + 1500*time.Millisecond
	answered := resumeFor(t, fn, run, ctx, st, shards, healed)
	t.Logf("store failing for %v: %d steps of %d children asked it %d times; then answering for %v: %d steps, %d asks", outage, len(failed), children, asked, healed, len(answered), st.gets.Load()-asked)
	// One backoff from 100 ms doubling to 5 s: about 6 to 10 questions in
	// 3 s; each child every 500 ms makes 64 x 6.
	if asked > 32 {
		t.Errorf("%d children asked the failing store %d times in %v, want at most 32 (one backoff for the run)", children, asked, outage)
	}
	if asked == 0 {
		t.Fatalf("no child asked the store in %v", outage)
	}
	first := -1
	for i, s := range answered {
		if s.calls > 0 && first < 0 {
			first = i
		}
		if first >= 0 && s.calls == 0 {
			t.Errorf("child %d did not ask the store, which answered before (step %d of %d after it answered): the backoff outlived the outage", s.shard, i, len(answered))
		}
		if s.calls > 0 && (s.cont == nil || s.cont.ResumeDelay() != parentStorePoll) {
			t.Errorf("child %d, told \"not yet\", resumes in %+v, want the parent poll (%v)", s.shard, s.cont, parentStorePoll)
		}
	}
	if first < 0 {
		t.Fatalf("no child asked the store in %v once it answered", healed)
	}
}

// TestEndWritesBackOffTogether: 64 shards closing at once (a stop, the
// end of a bounded read) write their ends while the store fails. The
// first failure is retried within storeRetry.Base (not storeRetry.Max),
// the shards' writes follow one backoff for the run rather than one
// write per shard per 5 s, the committer's own retries of those writes
// follow the same one, and every shard ends once the store answers.
// Both the final position (c.Final) and, with WithCommitsAfterSink, the
// end recorded for CommitWhenDone (c.EndAfterSink).
func TestEndWritesBackOffTogether(t *testing.T) {
	const (
		shardCount = 64
		outage     = 3 * time.Second
	)
	for _, afterSink := range []bool{false, true} {
		t.Run(fmt.Sprintf("afterSink=%v", afterSink), func(t *testing.T) {
			st := &flakyStore{}
			fn, run, ctx := storeReader(t, st, afterSink)
			var shards []*simShard
			now := time.Now()
			for i := range shardCount {
				d := shardDesc{RunID: "run", ShardID: fmt.Sprintf("shardId-%012d", i)}
				r := restriction.Restriction{ShardID: d.ShardID, Start: restriction.Position{Kind: restriction.TrimHorizon}, Bounded: true, Closing: true, ShardEnded: true}
				shards = append(shards, &simShard{d: d, rt: restriction.NewTracker(r), due: now})
			}
			st.failing.Store(true)
			failed := resumeFor(t, fn, run, ctx, st, shards, outage)
			calls, background := st.calls(), st.background.Load()
			st.failing.Store(false)
			resumeFor(t, fn, run, ctx, st, shards, storeRetry.Max+time.Second)
			t.Logf("store failing for %v: %d steps of %d closing shards made %d store calls (and the committer %d writes of its own); first resume in %v", outage, len(failed), shardCount, calls, background, failed[0].cont.ResumeDelay())
			if d := failed[0].cont.ResumeDelay(); d > storeRetry.Base {
				t.Errorf("a first failed end write is retried in %v, want at most %v", d, storeRetry.Base)
			}
			if calls+background > 32 {
				t.Errorf("%d closing shards called the failing store %d times in %v, and the committer %d, want at most 32 in all (one backoff for the run's writes)", shardCount, calls, outage, background)
			}
			for i, s := range shards {
				if s != nil {
					t.Errorf("shard %d did not end within %v of the store answering", i, storeRetry.Max+time.Second)
				}
			}
		})
	}
}

// TestCommitWhenDoneLogsWithinOneLimit: a runner may make a DoFn
// instance per bundle. CommitWhenDone's instances that find the store
// failing log the first line, then at most one per 10 s between them,
// not a first line each.
func TestCommitWhenDoneLogsWithinOneLimit(t *testing.T) {
	const instances = 8
	st := &flakyStore{}
	st.failing.Store(true)
	lines := countWarnings(t, "CommitWhenDone: reading shard 9 of application onelimit")
	ctx := context.Background()
	spec := checkpoint.Spec{Kind: checkpoint.Dir, Path: t.TempDir()}
	for range instances {
		fn := &sinkCommitFn{App: "onelimit", Store: spec}
		fn.store = st
		if err := fn.commit(ctx, "stream", "9", "1"); err != nil {
			t.Fatal(err)
		}
	}
	if n := lines.Load(); n != 1 {
		t.Errorf("%d instances of CommitWhenDone logged %d lines about the failing store, want 1 (the first; the next after 10 s)", instances, n)
	}
}

// TestCommitWhenDoneLeaseChecksLogWithinOneLimit: CommitWhenDone's first
// step checks the Read's lease in each of its instances; while the store
// fails, their retries log within the transform's one limit (the first
// line, then one per 10 s), not a line per retry per instance.
func TestCommitWhenDoneLeaseChecksLogWithinOneLimit(t *testing.T) {
	const instances = 3
	st := &flakyStore{}
	st.failing.Store(true)
	lines := countWarnings(t, "reading the lease of application leaselimit")
	spec := checkpoint.Spec{Kind: checkpoint.Dir, Path: t.TempDir()}
	for range instances {
		fn := &positionFn{App: "leaselimit", Store: spec, StartupTimeout: 500 * time.Millisecond}
		fn.store, fn.checked, fn.logs = st, map[string]int64{}, sinkLog(fn.App, fn.Store)
		if err := fn.check(context.Background(), "stream"); !errors.Is(err, errStoreDown) {
			t.Fatalf("check while the store fails: %v, want %v", err, errStoreDown)
		}
	}
	if n := lines.Load(); n != 1 {
		t.Errorf("%d instances retrying the lease for 500 ms each logged %d lines, want 1 (the first; the next after 10 s)", instances, n)
	}
}

// countWarnings counts, until the test ends, the WARN lines logged that
// contain about.
func countWarnings(t *testing.T, about string) *atomic.Int64 {
	var lines atomic.Int64
	prev := slog.Default()
	slog.SetDefault(slog.New(countingHandler{prev.Handler(), &lines, about}))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return &lines
}

// countingHandler passes records on and counts the WARN lines that
// contain about.
type countingHandler struct {
	slog.Handler
	n     *atomic.Int64
	about string
}

func (h countingHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, h.about) {
		h.n.Add(1)
	}
	return h.Handler.Handle(ctx, r)
}

// TestChildOfAKnownEndStartsWhileTheStoreFails: a child whose parent this
// process wrote as read to its end starts at once, without asking the
// store, even while the run's store reads back off; a child of a parent
// it does not know waits the backoff out.
func TestChildOfAKnownEndStartsWhileTheStoreFails(t *testing.T) {
	st := &flakyStore{}
	fn, run, ctx := storeReader(t, st, false)
	parent := shardDesc{RunID: "run", ShardID: "shardId-000000000000"}
	closing := restriction.Restriction{ShardID: parent.ShardID, Start: restriction.Position{Kind: restriction.TrimHorizon}, Closing: true, ShardEnded: true}
	if _, cont, err := fn.checkpointStep(ctx, run, restriction.NewTracker(closing), parent); err != nil || cont == nil || (*cont).ShouldResume() {
		t.Fatalf("closing the parent: continuation %v, error %v; want a stop", cont, err)
	}
	st.failing.Store(true)
	child := func(id string, parents ...string) (*sdf.ProcessContinuation, int64) {
		d := shardDesc{RunID: "run", ShardID: id, ParentIDs: parents}
		r := restriction.Restriction{ShardID: id, Start: restriction.Position{Kind: restriction.TrimHorizon}}
		before := st.calls()
		_, cont, err := fn.checkpointStep(ctx, run, restriction.NewTracker(r), d)
		if err != nil {
			t.Fatalf("child %s: %v", id, err)
		}
		return cont, st.calls() - before
	}
	if cont, calls := child("shardId-000000000002", "shardId-000000000001"); cont == nil || !(*cont).ShouldResume() || calls != 1 {
		t.Fatalf("child of an unknown parent: continuation %v after %d store calls; want a resume after 1", cont, calls)
	}
	if w := run.StoreRead.Wait(time.Now()); w <= 0 {
		t.Fatal("the run's store reads do not back off after a failed question")
	}
	if cont, calls := child("shardId-000000000003", parent.ShardID); cont != nil || calls != 0 {
		t.Errorf("child of a parent ended here: continuation %v after %d store calls; want it to read at once, with none", cont, calls)
	}
}
