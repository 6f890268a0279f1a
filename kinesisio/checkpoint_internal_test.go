package kinesisio

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestChildWaitsForParentFinishedInStore: with a checkpoint store, a child
// shard is not read while the store records a parent as unfinished, as when
// the parent is read by another worker of the job (the store is all the
// child's worker can see of it); once that worker records the parent's end,
// the child is read.
func TestChildWaitsForParentFinishedInStore(t *testing.T) {
	e := emulators.Require(t, emulators.Kinesalite)
	client := kinesistest.NewClient(e.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	name := kinesistest.StreamName(t)
	if _, err := kinesistest.CreateStream(ctx, client, name, 1); err != nil {
		t.Fatal(err)
	}
	shards, err := kinesistest.Shards(ctx, client, name)
	if err != nil {
		t.Fatal(err)
	}
	child := *shards[0].ShardId
	if _, err := kinesistest.PutToShard(ctx, client, name, child, [][]byte{[]byte("a"), []byte("b")}); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	spec := defaultReadSpec()
	for _, o := range []ReadOption{Connection{Endpoint: e.Endpoint, Region: kinesistest.Region}, WithCheckpoints("order", LocalDirectory(dir)), Polling{Unpaced: true, IdleInterval: 20 * time.Millisecond}} {
		if err := o.applyRead(&spec); err != nil {
			t.Fatal(err)
		}
	}
	if spec.Conn, err = newConnection(name, spec.Conn.Client); err != nil {
		t.Fatal(err)
	}
	spec.ReadID = newReadID()
	store, err := checkpoint.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	runID := newRunID()
	lease, err := store.Acquire(ctx, checkpoint.Lease{App: "order", Stream: name, Owner: runID, Job: "test", StaleAfter: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	// The parent, on "another worker": known to the store, not finished.
	parent := checkpoint.Checkpoint{Stream: name, ShardID: "shardId-parent", Seq: "1"}
	if err := store.Commit(ctx, lease, parent); err != nil {
		t.Fatal(err)
	}
	fn := &readFn{Spec: spec}
	if err := fn.Setup(ctx); err != nil {
		t.Fatal(err)
	}
	defer fn.Teardown()
	d := shardDesc{RunID: runID, ShardID: child, ParentIDs: []string{parent.ShardID}, Start: restriction.Position{Kind: restriction.TrimHorizon}}
	var got []Record
	emit := func(_ beam.EventTime, r Record) { got = append(got, r) }
	rest := fn.CreateInitialRestriction(d)
	we := watermark.New(0)
	for i := range 3 {
		rt := restriction.NewTracker(rest)
		pc, err := fn.ProcessElement(ctx, we, rt, d, emit)
		if err != nil {
			t.Fatal(err)
		}
		if pc.ShouldResume() != true || len(got) > 0 {
			t.Fatalf("call %d with the parent unfinished: resume %v, %d records emitted; want a wait and none", i, pc.ShouldResume(), len(got))
		}
		time.Sleep(pc.ResumeDelay())
	}
	parent.Finished = true
	if err := store.Commit(ctx, lease, parent); err != nil {
		t.Fatal(err)
	}
	for deadline := time.Now().Add(20 * time.Second); len(got) < 2; {
		if time.Now().After(deadline) {
			t.Fatalf("after the parent's end: %d records read, want 2", len(got))
		}
		rt := restriction.NewTracker(rest)
		pc, err := fn.ProcessElement(ctx, we, rt, d, emit)
		if err != nil {
			t.Fatal(err)
		}
		if _, r, _ := rt.TrySplit(0); r != nil {
			rest = r.(restriction.Restriction)
		}
		time.Sleep(max(pc.ResumeDelay(), 10*time.Millisecond))
	}
}
