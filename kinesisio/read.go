package kinesisio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"reflect"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
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
// each stamped with its arrival time unless an option says otherwise.
//
// Each shard is a restriction of a splittable DoFn whose positions are
// sequence numbers, so the runner checkpoints every shard's progress and
// resumes it exactly after the last record emitted. The read is unbounded
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
	parsed, err := awsclient.ParseStream(stream)
	if err != nil {
		return beam.PCollection{}, fmt.Errorf("%w: stream: %v", ErrInvalidOption, err)
	}
	c := defaultReadConfig()
	for _, opt := range opts {
		if opt == nil {
			return beam.PCollection{}, invalid("ReadOption", "nil option")
		}
		if err := opt.applyRead(&c); err != nil {
			return beam.PCollection{}, err
		}
	}
	if c.timestampFn != "" && c.eventTime == ProcessingTime {
		return beam.PCollection{}, invalid("WithTimestampFn", "cannot be combined with WithEventTime(ProcessingTime)")
	}
	if c.unpaced && c.quotaShare != 1 {
		return beam.PCollection{}, invalid("WithoutQuotaPacing", "cannot be combined with WithReadQuotaShare(%v): a share needs pacing", c.quotaShare)
	}
	direct := runnerName() == "direct"
	if direct && !c.bounded() {
		return beam.PCollection{}, fmt.Errorf("%w: an unbounded Read cannot run on the direct runner: it drops the residuals of self-checkpointing DoFns without an error, losing records. Run on Prism (the default runner, --runner=prism), or bound the read with WithStopAtLatest, WithMaxRecords or WithMaxReadTime", ErrInvalidOption)
	}
	settings, err := streamSettings(parsed, c.client)
	if err != nil {
		return beam.PCollection{}, err
	}
	readID := newReadID()
	read := &readFn{
		ReadID:           readID,
		Stream:           stream,
		Client:           settings,
		EventTime:        c.eventTime,
		TimestampFn:      c.timestampFn,
		EventDelay:       c.eventDelay,
		IdleSkewMillis:   c.idleSkew.Milliseconds(),
		QuotaShare:       c.quotaShare,
		Unpaced:          c.unpaced,
		MaxBufferedBytes: c.maxBuffered,
		RecordsPerCall:   c.perCall,
		IdlePollMillis:   c.idlePoll.Milliseconds(),
		MaxRecords:       c.maxRecords,
	}
	ds := discoverySettings{
		ReadID:            readID,
		Stream:            stream,
		Client:            settings,
		Start:             c.start.spec(),
		StopAtLatest:      c.stopAtLatest,
		MaxReadTimeMillis: c.maxReadTime.Milliseconds(),
		PageSize:          c.pageSize,
		EventDelay:        c.eventDelay,
	}
	// A read bounded at its start needs one listing; the direct runner can
	// run nothing else. Other reads watch the stream for new shards.
	var discover any = &discoverFn{Settings: ds}
	if !direct && !c.stopAtLatest {
		discover = &watchShardsFn{
			Settings:       ds,
			IntervalMillis: c.discoveryInterval.Milliseconds(),
			IdleSkewMillis: c.idleSkew.Milliseconds(),
			MaxRecords:     c.maxRecords,
		}
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
	var dofn any = read
	if direct {
		dofn = &boundedReadFn{Fn: read}
	}
	out, err := beam.TryParDo(s, dofn, spread)
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

// newReadID names one Read transform, so that its shards find each other
// (watermarks, fetchers, record budget) in a worker process. Tests replace
// it to follow a read's watermark.
var newReadID = randomID

// randomID returns 16 random hexadecimal digits.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
