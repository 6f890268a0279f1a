package kinesisio

import (
	"context"
	"testing"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// TestWriteFnFreesShardMaps: the shard map and rate limiter a Write DoFn
// instance uses (WithShardRateLimit, WithAggregation) are shared by the
// instances of the process that write the stream, and freed when the last
// of them is torn down.
func TestWriteFnFreesShardMaps(t *testing.T) {
	before := writeSharedEntries()
	spec := defaultWriteSpec()
	spec.ShardRateLimit = true
	spec.Aggregation = &Aggregation{}
	if err := spec.resolve(); err != nil {
		t.Fatal(err)
	}
	spec.Conn = connection{Stream: "frees-shard-maps", Client: awsclient.Settings{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}}
	fns := []*writeFn{{Spec: spec}, {Spec: spec}}
	for _, fn := range fns {
		if err := fn.Setup(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	if n := writeSharedEntries(); n <= before {
		t.Fatalf("%d shared write entries after Setup, want more than %d", n, before)
	}
	fns[0].Teardown()
	if n := writeSharedEntries(); n <= before {
		t.Fatalf("%d shared write entries with one instance left, want more than %d", n, before)
	}
	fns[1].Teardown()
	if n := writeSharedEntries(); n != before {
		t.Errorf("%d shared write entries after the last Teardown, want %d: the shard maps were not freed", n, before)
	}
}
