package main

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

func init() {
	register.DoFn2x0[kinesisio.Record, func([]byte)](&sinkFn{})
	register.Emitter1[[]byte]()
	register.DoFn1x0[[]byte](&dropFn{})
	register.DoFn1x0[[]byte](&stampFn{})
	register.DoFn2x0[[]byte, func(kinesisio.Record)](&genFn{})
	register.Emitter1[kinesisio.Record]()
	register.DoFn2x0[kinesisio.WrittenRecord, func([]byte)](&writtenFn{})
	register.DoFn2x0[kinesisio.FailedRecord, func([]byte)](&failedFn{})
}

// sink receives the records of one measurement, from a DoFn after Read or
// from a bare loop, and keeps counts, first and last times, which indexes
// were seen, and latencies.
type sink struct {
	expected int64

	n, bytes    atomic.Int64
	first, last atomic.Int64 // Unix nanos
	seen        []atomic.Uint64
	distinct    atomic.Int64
	dups        atomic.Int64 // the same record (shard, sequence number) again
	putTwice    atomic.Int64 // a record's index again, at another sequence number
	ids         []atomic.Uint64
	bad         atomic.Int64 // no header or index out of range
	throttled   atomic.Int64 // throttled calls of a bare loop

	// latency is from the send time in the data (the PutRecords call) to
	// the record reaching the sink; lag from its arrival time at the
	// server.
	latency, lag *bench.Histogram
	// dupMu guards dupSamples: a few duplicates, to investigate.
	dupMu      sync.Mutex
	dupSamples []string

	// windows hold lag by time since windowStart, if set.
	windowStart atomic.Int64
	windowLen   int64
	windows     []*bench.Histogram
}

func newSink(expected int64) *sink {
	return &sink{
		expected: expected,
		seen:     make([]atomic.Uint64, (expected+63)/64),
		ids:      make([]atomic.Uint64, expected),
		latency:  bench.NewHistogram(),
		lag:      bench.NewHistogram(),
	}
}

// withWindows makes the sink keep lag per window of width w, up to n
// windows (later records go into the last), from the time startWindows
// sets (until then, into the first).
func (s *sink) withWindows(w time.Duration, n int) *sink {
	s.windowLen = int64(w)
	s.windowStart.Store(time.Now().UnixNano())
	s.windows = make([]*bench.Histogram, n)
	for i := range s.windows {
		s.windows[i] = bench.NewHistogram()
	}
	return s
}

// observe counts one record; shard and seq name it, to tell a record
// received twice (the same shard and sequence number) from a record put
// twice (a resent PutRecords call: another sequence number).
func (s *sink) observe(data []byte, arrival time.Time, shard, seq string) {
	now := time.Now()
	ns := now.UnixNano()
	s.first.CompareAndSwap(0, ns)
	s.last.Store(ns)
	s.n.Add(1)
	s.bytes.Add(int64(len(data)))
	sent, idx, ok := readHeader(data)
	if !ok || idx < 0 || idx >= s.expected {
		s.bad.Add(1)
		return
	}
	id := recordID(shard, seq)
	w, bit := idx/64, uint64(1)<<(idx%64)
	if old := s.seen[w].Or(bit); old&bit == 0 {
		s.ids[idx].Store(id)
		s.distinct.Add(1)
	} else {
		// The first copy may still be storing its id: wait for it.
		first := s.ids[idx].Load()
		for i := 0; first == 0 && i < 1000; i++ {
			runtime.Gosched()
			first = s.ids[idx].Load()
		}
		if first == id {
			if s.dups.Add(1) <= 5 {
				s.dupMu.Lock()
				s.dupSamples = append(s.dupSamples, fmt.Sprintf("record %d twice from %s at %s", idx, shard, seq))
				s.dupMu.Unlock()
			}
		} else {
			s.putTwice.Add(1)
		}
	}
	s.latency.Record(time.Duration(ns - sent))
	if !arrival.IsZero() {
		lag := now.Sub(arrival)
		s.lag.Record(lag)
		if s.windows != nil {
			i := int((ns - s.windowStart.Load()) / s.windowLen)
			i = max(0, min(i, len(s.windows)-1))
			s.windows[i].Record(lag)
		}
	}
}

// recordID is a non-zero FNV-1a hash of a record's shard and sequence
// number (inline: no allocation on the per-record path).
func recordID(shard, seq string) uint64 {
	const offset, prime = 14695981039346656037, 1099511628211
	h := uint64(offset)
	for i := 0; i < len(shard); i++ {
		h = (h ^ uint64(shard[i])) * prime
	}
	h = (h ^ '/') * prime
	for i := 0; i < len(seq); i++ {
		h = (h ^ uint64(seq[i])) * prime
	}
	return h | 1
}

