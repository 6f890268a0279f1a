package kinesisio

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// writeFn is the DoFn of Write. Its exported fields are its serialized
// configuration; the client and the writer are built in Setup on the
// worker.
type writeFn struct {
	Spec writeSpec

	w *writer
	m writeMetrics
}

func (fn *writeFn) Setup(ctx context.Context) error {
	stream, client, err := fn.Spec.Conn.dial(ctx)
	if err != nil {
		return err
	}
	fn.w = newWriter(fn.Spec.writerConfig(stream), client)
	fn.m = newWriteMetrics()
	return nil
}

// writerConfig is the configuration of the writer: the one place where
// Write's settings reach it.
func (s writeSpec) writerConfig(stream awsclient.Stream) writerConfig {
	cfg := writerConfig{
		stream:         stream,
		settings:       s.Conn.Client,
		maxAttempts:    s.MaxAttempts,
		backoff:        s.Backoff,
		emitFailed:     s.EmitFailed,
		noWritten:      s.NoWritten,
		lanes:          s.MaxInFlight,
		strict:         s.StrictOrdering,
		maxRecordBytes: s.MaxRecordBytes,
		maxBatchBytes:  s.maxBatchBytes(),
	}
	if s.ShardRateLimit {
		cfg.limits = limitsFor(stream, s.Conn.Client)
		cfg.shards = cfg.limits.shards
	}
	if a := s.Aggregation; a != nil {
		cfg.agg = &aggConfig{maxBytes: a.MaxBytes, maxRecords: a.MaxRecords, maxDelay: a.MaxDelay}
		cfg.shards = shardsFor(stream, s.Conn.Client)
	}
	return cfg
}

// StartBundle starts the bundle's writer. (Beam Go wants the emitters of
// ProcessElement here too.)
func (fn *writeFn) StartBundle(ctx context.Context, _ func(beam.EventTime, WrittenRecord), _ func(beam.EventTime, FailedRecord)) {
	fn.w.start(ctx)
}

func (fn *writeFn) ProcessElement(ctx context.Context, ts beam.EventTime, r Record, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) error {
	err := fn.w.add(ts, r)
	if err != nil {
		fn.w.abort()
	}
	fn.emit(ctx, emitWritten, emitFailed)
	return err
}

func (fn *writeFn) FinishBundle(ctx context.Context, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) error {
	err := fn.w.finish()
	fn.emit(ctx, emitWritten, emitFailed)
	return err
}

func (fn *writeFn) Teardown() {
	if fn.w != nil {
		fn.w.abort()
	}
}

// emit outputs the results ready so far, each with the timestamp of its
// input record, and reports the metrics.
func (fn *writeFn) emit(ctx context.Context, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) {
	for _, r := range fn.w.takeResults() {
		if r.ok() {
			emitWritten(r.ts, r.written)
		} else {
			emitFailed(r.ts, *r.failed)
		}
	}
	fn.m.report(ctx, fn.w.stats)
}

// writeMetrics are the Beam metrics of Write.
type writeMetrics struct {
	records, bytes, retries, failures, batches, throttled beam.Counter
	aggregates, aggregated                                beam.Counter
	batchSize                                             beam.Distribution
}

func newWriteMetrics() writeMetrics {
	c := func(name string) beam.Counter { return beam.NewCounter(MetricsNamespace, name) }
	return writeMetrics{
		records: c("write_records"), bytes: c("write_bytes"), retries: c("write_retries"),
		failures: c("write_failures"), batches: c("write_calls"), throttled: c("write_throttled"),
		aggregates: c("write_aggregates"), aggregated: c("write_aggregated_records"),
		batchSize: beam.NewDistribution(MetricsNamespace, "write_batch_size"),
	}
}

// report moves what s accumulated into the Beam metrics of ctx's bundle.
func (m *writeMetrics) report(ctx context.Context, s *writeStats) {
	inc := func(c beam.Counter, v int64) {
		if v != 0 {
			c.Inc(ctx, v)
		}
	}
	inc(m.records, s.records.Swap(0))
	inc(m.bytes, s.bytes.Swap(0))
	inc(m.retries, s.retries.Swap(0))
	inc(m.failures, s.failures.Swap(0))
	inc(m.batches, s.calls.Swap(0))
	inc(m.throttled, s.throttled.Swap(0))
	inc(m.aggregates, s.aggregates.Swap(0))
	inc(m.aggregated, s.aggregated.Swap(0))
	for _, n := range s.takeSizes() {
		m.batchSize.Update(ctx, n)
	}
}
