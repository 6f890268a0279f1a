package decode_test

import (
	"context"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
	"github.com/kinesisio/beam-kinesis/transforms/decode"
)

// Event is a user type; types that cross workers are registered.
type Event struct {
	User  string `json:"user"`
	Score int    `json:"score"`
}

func init() {
	beam.RegisterType(reflect.TypeOf((*Event)(nil)).Elem())
	register.Function1x0(printEvent)
	register.Function1x0(printLetter)
}

func printEvent(e Event) { fmt.Printf("event: %s scored %d\n", e.User, e.Score) }

func printLetter(l deadletter.Letter) {
	fmt.Printf("failed: %s at %s/%s: %s (%s)\n", l.Stage, l.Record.ShardID, l.Record.SequenceNumber, l.Error, l.ErrorCode)
}

// Decode JSON records into Event; the records that are not Events go to
// Failed, whole, with the error. In a real pipeline the records come from
// kinesisio.Read and the failures go to deadletter.ToStream or ToFiles.
func ExampleJSON() {
	p, s := beam.NewPipelineWithRoot()
	records := beam.Create(s,
		kinesisio.Record{ShardID: "shardId-000000000000", SequenceNumber: "1", Data: []byte(`{"user":"ada","score":3}`)},
		kinesisio.Record{ShardID: "shardId-000000000000", SequenceNumber: "2", Data: []byte(`{"user":"bob","score":"high"}`)},
		kinesisio.Record{ShardID: "shardId-000000000001", SequenceNumber: "3"},
	)
	res := decode.JSON(s, records, reflect.TypeOf(Event{}))
	beam.ParDo0(s, printEvent, res.Values)
	beam.ParDo0(s, printLetter, res.Failed)
	if err := beamx.Run(context.Background(), p); err != nil {
		fmt.Println(err)
	}
	// Unordered output:
	// event: ada scored 3
	// failed: decode at shardId-000000000000/2: json: cannot unmarshal string into Go struct field Event.score of type int (Invalid)
	// failed: decode at shardId-000000000001/3: empty payload (EmptyPayload)
}
