package deadletter_test

import (
	"fmt"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
)

func init() {
	register.DoFn2x0[[]byte, func(beam.EventTime, deadletter.Letter)](&genLettersFn{})
	register.Emitter2[beam.EventTime, deadletter.Letter]()
	register.DoFn2x0[[]byte, func(kinesisio.Record)](&genRecordsFn{})
	register.Emitter1[kinesisio.Record]()
	register.Function1x2(unmarshalLine)
	register.Function1x1(lineToRecord)
}

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// letter i has a full source position, arrives at base + i*25s and
// failed a second later.
func letter(i int, stage, data string) deadletter.Letter {
	l := deadletter.Letter{
		Record: kinesisio.Record{
			Stream:                      "orders",
			ShardID:                     fmt.Sprintf("shardId-%012d", i%3),
			SequenceNumber:              fmt.Sprintf("4959%040d", i),
			SubSequenceNumber:           int64(i % 2),
			PartitionKey:                fmt.Sprintf("key-%d", i%4),
			ApproximateArrivalTimestamp: base.Add(time.Duration(i) * 25 * time.Second),
		},
		Stage:     stage,
		Error:     fmt.Sprintf("error %d: «bad»", i),
		ErrorCode: "Invalid",
		Attempts:  i % 3,
		FailedAt:  base.Add(time.Duration(i)*25*time.Second + time.Second + time.Duration(i)),
	}
	if data != "" {
		l.Record.Data = []byte(data)
	}
	return l
}

func letters(n int) []deadletter.Letter {
	var ls []deadletter.Letter
	for i := range n {
		data := fmt.Sprintf("payload %d \x00\xff", i)
		if i%5 == 4 {
			data = ""
		}
		ls = append(ls, letter(i, deadletter.StageDecode, data))
	}
	return ls
}

// genLettersFn emits its letters, each at its record's arrival time.
type genLettersFn struct{ Letters []deadletter.Letter }

func (f *genLettersFn) ProcessElement(_ []byte, emit func(beam.EventTime, deadletter.Letter)) {
	for _, l := range f.Letters {
		emit(mtime.FromTime(l.Record.ApproximateArrivalTimestamp), l)
	}
}

func generate(s beam.Scope, ls []deadletter.Letter) beam.PCollection {
	return beam.ParDo(s, &genLettersFn{Letters: ls}, beam.Impulse(s))
}

// genRecordsFn emits Recs. Beam serializes a DoFn as JSON, which turns
// text that is not valid UTF-8 into U+FFFD: the partition keys travel as
// bytes in Keys (newGenRecords).
type genRecordsFn struct {
	Recs []kinesisio.Record
	Keys [][]byte
}

func newGenRecords(recs []kinesisio.Record) *genRecordsFn {
	f := &genRecordsFn{Recs: recs}
	for _, r := range recs {
		f.Keys = append(f.Keys, []byte(r.PartitionKey))
	}
	return f
}

func (f *genRecordsFn) ProcessElement(_ []byte, emit func(kinesisio.Record)) {
	for i, r := range f.Recs {
		r.PartitionKey = string(f.Keys[i])
		emit(r)
	}
}

// unmarshalLine is Unmarshal for the lines textio.Read emits.
func unmarshalLine(line string) (deadletter.Letter, error) { return deadletter.Unmarshal([]byte(line)) }

// lineToRecord makes a record of a line, as if read from a stream.
func lineToRecord(line string) kinesisio.Record { return kinesisio.Record{Data: []byte(line)} }

// collectLetters adds a sink to col and returns a function giving what it
// got, sorted by source sequence number.
func collectLetters(s beam.Scope, col beam.PCollection) func() []deadletter.Letter {
	got := beamtest.CollectValues[deadletter.Letter](s, col)
	return func() []deadletter.Letter {
		ls := got()
		sortLetters(ls)
		return ls
	}
}

// collectStrings adds a sink to col and returns a function giving what it
// got, sorted.
func collectStrings(s beam.Scope, col beam.PCollection) func() []string {
	got := beamtest.CollectValues[string](s, col)
	return func() []string {
		out := got()
		sort.Strings(out)
		return out
	}
}

func sortLetters(ls []deadletter.Letter) {
	sort.Slice(ls, func(i, j int) bool {
		if ls[i].Record.SequenceNumber != ls[j].Record.SequenceNumber {
			return ls[i].Record.SequenceNumber < ls[j].Record.SequenceNumber
		}
		return ls[i].Stage < ls[j].Stage
	})
}