// startWindows starts the first lag window now.
func (s *sink) startWindows(t time.Time) { s.windowStart.Store(t.UnixNano()) }

// check describes what is wrong with the records received, or "". A
// record received twice (same shard and sequence number) is always wrong.
// Without a budget every record put must have been received; with one
// (WithMaxRecords(expected)), exactly expected records must have been
// received: when a resent PutRecords call put some records twice, the
// copies use up the budget and as many records put once are not read,
// which is right.
func (s *sink) check(budgeted bool) string {
	var probs []string
	if n := s.bad.Load(); n > 0 {
		probs = append(probs, fmt.Sprintf("%d records without a valid header", n))
	}
	if n := s.dups.Load(); n > 0 {
		s.dupMu.Lock()
		probs = append(probs, fmt.Sprintf("%d records received twice (first: %s)", n, strings.Join(s.dupSamples, "; ")))
		s.dupMu.Unlock()
	}
	d, twice := s.distinct.Load(), s.putTwice.Load()
	switch {
	case budgeted && s.n.Load() != s.expected:
		probs = append(probs, fmt.Sprintf("%d records received, want WithMaxRecords' %d (%d distinct, %d copies of records put twice)", s.n.Load(), s.expected, d, twice))
	case !budgeted && d != s.expected:
		probs = append(probs, fmt.Sprintf("%d of %d records received (%d missing)", d, s.expected, s.expected-d))
	}
	return strings.Join(probs, "; ")
}

// firstTime and lastTime are when the first and last records arrived.
func (s *sink) firstTime() time.Time { return time.Unix(0, s.first.Load()) }
func (s *sink) lastTime() time.Time  { return time.Unix(0, s.last.Load()) }

// byKey holds, by a DoFn's key, what it shares with the code running its
// pipeline (a *sink or a *tally); the LOOPBACK worker runs in this
// process, so the DoFn finds it.
var byKey sync.Map

// keyed returns the *T of key, made if there is none yet.
func keyed[T any](key string) *T {
	v, _ := byKey.LoadOrStore(key, new(T))
	return v.(*T)
}

// trackSink makes s the sink of key until the returned func is called.
func trackSink(key string, s *sink) (untrack func()) {
	byKey.Store(key, s)
	return func() { byKey.Delete(key) }
}

func sinkFor(key string) (*sink, error) {
	v, ok := byKey.Load(key)
	if !ok {
		return nil, fmt.Errorf("kinesisbench: no sink %q in this process (the worker must run in this process: in-process Prism, LOOPBACK)", key)
	}
	return v.(*sink), nil
}

// sinkFn hands every record to its sink. Its output is never used; see
// terminate.
type sinkFn struct {
	Key string
	s   *sink
}

func (f *sinkFn) Setup() error {
	var err error
	f.s, err = sinkFor(f.Key)
	return err
}

func (f *sinkFn) ProcessElement(r kinesisio.Record, _ func([]byte)) {
	f.s.observe(r.Data, r.ApproximateArrivalTimestamp, r.ShardID, r.SequenceNumber)
}

// addSink applies the counting DoFn of key to col.
func (b *benchRun) addSink(s beam.Scope, key string, col beam.PCollection) {
	b.terminate(s, beam.ParDo(s, &sinkFn{Key: key}, col))
}

// terminate handles the (always empty) output of a counting DoFn. By
// default nothing consumes it, so Prism drops it and the counting DoFn's
// stage (the Read's or the Write's, fused with it) has no outputs. With
// --unfused-sink a Reshuffle takes it to another stage, so that stage has
// an output and Prism v2.77 does not busy-wait during its bundles (see the
// package doc and prismSpinNote).
func (b *benchRun) terminate(s beam.Scope, out beam.PCollection) {
	if b.c.unfusedSink {
		beam.ParDo0(s, &dropFn{}, beam.Reshuffle(s, out))
	}
}

// dropFn consumes the counting DoFns' (empty) outputs.
type dropFn struct{}

func (f *dropFn) ProcessElement(_ []byte) {}

// tally counts what Write reported (writtenFn, failedFn), or notes when
// the first element reached stampFn.
type tally struct {
	written, failed atomic.Int64
	first, last     atomic.Int64 // Unix nanos
}

// stampFn notes when the first element reached it: the trivial
// pipeline of the start-up figure.
type stampFn struct{ Key string }

func (f *stampFn) ProcessElement(_ []byte) {
	keyed[tally](f.Key).first.CompareAndSwap(0, time.Now().UnixNano())
}

// genFn emits N records of Size bytes with Keys partition keys, for
// Write. Making them on the worker keeps them out of the pipeline graph.
type genFn struct {
	N, Size, Keys int
}

