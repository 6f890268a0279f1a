package kinesisio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// storeEnv is a checkpoint store for a test: a directory, or a table on
// dynalite.
type storeEnv struct {
	store kinesisio.CheckpointStore
	open  func(t *testing.T) checkpoint.Store
}

func newStoreEnv(t *testing.T, kind string) storeEnv {
	t.Helper()
	switch kind {
	case "dir":
		dir := t.TempDir()
		return storeEnv{
			store: kinesisio.LocalDirectory(dir),
			open: func(t *testing.T) checkpoint.Store {
				st, err := checkpoint.NewDir(dir)
				if err != nil {
					t.Fatal(err)
				}
				return st
			},
		}
	case "dynamodb":
		e := emulators.Require(t, emulators.Dynalite)
		table := testTable(t)
		return storeEnv{
			store: kinesisio.DynamoDBTable(table, kinesisio.Connection{Endpoint: e.Endpoint, Region: kinesistest.Region}),
			open: func(t *testing.T) checkpoint.Store {
				ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
				defer cancel()
				st, err := checkpoint.NewDynamoDB(ctx, table, awsclient.Settings{Region: kinesistest.Region, Endpoint: e.Endpoint})
				if err != nil {
					t.Fatal(err)
				}
				return st
			},
		}
	}
	t.Fatalf("unknown store kind %q", kind)
	return storeEnv{}
}

// TestCheckpointsRestartReadsEachRecordOnce: a bounded job under an
// application name, stopped and started again with new records in between,
// reads each record exactly once over both runs, on both emulators and
// both stores; the second run reads nothing of the first.
func TestCheckpointsRestartReadsEachRecordOnce(t *testing.T) {
	for _, tc := range []struct {
		kind  emulators.Kind
		store string
	}{
		{emulators.Kinesalite, "dir"},
		{emulators.Kinesalite, "dynamodb"},
		{emulators.KinesisMock, "dir"},
	} {
		t.Run(string(tc.kind)+"/"+tc.store, func(t *testing.T) {
			e := newEnv(t, tc.kind, 3)
			st := newStoreEnv(t, tc.store)
			var all []kinesistest.Put
			var read []kinesisio.Record
			for i, n := range []int{12, 7, 0, 5} {
				puts := e.putPerShard(t, n, "run"+string(rune('a'+i)))
				all = append(all, puts...)
				p, s := beam.NewPipelineWithRoot()
				opts := e.opts(kinesisio.WithCheckpoints("restart", st.store), kinesisio.WithMaxReadTime(10*time.Second))
				if len(puts) > 0 {
					opts = append(opts, kinesisio.WithMaxRecords(int64(len(puts))))
				}
				got := collect(s, kinesisio.Read(s, e.stream, opts...))
				res := run(t, p)
				recs := got()
				if len(recs) != len(puts) {
					t.Errorf("run %d: read %d records, want the %d put since the last run", i, len(recs), len(puts))
				}
				read = append(read, recs...)
				if len(puts) > 0 && counter(res, "read_commits") == 0 {
					t.Errorf("run %d: read_commits = 0", i)
				}
			}
			checkExactlyOnce(t, read, all)
			cps, err := st.open(t).Load(context.Background(), "restart", e.stream)
			if err != nil {
				t.Fatal(err)
			}
			last := map[string]string{}
			for _, p := range all {
				if seqLess(last[p.ShardID], p.SequenceNumber) || last[p.ShardID] == "" {
					last[p.ShardID] = p.SequenceNumber
				}
			}
			if len(cps) != len(last) {
				t.Errorf("%d checkpoints, want one per shard (%d): %+v", len(cps), len(last), cps)
			}
			for _, cp := range cps {
				if cp.Seq != last[cp.ShardID] || cp.Finished {
					t.Errorf("shard %s: checkpoint at %s (finished %v), want its last record %s, not finished", cp.ShardID, cp.Seq, cp.Finished, last[cp.ShardID])
				}
			}
		})
	}
}

// TestCheckpointsResumeAcrossReshard: a shard split between two runs is
// resumed after its checkpoint and read to its end; its children start at
// their beginning once the store records the parent as finished.
func TestCheckpointsResumeAcrossReshard(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 1)
			st := newStoreEnv(t, "dir")
			readRun := func(n int) []kinesisio.Record {
				p, s := beam.NewPipelineWithRoot()
				got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("reshard", st.store), kinesisio.WithMaxRecords(int64(n)), kinesisio.WithMaxReadTime(20*time.Second))...))
				run(t, p)
				return got()
			}
			first := e.putPerShard(t, 10, "before")
			read := readRun(len(first))
			e.split(t)
			second := e.putToChildren(t, 12)
			read2 := readRun(len(second))
			if len(read2) != len(second) {
				t.Errorf("second run read %d records, want the %d put to the children", len(read2), len(second))
			}
			checkExactlyOnce(t, append(read, read2...), append(first, second...))
			cps, err := st.open(t).Load(context.Background(), "reshard", e.stream)
			if err != nil {
				t.Fatal(err)
			}
			parent := first[0].ShardID
			for _, cp := range cps {
				if cp.ShardID == parent && (!cp.Finished || cp.Seq != first[len(first)-1].SequenceNumber) {
					t.Errorf("parent %s: %+v, want finished at its last record %s", parent, cp, first[len(first)-1].SequenceNumber)
				}
			}
		})
	}
}

