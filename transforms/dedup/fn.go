package dedup

import (
	"context"
	"fmt"
	"reflect"
	"strconv"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// MetricsNamespace is the namespace of the package's metrics.
const MetricsNamespace = "transforms/dedup"

func init() {
	register.DoFn2x1[kinesisio.Record, func(string, kinesisio.Record), error](&keyFn{})
	register.DoFn8x1[context.Context, beam.Window, beam.EventTime, state.Provider, timers.Provider, string, kinesisio.Record, func(kinesisio.Record), error](&eventTimeFn{})
	register.DoFn6x1[context.Context, state.Provider, timers.Provider, string, kinesisio.Record, func(kinesisio.Record), error](&processingTimeFn{})
	register.Emitter2[string, kinesisio.Record]()
	register.Emitter1[kinesisio.Record]()
}

// Identity is the key Records gives a record without WithKeyFn: its
// stream, shard, sequence number and sub-sequence number, which no two
// records share and every re-read of one record repeats.
func Identity(r kinesisio.Record) string {
	b := make([]byte, 0, len(r.Stream)+len(r.ShardID)+len(r.SequenceNumber)+24)
	b = append(b, r.Stream...)
	b = append(b, 0)
	b = append(b, r.ShardID...)
	b = append(b, 0)
	b = append(b, r.SequenceNumber...)
	b = append(b, 0)
	b = strconv.AppendInt(b, r.SubSequenceNumber, 10)
	return string(b)
}

// keyFn keys each record for the stateful DoFn.
type keyFn struct {
	Spec spec

	key func(kinesisio.Record) string
}

func (fn *keyFn) Setup() error {
	fn.key = Identity
	if fn.Spec.KeyFn == "" {
		return nil
	}
	f, err := runtime.ResolveFunction(fn.Spec.KeyFn, reflect.TypeOf((func(kinesisio.Record) string)(nil)))
	if err != nil {
		return fmt.Errorf("dedup: key function %s is not registered on this worker: call beam.RegisterFunction in an init() function: %w", fn.Spec.KeyFn, err)
	}
	fn.key = f.(func(kinesisio.Record) string)
	return nil
}

func (fn *keyFn) ProcessElement(r kinesisio.Record, emit func(string, kinesisio.Record)) error {
	emit(fn.key(r), r)
	return nil
}

// seenFilter is what both time domains share: a key's state holds true
// from its first record until its timer fires.
type seenFilter struct {
	records, duplicates, expired beam.Counter
}

func newSeenFilter() seenFilter {
	return seenFilter{
		records:    beam.NewCounter(MetricsNamespace, "records"),
		duplicates: beam.NewCounter(MetricsNamespace, "duplicates"),
		expired:    beam.NewCounter(MetricsNamespace, "expired"),
	}
}

// first reports whether r is the first record of its key within the
// horizon, and marks the key seen when it is.
func (f seenFilter) first(ctx context.Context, seen *state.Value[bool], sp state.Provider) (bool, error) {
	f.records.Inc(ctx, 1)
	was, ok, err := seen.Read(sp)
	if err != nil {
		return false, fmt.Errorf("dedup: reading state: %w", err)
	}
	if ok && was {
		f.duplicates.Inc(ctx, 1)
		return false, nil
	}
	if err := seen.Write(sp, true); err != nil {
		return false, fmt.Errorf("dedup: writing state: %w", err)
	}
	return true, nil
}

func (f seenFilter) expire(ctx context.Context, seen *state.Value[bool], sp state.Provider) error {
	f.expired.Inc(ctx, 1)
	if err := seen.Clear(sp); err != nil {
		return fmt.Errorf("dedup: clearing state: %w", err)
	}
	return nil
}

// eventTimeFn forgets a key when the watermark passes its first record's
// event time plus the horizon (or its window's end, when earlier).
type eventTimeFn struct {
	Spec   spec
	Seen   state.Value[bool]
	Expiry timers.EventTime

	f seenFilter
}

func (fn *eventTimeFn) Setup() { fn.f = newSeenFilter() }

func (fn *eventTimeFn) ProcessElement(ctx context.Context, w beam.Window, ts beam.EventTime, sp state.Provider, tp timers.Provider, _ string, r kinesisio.Record, emit func(kinesisio.Record)) error {
	first, err := fn.f.first(ctx, &fn.Seen, sp)
	if err != nil || !first {
		return err
	}
	at := ts.Add(fn.Spec.Horizon)
	if end := w.MaxTimestamp(); at > end || at < ts { // at < ts: overflow
		at = end
	}
	// The timer emits nothing: it must not hold the output watermark.
	fn.Expiry.Set(tp, at.ToTime(), timers.WithNoOutputTimestamp())
	emit(r)
	return nil
}

func (fn *eventTimeFn) OnTimer(ctx context.Context, sp state.Provider, _ timers.Provider, _ string, _ timers.Context, _ func(kinesisio.Record)) error {
	return fn.f.expire(ctx, &fn.Seen, sp)
}

// processingTimeFn forgets a key the horizon after its first record was
// processed. Prism waits for processing-time timers before it ends a
// pipeline, so a bounded input ends a horizon after its last new key.
// (An extra event-time timer at the window's end, to end sooner, made
// Prism v2.77 hang: a stateful DoFn there must not mix timer domains.)
type processingTimeFn struct {
	Spec   spec
	Seen   state.Value[bool]
	Expiry timers.ProcessingTime

	f seenFilter
}

func (fn *processingTimeFn) Setup() { fn.f = newSeenFilter() }

func (fn *processingTimeFn) ProcessElement(ctx context.Context, sp state.Provider, tp timers.Provider, _ string, r kinesisio.Record, emit func(kinesisio.Record)) error {
	first, err := fn.f.first(ctx, &fn.Seen, sp)
	if err != nil || !first {
		return err
	}
	// No output timestamp: the timer emits nothing, and would otherwise
	// hold the watermark at the record's event time for the whole horizon.
	fn.Expiry.Set(tp, time.Now().Add(fn.Spec.Horizon), timers.WithNoOutputTimestamp())
	emit(r)
	return nil
}

func (fn *processingTimeFn) OnTimer(ctx context.Context, sp state.Provider, _ timers.Provider, _ string, _ timers.Context, _ func(kinesisio.Record)) error {
	return fn.f.expire(ctx, &fn.Seen, sp)
}
