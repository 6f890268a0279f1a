package deadletter

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/internal/binenc"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func init() {
	beam.RegisterType(letterType)
	beam.RegisterCoder(letterType, encodeLetter, decodeLetter)
	register.DoFn2x1[context.Context, kinesisio.FailedRecord, Letter](&fromWriteFailureFn{})
	register.Function1x2(Unmarshal)
}

// Stages of the transforms of this module. A Letter's Stage may also be
// any other non-empty name a pipeline gives its own failures.
const (
	// StageDecode marks letters of records whose payload could not be
	// decoded (package transforms/decode).
	StageDecode = "decode"
	// StageWrite marks letters of records kinesisio.Write could not write
	// (FromWriteFailures).
	StageWrite = "write"
)

// MetricsNamespace is the namespace of this package's metrics.
const MetricsNamespace = "transforms/deadletter"

// ErrInvalidOption is wrapped by every error a constructor of this
// package returns for a bad argument.
var ErrInvalidOption = errors.New("deadletter: invalid argument")

func invalid(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, what, fmt.Sprintf(format, args...))
}

// Letter is a record that a stage of the pipeline could not process,
// with why. It is registered with Beam, with a coder of its own (a
// versioned binary layout that keeps every field exactly: times to the
// nanosecond, in UTC, and empty data as nil); Marshal and Unmarshal give
// it a JSON form for tools outside Beam.
type Letter struct {
	// Record is the record that failed, whole: its payload and its source
	// position (stream, shard, sequence numbers), so that it can be
	// written elsewhere or replayed.
	Record kinesisio.Record
	// Stage says where it failed: StageDecode, StageWrite, or a name of
	// the pipeline's own.
	Stage string
	// Error is the error's text.
	Error string
	// ErrorCode classifies Error, when the stage has codes: a
	// kinesisio.ErrCode constant or Kinesis's error code for StageWrite,
	// a decode.ErrCode constant for StageDecode. It may be empty.
	ErrorCode string
	// Attempts is how many times the stage tried (for StageWrite, how
	// many times the record was sent; 0 when refused before sending).
	Attempts int
	// FailedAt is when the letter was made, on the worker's clock (UTC).
	FailedAt time.Time
}

var (
	letterType = reflect.TypeOf((*Letter)(nil)).Elem()
	failedType = reflect.TypeOf((*kinesisio.FailedRecord)(nil)).Elem()
)

// FromWriteFailures turns failed, the WriteResult.Failed of a
// kinesisio.Write with WithFailedRecords() (a PCollection of
// kinesisio.FailedRecord), into a PCollection of Letter with Stage
// StageWrite, the failure's ErrorCode, ErrorMessage (as Error) and
// Attempts. Each letter keeps its failure's timestamp and window.
//
// FromWriteFailures panics if failed is not a PCollection of
// kinesisio.FailedRecord; TryFromWriteFailures returns the error instead.
func FromWriteFailures(s beam.Scope, failed beam.PCollection) beam.PCollection {
	letters, err := TryFromWriteFailures(s, failed)
	if err != nil {
		panic(err)
	}
	return letters
}

// TryFromWriteFailures is FromWriteFailures, returning an error instead of
// panicking.
func TryFromWriteFailures(s beam.Scope, failed beam.PCollection) (beam.PCollection, error) {
	s = s.Scope("deadletter.FromWriteFailures")
	if err := checkType("failed", failed, failedType); err != nil {
		return beam.PCollection{}, err
	}
	return tryParDo1(s, &fromWriteFailureFn{}, failed)
}

func checkType(what string, col beam.PCollection, want reflect.Type) error {
	if !col.IsValid() {
		return invalid(what, "invalid PCollection")
	}
	if t := col.Type().Type(); t != want {
		return invalid(what, "want a PCollection of %v, not of %v", want, t)
	}
	return nil
}

var lettersMade = beam.NewCounter(MetricsNamespace, "write_failure_letters")

type fromWriteFailureFn struct{}

func (fn *fromWriteFailureFn) ProcessElement(ctx context.Context, f kinesisio.FailedRecord) Letter {
	lettersMade.Inc(ctx, 1)
	return Letter{
		Record:    f.Record,
		Stage:     StageWrite,
		Error:     f.ErrorMessage,
		ErrorCode: f.ErrorCode,
		Attempts:  f.Attempts,
		FailedAt:  time.Now().UTC(),
	}
}

// ---- the Beam coder ----

// letterCoderVersion is the first byte of a Letter's Beam encoding.
const letterCoderVersion = 1

var errCorrupt = errors.New("deadletter: corrupt letter encoding")

func encodeLetter(l Letter) []byte {
	r := l.Record
	n := 64 + len(l.Stage) + len(l.Error) + len(l.ErrorCode) + len(r.Stream) + len(r.ShardID) +
		len(r.SequenceNumber) + len(r.PartitionKey) + len(r.ExplicitHashKey) + len(r.Data)
	b := make([]byte, 0, n)
	b = append(b, letterCoderVersion)
	for _, s := range []string{l.Stage, l.Error, l.ErrorCode, r.Stream, r.ShardID, r.SequenceNumber, r.PartitionKey, r.ExplicitHashKey} {
		b = binenc.AppendString(b, s)
	}
	b = binary.AppendVarint(b, int64(l.Attempts))
	b = binary.AppendVarint(b, r.SubSequenceNumber)
	b = binenc.AppendTime(b, l.FailedAt)
	b = binenc.AppendTime(b, r.ApproximateArrivalTimestamp)
	return binenc.AppendBytes(b, r.Data)
}

func decodeLetter(b []byte) (Letter, error) {
	var l Letter
	d := binenc.NewDecoder(b, errCorrupt)
	if d.Byte("version") != letterCoderVersion {
		return l, fmt.Errorf("%w: bad version", errCorrupt)
	}
	r := &l.Record
	for _, dst := range []*string{&l.Stage, &l.Error, &l.ErrorCode, &r.Stream, &r.ShardID, &r.SequenceNumber, &r.PartitionKey, &r.ExplicitHashKey} {
		*dst = d.String("string")
	}
	attempts := d.Varint("attempts")
	if attempts < math.MinInt || attempts > math.MaxInt {
		return l, fmt.Errorf("%w: bad attempts", errCorrupt)
	}
	l.Attempts = int(attempts)
	r.SubSequenceNumber = d.Varint("sub-sequence number")
	l.FailedAt = d.Time("failure time")
	r.ApproximateArrivalTimestamp = d.Time("arrival time")
	r.Data = d.Bytes("data")
	return l, d.Err()
}

// tryParDo1 is beam.TryParDo for a DoFn of one output.
func tryParDo1(s beam.Scope, fn any, col beam.PCollection, opts ...beam.Option) (beam.PCollection, error) {
	outs, err := beam.TryParDo(s, fn, col, opts...)
	if err != nil {
		return beam.PCollection{}, err
	}
	return outs[0], nil
}