// TestCheckpointsLease: while a job reads under a name, a second job under
// that name fails at once with a message naming the holder; once the first
// ends (a bounded read releases its lease), a third starts.
func TestCheckpointsLease(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	st := newStoreEnv(t, "dir")
	build := func(d time.Duration) *beam.Pipeline {
		p, s := beam.NewPipelineWithRoot()
		collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("lease", st.store), kinesisio.WithMaxReadTime(d))...))
		return p
	}
	done := runAsync(build(6 * time.Second))
	store := st.open(t)
	deadline := time.Now().Add(30 * time.Second)
	for {
		l, ok, err := store.ReadLease(context.Background(), "lease", e.stream)
		if err != nil {
			t.Fatal(err)
		}
		if ok && l.Live(time.Now()) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the first job took no lease within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	start := time.Now()
	err := await(t, runAsync(build(time.Second)), time.Minute)
	if err == nil || !strings.Contains(err.Error(), "held by run") || !strings.Contains(err.Error(), "kinesischeckpoints") {
		t.Errorf("second job: err = %v, want one naming the holder and how to release it", err)
	}
	t.Logf("second job failed after %v", time.Since(start))
	if err := await(t, done, time.Minute); err != nil {
		t.Fatalf("first job: %v", err)
	}
	if l, ok, err := store.ReadLease(context.Background(), "lease", e.stream); err != nil || !ok || l.Owner != "" {
		t.Errorf("after the first job: lease %+v, %v, %v; want released", l, ok, err)
	}
	if err := await(t, runAsync(build(time.Second)), time.Minute); err != nil {
		t.Errorf("third job: %v", err)
	}
}

// TestCheckpointsStaleLeaseTakenOver: a lease whose holder stopped
// heartbeating (a crashed job) is taken over, with a new epoch.
func TestCheckpointsStaleLeaseTakenOver(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	st := newStoreEnv(t, "dir")
	store := st.open(t)
	old, err := store.Acquire(context.Background(), checkpoint.Lease{App: "stale", Stream: e.stream, Owner: "crashed-run", Job: "a job that crashed", StaleAfter: 2 * time.Second}, time.Now().Add(-time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	p, s := beam.NewPipelineWithRoot()
	collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("stale", st.store), kinesisio.WithMaxReadTime(time.Second))...))
	run(t, p)
	l, ok, err := store.ReadLease(context.Background(), "stale", e.stream)
	if err != nil || !ok || l.Epoch != old.Epoch+1 || l.Owner != "" {
		t.Errorf("lease after the job: %+v, %v, %v; want epoch %d, released", l, ok, err, old.Epoch+1)
	}
}

// TestCheckpointsLostLeaseStopsTheJob: a job whose lease is taken over
// (here by hand, as the command's release and a new job would) fails,
// and cannot overwrite the checkpoint written under the newer lease.
func TestCheckpointsLostLeaseStopsTheJob(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	st := newStoreEnv(t, "dir")
	puts := e.putPerShard(t, 5, "lost")
	p, s := beam.NewPipelineWithRoot()
	collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("lost", st.store), kinesisio.WithCommitInterval(100*time.Millisecond), kinesisio.WithMaxReadTime(time.Minute), kinesisio.WithLeaseTimeout(time.Second))...))
	done := runAsync(p)
	store := st.open(t)
	deadline := time.Now().Add(30 * time.Second)
	var held checkpoint.Lease
	for {
		cps, err := store.Load(context.Background(), "lost", e.stream)
		if err != nil {
			t.Fatal(err)
		}
		if len(cps) > 0 && cps[0].Seq == puts[len(puts)-1].SequenceNumber {
			held, _, _ = store.ReadLease(context.Background(), "lost", e.stream)
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("no checkpoint of the last record within 30 s")
		}
		time.Sleep(50 * time.Millisecond)
	}
	// Take the name over as a job would once the lease looked stale.
	thief, err := store.Acquire(context.Background(), checkpoint.Lease{App: "lost", Stream: e.stream, Owner: "thief", Job: "the test", StaleAfter: time.Minute}, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if thief.Epoch != held.Epoch+1 {
		t.Fatalf("taken over at epoch %d, want %d", thief.Epoch, held.Epoch+1)
	}
	mark := checkpoint.Checkpoint{Stream: e.stream, ShardID: puts[0].ShardID, Seq: puts[0].SequenceNumber}
	if err := store.Commit(context.Background(), thief, mark); err != nil {
		t.Fatal(err)
	}
	more := e.putPerShard(t, 5, "after")
	err = await(t, done, time.Minute)
	if !errors.Is(err, err) || err == nil || !strings.Contains(err.Error(), "lease") {
		t.Errorf("job: err = %v, want it stopped for its lost lease", err)
	}
	cps, err := store.Load(context.Background(), "lost", e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 1 || cps[0].Seq != mark.Seq || cps[0].Owner != "thief" {
		t.Errorf("checkpoints %+v, want only the one written under the new lease (%s)", cps, mark.Seq)
	}
	_ = more
}

// testTable is a DynamoDB table name of the test's own.
func testTable(t *testing.T) string {
	table := "ckpt-" + strings.ToLower(kinesistest.StreamName(t))
	if len(table) > 200 {
		table = table[:200]
	}
	return table
}

// dynamoBehindProxy is a DynamoDB checkpoint store of the test's own on
// dynalite, reached through a proxy that can fail its calls.
func dynamoBehindProxy(t *testing.T) (kinesisio.CheckpointStore, *kinesistest.Proxy) {
	t.Helper()
	d := emulators.Require(t, emulators.Dynalite)
	dp, err := kinesistest.NewProxy(d.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(dp.Close)
	return kinesisio.DynamoDBTable(testTable(t), kinesisio.Connection{Endpoint: dp.Endpoint(), Region: kinesistest.Region}), dp
}
