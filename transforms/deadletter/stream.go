package deadletter

import (
	"context"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/internal/partitionkey"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func init() {
	register.DoFn2x2[context.Context, Letter, kinesisio.Record, error](&toRecordFn{})
}

// ToStream writes letters, a PCollection of Letter, to the Kinesis data
// stream named stream with kinesisio.Write and the given options. Each
// letter becomes one record whose Data is its envelope (Marshal) and whose
// partition key is its source record's, so that the letters of one key
// stay together; a letter whose key Kinesis would refuse (empty, longer
// than 256 characters or not valid UTF-8, as for records Write refused
// for their key: kinesisio.ErrCodeInvalidPartitionKey) gets
// a random one (32 hexadecimal digits) instead.
//
// An envelope is larger than its source record: base64 makes the data
// 4/3 as large, and the position and error add up to a few hundred bytes.
// A source near the stream's maximum record size (1 MiB by default, about
// 750 KiB of data) then fails Write with kinesisio.ErrCodeRecordTooLarge:
// with kinesisio.WithFailedRecords(), such letters
// reach WriteResult.Failed, and FromWriteFailures plus ToFiles keeps them
// (see the package example). By default they fail the bundle, as Write
// does.
//
// ToStream panics if an argument or option is invalid; TryToStream
// returns the error instead.
func ToStream(s beam.Scope, stream string, letters beam.PCollection, opts ...kinesisio.WriteOption) kinesisio.WriteResult {
	res, err := TryToStream(s, stream, letters, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryToStream is ToStream, returning an error instead of panicking.
func TryToStream(s beam.Scope, stream string, letters beam.PCollection, opts ...kinesisio.WriteOption) (kinesisio.WriteResult, error) {
	s = s.Scope("deadletter.ToStream")
	if err := checkType("letters", letters, letterType); err != nil {
		return kinesisio.WriteResult{}, err
	}
	recs, err := tryParDo1(s, &toRecordFn{}, letters)
	if err != nil {
		return kinesisio.WriteResult{}, err
	}
	return kinesisio.TryWrite(s, stream, recs, opts...)
}

var streamLetters = beam.NewCounter(MetricsNamespace, "stream_letters")

// toRecordFn makes the record of a letter.
type toRecordFn struct{}

func (fn *toRecordFn) ProcessElement(ctx context.Context, l Letter) (kinesisio.Record, error) {
	data, err := Marshal(l)
	if err != nil {
		return kinesisio.Record{}, fmt.Errorf("deadletter: letter of %s/%s: %w", l.Record.ShardID, l.Record.SequenceNumber, err)
	}
	key := l.Record.PartitionKey
	if partitionkey.Check(key) != "" {
		key = partitionkey.Random()
	}
	streamLetters.Inc(ctx, 1)
	return kinesisio.Record{PartitionKey: key, Data: data}, nil
}
