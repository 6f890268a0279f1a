package kinesisio

import (
	"context"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
)

// TestWriteFnFreesShardMaps: the shard map and rate limiter a Write DoFn
// instance uses (WithShardRateLimit, Aggregation) are shared by the
// bundles of the process that write the stream, and freed when the last
// of them ends (after a grace, here none): runners do not call Teardown.
func TestWriteFnFreesShardMaps(t *testing.T) {
	defer writer.SetSharedGrace(0)()
	before := writeSharedEntries()
	spec := defaultWriteSpec()
	spec.ShardRateLimit = true
	spec.Aggregation = &Aggregation{}
	if err := spec.resolve(); err != nil {
		t.Fatal(err)
	}
	spec.Conn = connection{Stream: "frees-shard-maps", Client: awsclient.Settings{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}}
	ctx := context.Background()
	emitW := func(beam.EventTime, WrittenRecord) {}
	emitF := func(beam.EventTime, FailedRecord) {}
	fns := []*writeFn{{Spec: spec}, {Spec: spec}}
	for _, fn := range fns {
		if err := fn.Setup(ctx); err != nil {
			t.Fatal(err)
		}
		fn.StartBundle(ctx, emitW, emitF)
	}
	if n := writeSharedEntries(); n <= before {
		t.Fatalf("%d shared write entries in bundles, want more than %d", n, before)
	}
	if err := fns[0].FinishBundle(ctx, emitW, emitF); err != nil {
		t.Fatal(err)
	}
	if n := writeSharedEntries(); n <= before {
		t.Fatalf("%d shared write entries with one bundle left, want more than %d", n, before)
	}
	if err := fns[1].FinishBundle(ctx, emitW, emitF); err != nil {
		t.Fatal(err)
	}
	if n := writeSharedEntries(); n != before {
		t.Errorf("%d shared write entries after the last bundle, want %d: the shard maps were not freed", n, before)
	}
	for _, fn := range fns {
		fn.Teardown()
	}
}
