package kinesisio

import (
	"context"
	"flag"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/discovery"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

func init() {
	register.DoFn3x1[context.Context, []byte, func(beam.EventTime, shardDesc), error](&discoverFn{})
	register.DoFn5x2[context.Context, *watermark.Estimator, *discovery.Tracker, []byte, func(beam.EventTime, shardDesc), sdf.ProcessContinuation, error](&watchShardsFn{})
	register.DoFn5x2[context.Context, *watermark.Estimator, *restriction.Tracker, shardDesc, func(beam.EventTime, Record), sdf.ProcessContinuation, error](&readFn{})
	register.DoFn4x1[context.Context, *restriction.Tracker, shardDesc, func(beam.EventTime, Record), error](&boundedReadFn{})
	register.Emitter2[beam.EventTime, shardDesc]()
	register.Emitter2[beam.EventTime, Record]()
	beam.RegisterType(reflect.TypeOf((*shardDesc)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*shardDesc)(nil)).Elem(), encodeShardDesc, decodeShardDesc)
	beam.RegisterType(reflect.TypeOf((*restriction.Restriction)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*restriction.Restriction)(nil)).Elem(), encodeRestriction, decodeRestriction)
	beam.RegisterType(reflect.TypeOf((*discovery.Restriction)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*discovery.Restriction)(nil)).Elem(), encodeDiscovery, decodeDiscovery)
	beam.RegisterCoder(reflect.TypeOf((*Record)(nil)).Elem(), encodeRecord, decodeRecord)
}

// Coder functions must be plain (non-generic) functions.
func encodeRestriction(r restriction.Restriction) []byte { return restriction.Encode(r) }
func decodeRestriction(b []byte) (restriction.Restriction, error) {
	return restriction.Decode(b)
}

func encodeDiscovery(r discovery.Restriction) []byte { return discovery.Encode(r) }
func decodeDiscovery(b []byte) (discovery.Restriction, error) {
	return discovery.Decode(b)
}

// Read reads the Kinesis data stream named stream (a name, or a stream
// ARN, which also sets the region) and returns a PCollection of Record,
// each stamped with its arrival time unless WithProcessingTime or
// WithTimestampFn says otherwise.
//
// Each shard is a restriction of a splittable DoFn whose positions are
// sequence numbers (with sub-sequence numbers inside KPL aggregates, which
// Read emits as their user records), so the runner checkpoints every
// shard's progress and resumes it exactly after the last record emitted. The read is unbounded
// unless WithStopAtLatest, WithMaxRecords or WithMaxReadTime bound it.
//
// Read panics if an option is invalid; TryRead returns the error instead.
func Read(s beam.Scope, stream string, opts ...ReadOption) beam.PCollection {
	col, err := TryRead(s, stream, opts...)
	if err != nil {
		panic(err)
	}
	return col
}

// TryRead is Read, returning an error instead of panicking.
func TryRead(s beam.Scope, stream string, opts ...ReadOption) (beam.PCollection, error) {
	s = s.Scope("kinesisio.Read")
	spec := defaultReadSpec()
	for _, opt := range opts {
		if opt == nil {
			return beam.PCollection{}, invalid("ReadOption", "nil option")
		}
		if err := opt.applyRead(&spec); err != nil {
			return beam.PCollection{}, err
		}
	}
	var err error
	if spec.Conn, err = newConnection(stream, spec.Conn.Client); err != nil {
		return beam.PCollection{}, err
	}
	if spec.FanOut.enabled() {
		parsed, _ := awsclient.ParseStream(spec.Conn.Stream) // checked by newConnection
		if err := checkConsumerStream(spec.FanOut, parsed); err != nil {
			return beam.PCollection{}, err
		}
	}
	direct := runnerName() == "direct"
	if direct && !spec.bounded() {
		return beam.PCollection{}, fmt.Errorf("%w: an unbounded Read cannot run on the direct runner: it drops the residuals of self-checkpointing DoFns without an error, losing records. Run on Prism (the default runner, --runner=prism), or bound the read with WithStopAtLatest, WithMaxRecords or WithMaxReadTime", ErrInvalidOption)
	}
	if spec.Checkpoints.AfterSink && !spec.Checkpoints.enabled() {
		return beam.PCollection{}, invalid("WithCommitsAfterSink", "needs WithCheckpoints, whose application name and store CommitWhenDone commits to")
	}
	if direct && spec.Checkpoints.enabled() {
		return beam.PCollection{}, invalid("WithCheckpoints", "the direct runner does not checkpoint splittable DoFns, so no position would ever be committed: run on Prism (the default runner, --runner=prism), Flink or Dataflow")
	}
	spec.ReadID = newReadID()
	// A read bounded at its start needs one listing; the direct runner can
	// run nothing else. Other reads watch the stream for new shards.
	var discover any = &discoverFn{Spec: spec}
	if !direct && !spec.StopAtLatest {
		discover = &watchShardsFn{Spec: spec}
	}
	shards, err := beam.TryParDo(s, discover, beam.Impulse(s))
	if err != nil {
		return beam.PCollection{}, err
	}
	// Spread the shards over the workers before reading them.
	spread, err := beam.TryReshuffle(s, shards[0])
	if err != nil {
		return beam.PCollection{}, err
	}
	var read any = &readFn{Spec: spec}
	if direct {
		read = &boundedReadFn{Fn: &readFn{Spec: spec}}
	}
	out, err := beam.TryParDo(s, read, spread)
	if err != nil {
		return beam.PCollection{}, err
	}
	return out[0], nil
}

// runnerName is the value of the --runner flag Beam defines, or "".
func runnerName() string {
	if f := flag.Lookup("runner"); f != nil {
		return f.Value.String()
	}
	return ""
}

// newReadID names one Read transform. Tests replace it to follow a read's
// state.
var newReadID = randomID
