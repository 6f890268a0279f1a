package kinesisio

import (
	"context"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/internal/partitionkey"
)

func init() {
	register.DoFn5x1[context.Context, beam.EventTime, Record, func(beam.EventTime, WrittenRecord), func(beam.EventTime, FailedRecord), error](&writeFn{})
	register.Function1x1(bytesToRecord)
	register.Emitter2[beam.EventTime, WrittenRecord]()
	register.Emitter2[beam.EventTime, FailedRecord]()
	beam.RegisterType(reflect.TypeOf((*WrittenRecord)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*FailedRecord)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*WrittenRecord)(nil)).Elem(), encodeWrittenRecord, decodeWrittenRecord)
	beam.RegisterCoder(reflect.TypeOf((*FailedRecord)(nil)).Elem(), encodeFailedRecord, decodeFailedRecord)
}

// WriteResult holds the outputs of Write. Each output element has the
// timestamp of the input record it is about and, for the non-merging
// windowing of Beam Go (global, fixed, sliding), its window too; see
// Write.
type WriteResult struct {
	// Written holds a WrittenRecord for each record written (none with
	// WithoutWrittenRecords).
	Written beam.PCollection
	// Failed holds a FailedRecord for each record that could not be
	// written; it stays empty without WithFailedRecords.
	Failed beam.PCollection
}

var (
	recordType = reflect.TypeOf((*Record)(nil)).Elem()
	bytesType  = reflect.TypeOf([]byte(nil))
)

// Write writes col, a PCollection of Record or of []byte, to the Kinesis
// data stream named stream (a name, or a stream ARN, which also sets the
// region). The Data, PartitionKey and ExplicitHashKey of each Record are
// written; its other fields are ignored, so records read from one stream
// can be written to another. Each []byte is written as the data of a
// record with a random partition key (32 hexadecimal digits), which
// spreads the records over all shards and gives them no order; for keys
// of your own, make Records first:
//
//	recs := beam.ParDo(s, func(b []byte) kinesisio.Record {
//		return kinesisio.Record{Data: b, PartitionKey: keyOf(b)}
//	}, col)
//
// Records are batched into PutRecords calls (500 records, 5 MiB), sent
// when full and at the end of each bundle. Only the entries a call failed
// are sent again, with backoff (WithRetries); a call
// refused as a whole fails only the records it names. Records that cannot
// be written go to WriteResult.Failed with WithFailedRecords,
// or fail the bundle (the default) once every other record of it was
// attempted: nothing is dropped silently. Permanent errors (stream not
// found, access denied, KMS key unusable) fail the bundle with what to
// fix. Delivery is at least once: a retried call or bundle may write a
// record twice.
//
// A partition key's records are sent in the order of their bundle, one
// call at a time per key; PutRecords itself does not order the records of
// one call, WithStrictOrdering does (one PutRecord per record). Neither
// orders records across bundles. Each result keeps the timestamp and
// windowing of its input record. docs/design.md ("Write") has the details.
//
// Aggregation packs the records into KPL aggregated records, one
// open aggregate per shard, for up to about 9 times the records per second
// per shard with small records; results are then per user record, with
// their sub-sequence numbers.
//
// Write panics if an argument or option is invalid; TryWrite returns the
// error instead.
func Write(s beam.Scope, stream string, col beam.PCollection, opts ...WriteOption) WriteResult {
	res, err := TryWrite(s, stream, col, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryWrite is Write, returning an error instead of panicking.
func TryWrite(s beam.Scope, stream string, col beam.PCollection, opts ...WriteOption) (WriteResult, error) {
	s = s.Scope("kinesisio.Write")
	fn, err := newWriteFn(stream, col, opts)
	if err != nil {
		return WriteResult{}, err
	}
	if col.Type().Type() == bytesType {
		recs, err := beam.TryParDo(s, bytesToRecord, col)
		if err != nil {
			return WriteResult{}, err
		}
		col = recs[0]
	}
	in, rewindow, err := intoGlobalWindow(s, col)
	if err != nil {
		return WriteResult{}, err
	}
	outs, err := beam.TryParDo(s, fn, in)
	if err != nil {
		return WriteResult{}, err
	}
	written, err := rewindow(outs[0])
	if err != nil {
		return WriteResult{}, err
	}
	failed, err := rewindow(outs[1])
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Written: written, Failed: failed}, nil
}

// bytesToRecord makes a Record of data with a random partition key of 32
// hexadecimal digits: records with random keys spread evenly over the
// shards.
func bytesToRecord(data []byte) Record {
	return Record{Data: data, PartitionKey: partitionkey.Random()}
}

// newWriteFn checks the arguments and options and builds the DoFn.
func newWriteFn(stream string, col beam.PCollection, opts []WriteOption) (*writeFn, error) {
	spec := defaultWriteSpec()
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("WriteOption", "nil option")
		}
		if err := opt.applyWrite(&spec); err != nil {
			return nil, err
		}
	}
	if err := spec.resolve(); err != nil {
		return nil, err
	}
	var err error
	if spec.Conn, err = newConnection(stream, spec.Conn.Client); err != nil {
		return nil, err
	}
	if !col.IsValid() {
		return nil, invalid("col", "invalid PCollection")
	}
	if t := col.Type().Type(); t != recordType && t != bytesType {
		return nil, invalid("col", "Write takes a PCollection of kinesisio.Record or []byte, not of %v", t)
	}
	return &writeFn{Spec: spec}, nil
}

// intoGlobalWindow moves col into the global window, where FinishBundle
// emits, and returns a function that applies col's windowing to an
// output. A col already in the global window is left alone.
func intoGlobalWindow(s beam.Scope, col beam.PCollection) (beam.PCollection, func(beam.PCollection) (beam.PCollection, error), error) {
	ws := col.WindowingStrategy()
	if ws == nil || ws.Fn == nil || ws.Fn.Kind == window.GlobalWindows {
		return col, func(p beam.PCollection) (beam.PCollection, error) { return p, nil }, nil
	}
	global, err := beam.TryWindowInto(s, window.NewGlobalWindows(), col)
	if err != nil {
		return beam.PCollection{}, nil, err
	}
	var opts []beam.WindowIntoOption
	if ws.Trigger != nil {
		opts = append(opts, beam.Trigger(ws.Trigger))
	}
	switch ws.AccumulationMode {
	case window.Accumulating:
		opts = append(opts, beam.PanesAccumulate())
	case window.Discarding:
		opts = append(opts, beam.PanesDiscard())
	}
	if ws.AllowedLateness > 0 {
		opts = append(opts, beam.AllowedLateness(time.Duration(ws.AllowedLateness)*time.Millisecond))
	}
	return global, func(p beam.PCollection) (beam.PCollection, error) {
		return beam.TryWindowInto(s, ws.Fn, p, opts...)
	}, nil
}