func (f *genFn) ProcessElement(_ []byte, emit func(kinesisio.Record)) {
	keys := partitionKeys(f.Keys)
	now := time.Now()
	for i := range f.N {
		emit(kinesisio.Record{PartitionKey: keys[i%f.Keys], Data: makeData(f.Size, int64(i), now)})
	}
}

// partitionKeys are the n partition keys of the write figure.
func partitionKeys(n int) []string {
	keys := make([]string, n)
	for i := range keys {
		keys[i] = fmt.Sprintf("pk-%d", i)
	}
	return keys
}

type writtenFn struct{ Key string }

func (f *writtenFn) ProcessElement(_ kinesisio.WrittenRecord, _ func([]byte)) {
	c := keyed[tally](f.Key)
	now := time.Now().UnixNano()
	c.first.CompareAndSwap(0, now)
	c.last.Store(now)
	c.written.Add(1)
}

type failedFn struct{ Key string }

func (f *failedFn) ProcessElement(_ kinesisio.FailedRecord, _ func([]byte)) {
	keyed[tally](f.Key).failed.Add(1)
}

// readMode is how a Read reads its shards: polling GetRecords (the
// default) or enhanced fan-out (SubscribeToShard).
type readMode int

const (
	polling readMode = iota
	fanOut
)

func (m readMode) String() string {
	if m == fanOut {
		return "fan-out"
	}
	return "polling"
}

// op is the Kinesis operation that reads records in mode m: the server
// counts it per shard once a shard's read has started.
func (m readMode) op() string {
	if m == fanOut {
		return "SubscribeToShard"
	}
	return "GetRecords"
}

// modeOptions returns the Read options of mode m and the fan-out
// consumer's name: none for polling; for fan-out, WithEnhancedFanOut as a
// consumer of its own, named after the run, which the job registers (a
// fresh consumer never finds a subscription of an earlier run to the same
// shard in its way, which Kinesis would refuse for 5 s).
func (b *benchRun) modeOptions(m readMode) (opts []kinesisio.ReadOption, consumer string) {
	if m != fanOut {
		return nil, ""
	}
	consumer = fmt.Sprintf("kinesisbench-%d-%06x", b.seq.Add(1), rand.Uint32()&0xffffff)
	return []kinesisio.ReadOption{kinesisio.WithEnhancedFanOut(consumer)}, consumer
}

// deregister deregisters the fan-out consumer of a run ("" = none), so
// that a stream's consumers do not pile up across runs (Kinesis allows
// 20); a failure is only reported.
func (b *benchRun) deregister(ctx context.Context, endpoint, stream, consumer string) {
	if consumer == "" {
		return
	}
	if err := kinesisio.DeregisterConsumer(ctx, stream, consumer, kinesisio.WithEndpoint(endpoint), kinesisio.WithRegion(region)); err != nil {
		b.progress("note: %v", err)
	}
}

// readOptions are the connection options of every Read and Write here.
func readOptions(endpoint string) []kinesisio.ReadOption {
	return []kinesisio.ReadOption{kinesisio.WithEndpoint(endpoint), kinesisio.WithRegion(region)}
}

// runPipeline runs p on the in-process Prism and returns its result and
// how long beam.Run took. A job still running after limit is cancelled
// through the job service (prismrun.Run) and reported as an error.
func (b *benchRun) runPipeline(ctx context.Context, p *beam.Pipeline, limit time.Duration) (beam.PipelineResult, time.Duration, error) {
	pipelinesRun.Add(1)
	stop, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	var pr beam.PipelineResult
	start := time.Now()
	stopped, err := prismrun.Run(stop, b.jobs, func(ctx context.Context) (err error) {
		pr, err = beam.Run(ctx, "prism", p)
		return err
	})
	took := time.Since(start)
	if !stopped {
		return pr, took, err
	}
	why := fmt.Errorf("pipeline still running after %v: cancelled", limit)
	if ctx.Err() != nil {
		why = fmt.Errorf("interrupted: %w", ctx.Err())
	}
	if errors.Is(err, prismrun.ErrStopTimeout) {
		return nil, took, fmt.Errorf("%w; the job did not stop within %v", why, prismrun.StopTimeout)
	}
	return nil, took, why
}

// counters sums the job's counters of namespace kinesisio by name.
func counters(pr beam.PipelineResult) map[string]int64 {
	out := map[string]int64{}
	if pr == nil {
		return out
	}
	for _, c := range pr.Metrics().AllMetrics().Counters() {
		if c.Namespace() == kinesisio.MetricsNamespace {
			out[c.Name()] += c.Result()
		}
	}
	return out
}
