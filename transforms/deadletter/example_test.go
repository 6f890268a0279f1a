package deadletter_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
	"github.com/kinesisio/beam-kinesis/transforms/decode"
)

// Order is the pipeline's type.
type Order struct {
	ID string `json:"id"`
}

func init() {
	beam.RegisterType(reflect.TypeOf((*Order)(nil)).Elem())
	register.Function1x1(originalRecord)
}

// originalRecord is the record a letter is about.
func originalRecord(l deadletter.Letter) kinesisio.Record { return l.Record }

// Keep every failure of a pipeline that decodes a stream and writes
// another: the records that do not decode and the records Write cannot
// write go to a dead-letter stream; what that stream refuses (an envelope
// over its record size) goes to files, one per ten minutes.
func Example() {
	p, s := beam.NewPipelineWithRoot()
	opts := kinesisio.Connection{Region: "eu-west-1"}

	records := kinesisio.Read(s, "orders", opts)
	orders := decode.JSON(s, records, reflect.TypeOf(Order{}))
	written := kinesisio.Write(s, "orders-enriched", enrich(s, orders.Values), opts,
		kinesisio.WithFailedRecords())

	letters := beam.Flatten(s, orders.Failed, deadletter.FromWriteFailures(s, written.Failed))
	dl := deadletter.ToStream(s, "orders-dead-letters", letters, opts,
		kinesisio.WithFailedRecords())
	refused := deadletter.FromWriteFailures(s, dl.Failed)
	refused = beam.WindowInto(s, window.NewFixedWindows(10*time.Minute), refused)
	deadletter.ToFiles(s, "gs://my-bucket/dead-letters/orders", refused) // needs io/filesystem/gcs imported

	_ = beamx.Run(context.Background(), p)
}

// enrich stands for the pipeline's own work: it turns orders back into
// records to write.
func enrich(s beam.Scope, orders beam.PCollection) beam.PCollection {
	_ = orders
	return beam.Create(s, kinesisio.Record{PartitionKey: "k", Data: []byte(`{"id":"1"}`)})
}

// Read the letters of a dead-letter stream back, to look at or replay:
// each Letter's Record is the original record.
func ExampleUnmarshal() {
	p, s := beam.NewPipelineWithRoot()
	records := kinesisio.Read(s, "orders-dead-letters", kinesisio.Connection{Region: "eu-west-1"})
	letters := decode.With(s, records, deadletter.Unmarshal) // Unmarshal is registered
	originals := beam.ParDo(s, originalRecord, letters.Values)
	kinesisio.Write(s, "orders", originals, kinesisio.Connection{Region: "eu-west-1"})
	_ = beamx.Run(context.Background(), p)
}

// Write letters to files and read one back.
func ExampleToFiles() {
	dir, err := os.MkdirTemp("", "deadletter-example")
	if err != nil {
		fmt.Println(err)
		return
	}
	defer os.RemoveAll(dir)

	p, s := beam.NewPipelineWithRoot()
	letters := beam.Create(s, deadletter.Letter{
		Record:   kinesisio.Record{Stream: "orders", ShardID: "shardId-000000000000", SequenceNumber: "42", PartitionKey: "k1", Data: []byte("{")},
		Stage:    deadletter.StageDecode,
		Error:    "unexpected end of JSON input",
		FailedAt: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC),
	})
	deadletter.ToFiles(s, filepath.Join(dir, "letters"), letters)
	if err := beamx.Run(context.Background(), p); err != nil {
		fmt.Println(err)
		return
	}
	b, err := os.ReadFile(filepath.Join(dir, "letters-global-0.jsonl"))
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Print(string(b))
	l, err := deadletter.Unmarshal(b)
	fmt.Printf("%q %v\n", l.Record.Data, err)
	// Output:
	// {"v":2,"stage":"decode","error":"unexpected end of JSON input","attempts":0,"failedAt":"2026-03-01T12:00:00Z","source":{"stream":"orders","shardId":"shardId-000000000000","sequenceNumber":"42","subSequenceNumber":0,"partitionKey":"k1"},"data":"ew=="}
	// "{" <nil>
}
