package kinesisio

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
)

// writeFn is the DoFn of Write. Its exported fields are its serialized
// configuration; the client and the writer are built in Setup on the
// worker.
type writeFn struct {
	Spec writeSpec

	w *writer.Writer
	m writeMetrics
}

func (fn *writeFn) Setup(ctx context.Context) error {
	stream, client, err := fn.Spec.Conn.dial(ctx)
	if err != nil {
		return err
	}
	fn.w = writer.New(fn.Spec.writerConfig(stream), client)
	fn.m = newWriteMetrics()
	return nil
}

// writerConfig is the configuration of the writer: the one place where
// Write's settings reach it.
func (s writeSpec) writerConfig(stream awsclient.Stream) writer.Config {
	cfg := writer.Config{
		Stream:         stream,
		Settings:       s.Conn.Client,
		MaxAttempts:    s.MaxAttempts,
		Backoff:        s.Backoff,
		EmitFailed:     s.EmitFailed,
		NoWritten:      s.NoWritten,
		Lanes:          s.MaxInFlight,
		Strict:         s.StrictOrdering,
		MaxRecordBytes: s.MaxRecordBytes,
		MaxBatchBytes:  s.maxBatchBytes(),
		RateLimit:      s.ShardRateLimit,
		Explain: func(err error) error {
			return explain(err, stream, s.Conn.Client, writeAccess)
		},
	}
	if a := s.Aggregation; a != nil {
		cfg.Aggregation = &writer.Aggregation{MaxBytes: a.MaxBytes, MaxRecords: a.MaxRecords, MaxDelay: a.MaxDelay}
	}
	return cfg
}

// StartBundle starts the bundle's writer. (Beam Go wants the emitters of
// ProcessElement here too.)
func (fn *writeFn) StartBundle(ctx context.Context, _ func(beam.EventTime, WrittenRecord), _ func(beam.EventTime, FailedRecord)) {
	fn.w.Start(ctx)
}

func (fn *writeFn) ProcessElement(ctx context.Context, ts beam.EventTime, r Record, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) error {
	err := fn.w.Add(ts, toWriter(r))
	if err != nil {
		fn.w.Abort()
	}
	fn.emit(ctx, emitWritten, emitFailed)
	return err
}

func (fn *writeFn) FinishBundle(ctx context.Context, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) error {
	err := fn.w.Finish()
	fn.emit(ctx, emitWritten, emitFailed)
	return err
}

// Teardown stops what the instance still sends and leaves the process's
// shared shard map and rate limit of the stream (freed with the last
// instance that uses them).
func (fn *writeFn) Teardown() {
	if fn.w != nil {
		fn.w.Close()
		fn.w = nil
	}
}

// emit outputs the results ready so far, each with the timestamp of its
// input record, and reports the metrics.
func (fn *writeFn) emit(ctx context.Context, emitWritten func(beam.EventTime, WrittenRecord), emitFailed func(beam.EventTime, FailedRecord)) {
	for _, r := range fn.w.TakeResults() {
		if r.OK() {
			emitWritten(r.TS, WrittenRecord(r.Written))
		} else {
			emitFailed(r.TS, fromWriter(*r.Failed))
		}
	}
	fn.m.report(ctx, fn.w.Stats())
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
func (m *writeMetrics) report(ctx context.Context, s *writer.Stats) {
	inc := func(c beam.Counter, v int64) {
		if v != 0 {
			c.Inc(ctx, v)
		}
	}
	inc(m.records, s.Records.Swap(0))
	inc(m.bytes, s.Bytes.Swap(0))
	inc(m.retries, s.Retries.Swap(0))
	inc(m.failures, s.Failures.Swap(0))
	inc(m.batches, s.Calls.Swap(0))
	inc(m.throttled, s.Throttled.Swap(0))
	inc(m.aggregates, s.Aggregates.Swap(0))
	inc(m.aggregated, s.Aggregated.Swap(0))
	for _, n := range s.TakeSizes() {
		m.batchSize.Update(ctx, n)
	}
}

// toWriter is r as the writer takes it: what Write writes of r, and r
// itself when it has fields Write does not write (read from another
// stream, say), so that a FailedRecord gives it back as it was given.
func toWriter(r Record) writer.Record {
	w := writer.Record{Data: r.Data, PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey}
	if r.Stream != "" || r.ShardID != "" || r.SequenceNumber != "" || r.SubSequenceNumber != 0 || !r.ApproximateArrivalTimestamp.IsZero() {
		orig := r
		w.Orig = &orig
	}
	return w
}

// fromWriter is the FailedRecord of f.
func fromWriter(f writer.Failed) FailedRecord {
	r, ok := f.Record.Orig.(*Record)
	if !ok {
		r = &Record{Data: f.Record.Data, PartitionKey: f.Record.PartitionKey, ExplicitHashKey: f.Record.ExplicitHashKey}
	}
	return FailedRecord{Record: *r, ErrorCode: f.ErrorCode, ErrorMessage: f.ErrorMessage, Attempts: f.Attempts}
}
