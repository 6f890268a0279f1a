package kinesisio_test

import (
	"context"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// Read a stream from its oldest record, unbounded, with event time the
// records' arrival time.
func ExampleRead() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	records := kinesisio.Read(s, "orders", kinesisio.Connection{Region: "eu-west-1"})
	_ = records // windowing, aggregation and sinks go here
	_ = beamx.Run(context.Background(), p)
}

// Read another account's stream by ARN through an assumed role, starting
// with records that arrive after the job starts.
func ExampleRead_crossAccount() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "arn:aws:kinesis:us-east-1:111122223333:stream/clicks",
		kinesisio.Connection{RoleARN: "arn:aws:iam::111122223333:role/kinesis-reader"},
		kinesisio.WithStartAtLatest(),
		kinesisio.Polling{QuotaShare: 0.5}) // leave half the quota to other consumers
	_ = beamx.Run(context.Background(), p)
}

// Resume from positions a previous job stored: after the last record it
// processed in each shard it knows, at the oldest record in the others.
func ExampleWithShardPositions() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "orders",
		kinesisio.WithShardPositions(map[string]kinesisio.Position{
			"shardId-000000000000": kinesisio.AfterSequenceNumber("49590338271490256608559692538361571095921575989136588898"),
		})) // the other shards start at TRIM_HORIZON, the default
	_ = beamx.Run(context.Background(), p)
}

// A bounded read: everything in the stream when the job starts, then
// stop. It also runs on the legacy direct runner.
func ExampleWithStopAtLatest() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "orders",
		kinesisio.Connection{Endpoint: "http://localhost:4567", Region: "us-east-1"}, // e.g. kinesalite
		kinesisio.WithStopAtLatest(),
		kinesisio.WithMaxReadTime(10*time.Minute))
	_ = beamx.Run(context.Background(), p)
}

// Resume by application name: each shard continues after the last record
// a previous job under "orders-enricher" committed, with positions kept in
// a DynamoDB table (created on first use) in another region than the
// stream's.
func ExampleWithCheckpoints() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "orders",
		kinesisio.Connection{Region: "eu-west-1"},
		kinesisio.WithCheckpoints("orders-enricher",
			kinesisio.DynamoDBTable("kinesisio-checkpoints", kinesisio.Connection{Region: "eu-central-1"})),
		kinesisio.WithStartAtLatest()) // for shards without a checkpoint
	_ = beamx.Run(context.Background(), p)
}

// Commit only what a sink behind a GroupByKey has written (on Prism,
// which keeps no state across a crash): per-minute counts, whose sink's
// output tells CommitWhenDone which windows are done.
func ExampleCommitWhenDone() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	store := kinesisio.LocalDirectory("/var/lib/orders-counter")
	records := kinesisio.Read(s, "orders",
		kinesisio.WithCheckpoints("orders-counter", store),
		kinesisio.WithCommitsAfterSink())
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Minute), records)
	counts := stats.Count(s, beam.ParDo(s, shardOf, windowed))
	written := beam.ParDo(s, emitShard, counts) // the sink: writes each count, emits its key
	if err := kinesisio.CommitWhenDone(s, "orders-counter", store, windowed, written); err != nil {
		panic(err)
	}
	_ = beamx.Run(context.Background(), p)
}
