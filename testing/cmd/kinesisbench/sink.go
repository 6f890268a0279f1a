package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

func init() {
	register.DoFn2x0[kinesisio.Record, func([]byte)](&sinkFn{})
	register.Emitter1[[]byte]()
	register.DoFn1x0[[]byte](&dropFn{})
	register.DoFn2x0[[]byte, func([]byte)](&stampFn{})
	register.DoFn2x0[[]byte, func(kinesisio.Record)](&genFn{})
	register.Emitter1[kinesisio.Record]()
	register.DoFn2x0[kinesisio.WrittenRecord, func([]byte)](&writtenFn{})
}

// sink receives the records of one run, from a DoFn or a bare loop: how
// many, when the first and last came, which indexes, and latencies.
type sink struct {
	expected    int64
	n           atomic.Int64
	first, last atomic.Int64 // Unix ns
	seen        []atomic.Uint64
	ids         []atomic.Uint64
	distinct    atomic.Int64
	dups        atomic.Int64 // the same record (shard, sequence number) again
	bad         atomic.Int64 // no header, or an index out of range
	// latency runs from the record's PutRecords call to the sink, lag
	// from its arrival time at the server.
	latency, lag *Histogram
}

func newSink(expected int64) *sink {
	return &sink{expected: expected, seen: make([]atomic.Uint64, (expected+63)/64), ids: make([]atomic.Uint64, expected),
		latency: newHistogram(), lag: newHistogram()}
}

// observe counts one record; shard and seq tell a record received twice
// from one put twice (a resent PutRecords call: another sequence number).
func (s *sink) observe(data []byte, arrival time.Time, shard, seq string) {
	now := time.Now()
	s.first.CompareAndSwap(0, now.UnixNano())
	s.last.Store(now.UnixNano())
	s.n.Add(1)
	if len(data) < headerLen {
		s.bad.Add(1)
		return
	}
	sent, idx := int64(binary.BigEndian.Uint64(data[0:8])), int64(binary.BigEndian.Uint64(data[8:16]))
	if idx < 0 || idx >= s.expected {
		s.bad.Add(1)
		return
	}
	h := fnv1a(fnv1a(fnv1a(14695981039346656037, shard), "/"), seq) | 1 // FNV-1a of shard/seq, never 0
	if w, bit := idx/64, uint64(1)<<(idx%64); s.seen[w].Or(bit)&bit == 0 {
		s.ids[idx].Store(h)
		s.distinct.Add(1)
	} else {
		first := s.ids[idx].Load()
		for i := 0; first == 0 && i < 1000; i++ { // the first copy is storing its id
			runtime.Gosched()
			first = s.ids[idx].Load()
		}
		if first == h {
			s.dups.Add(1)
		}
	}
	s.latency.Record(now.Sub(time.Unix(0, sent)))
	if !arrival.IsZero() {
		s.lag.Record(now.Sub(arrival))
	}
}

// fnv1a folds s into the FNV-1a hash h (without building a string of
// the parts: the observer is on every reader's per-record path).
func fnv1a(h uint64, s string) uint64 {
	for i := 0; i < len(s); i++ {
		h = (h ^ uint64(s[i])) * 1099511628211
	}
	return h
}

// check says what is wrong with the records received: a record received
// twice, or (all) a record put and not received.
func (s *sink) check(all bool) error {
	var errs []error
	if n := s.bad.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d records without a valid header", n))
	}
	if n := s.dups.Load(); n > 0 {
		errs = append(errs, fmt.Errorf("%d records received twice", n))
	}
	if d := s.distinct.Load(); all && d != s.expected {
		errs = append(errs, fmt.Errorf("%d of %d records received", d, s.expected))
	}
	return errors.Join(errs...)
}

func (s *sink) span() (first, last time.Time) {
	return time.Unix(0, s.first.Load()), time.Unix(0, s.last.Load())
}

// sinks holds, by key, the sink of the DoFns of a running pipeline: the
// LOOPBACK worker runs in this process.
var sinks sync.Map

func sinkFor(key string) (*sink, error) {
	if v, ok := sinks.Load(key); ok {
		return v.(*sink), nil
	}
	return nil, fmt.Errorf("kinesisbench: no sink %q in this process (in-process Prism, LOOPBACK)", key)
}

// sinkFn hands every record to its sink; its output is never used.
type sinkFn struct {
	Key string
	s   *sink
}

func (f *sinkFn) Setup() (err error) { f.s, err = sinkFor(f.Key); return err }

func (f *sinkFn) ProcessElement(r kinesisio.Record, _ func([]byte)) {
	f.s.observe(r.Data, r.ApproximateArrivalTimestamp, r.ShardID, r.SequenceNumber)
}

// stampFn notes the time the trivial pipeline's element arrives.
type stampFn struct {
	Key string
	s   *sink
}

func (f *stampFn) Setup() (err error) { f.s, err = sinkFor(f.Key); return err }

func (f *stampFn) ProcessElement(_ []byte, _ func([]byte)) {
	f.s.first.CompareAndSwap(0, time.Now().UnixNano())
}

// writtenFn counts Write's written records in its sink.
type writtenFn struct {
	Key string
	s   *sink
}

func (f *writtenFn) Setup() (err error) { f.s, err = sinkFor(f.Key); return err }

func (f *writtenFn) ProcessElement(_ kinesisio.WrittenRecord, _ func([]byte)) { f.s.n.Add(1) }

// dropFn consumes the counting DoFns' (empty) outputs with --unfused-sink.
type dropFn struct{}

func (f *dropFn) ProcessElement(_ []byte) {}

// genFn emits N records of Size bytes with Keys partition keys for Write.
type genFn struct{ N, Size, Keys int }

func (f *genFn) ProcessElement(_ []byte, emit func(kinesisio.Record)) {
	keys, now := partitionKeys(f.Keys), time.Now()
	for i := range f.N {
		emit(kinesisio.Record{PartitionKey: keys[i%f.Keys], Data: makeData(f.Size, int64(i), now)})
	}
}

func partitionKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("pk-%d", i)
	}
	return keys
}

// count applies the counting DoFn fn to col. Nothing consumes its output,
// so by default the stage ends there: Prism v2.77 then busy-waits a core
// during its bundles. With unfused, a Reshuffle takes the output to
// another stage, which avoids that.
func count(s beam.Scope, fn any, col beam.PCollection, unfused bool) {
	out := beam.ParDo(s, fn, col)
	if unfused {
		beam.ParDo0(s, &dropFn{}, beam.Reshuffle(s, out))
	}
}

// runPipeline runs p on the in-process Prism with key's sink s; a job
// still running after limit is cancelled through the job service.
func (b *benchRun) runPipeline(ctx context.Context, p *beam.Pipeline, key string, s *sink, limit time.Duration) (beam.PipelineResult, error) {
	sinks.Store(key, s)
	defer sinks.Delete(key)
	ctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var pr beam.PipelineResult
	stopped, err := prismrun.Run(ctx, b.jobs, func(ctx context.Context) (err error) {
		pr, err = beam.Run(ctx, "prism", p)
		return err
	})
	if stopped && err == nil {
		err = fmt.Errorf("cancelled: %w", ctx.Err())
	}
	return pr, err
}
