package kinesisio_test

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func init() {
	// Key functions of WriteBytes must be registered, so that workers in
	// other processes find them by name.
	register.Function1x1(orderKey)
}

// orderKey keys an event by its first 8 bytes (say, an order ID), so that
// the events of one order stay in order on one shard.
func orderKey(event []byte) string { return string(event[:min(8, len(event))]) }

// Copy one stream into another, in another region: the connection options
// of Read configure Write too.
func ExampleWrite() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	records := kinesisio.Read(s, "orders", kinesisio.WithRegion("eu-west-1"))
	res := kinesisio.Write(s, "orders-replica", records,
		kinesisio.WithRegion("us-east-1"),
		kinesisio.WithShardRateLimit(true),                // pace each shard on the client
		kinesisio.WithFailedRecords(kinesisio.EmitFailed)) // report, don't fail, what cannot be written
	_ = res.Failed // e.g. write the failures to a dead-letter sink
	_ = beamx.Run(context.Background(), p)
}

// Write raw events, keyed by a registered function.
func ExampleWriteBytes() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	events := beam.Create(s, []byte("order-01:created"), []byte("order-01:paid"), []byte("order-02:created"))
	kinesisio.WriteBytes(s, "events", events, orderKey, kinesisio.WithRegion("eu-west-1"))
	_ = beamx.Run(context.Background(), p)
}
