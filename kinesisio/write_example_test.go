package kinesisio_test

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func init() {
	// Functions given to beam.ParDo must be registered, so that workers in
	// other processes find them by name.
	register.Function1x1(orderRecord)
}

// orderRecord keys an event by its first 8 bytes (say, an order ID), so
// that the events of one order stay in order on one shard.
func orderRecord(event []byte) kinesisio.Record {
	return kinesisio.Record{Data: event, PartitionKey: string(event[:min(8, len(event))])}
}

// Copy one stream into another, in another region: the connection options
// of Read configure Write too.
func ExampleWrite() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	records := kinesisio.Read(s, "orders", kinesisio.Connection{Region: "eu-west-1"})
	res := kinesisio.Write(s, "orders-replica", records,
		kinesisio.Connection{Region: "us-east-1"},
		kinesisio.WithShardRateLimit(), // pace each shard on the client
		kinesisio.WithFailedRecords())  // report, don't fail, what cannot be written
	_ = res.Failed // e.g. write the failures to a dead-letter sink
	_ = beamx.Run(context.Background(), p)
}

// Write raw events: as they are, with random partition keys, or keyed by
// a registered function that makes Records of them.
func ExampleWrite_bytes() {
	beam.Init()
	p, s := beam.NewPipelineWithRoot()
	events := beam.Create(s, []byte("order-01:created"), []byte("order-01:paid"), []byte("order-02:created"))
	kinesisio.Write(s, "events", events, kinesisio.Connection{Region: "eu-west-1"})
	kinesisio.Write(s, "orders", beam.ParDo(s, orderRecord, events), kinesisio.Connection{Region: "eu-west-1"})
	_ = beamx.Run(context.Background(), p)
}
