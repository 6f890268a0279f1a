package kinesisio

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/seqnum"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
)

func init() {
	register.DoFn2x3[context.Context, Record, string, string, error](&positionFn{})
	register.Function2x1(laterSeq)
	register.Function1x2(doneMark)
	register.DoFn6x1[context.Context, beam.EventTime, state.Provider, timers.Provider, string, string, error](&sinkCommitFn{})
}

// CommitWhenDone commits the positions of records to the checkpoint store
// of WithCheckpoints once the sink has finished them: the second level of
// commits, for pipelines whose sink sits behind a GroupByKey on a runner
// that keeps no state across a crash (Prism). The Read must have
// WithCommitsAfterSink, and app and store must be those of its
// WithCheckpoints.
//
// records is the Read's output windowed as the sink's input is (the same
// WindowInto, before any filter); done is any output of the sink's last
// step (it may stay empty: only its watermark counts). A shard's position
// is committed up to the last record of a window once done's watermark
// passes the end of that window, that is, once the sink has written the
// window's results. Records are therefore repeated after a crash back to
// the last window the sink finished, and never lost, provided each
// shard's event times do not decrease along its sequence numbers (arrival
// time, the default, and processing time; with a WithTimestampFn that
// reorders records across windows, a crash can lose the earlier-sequence
// records of a later window). Fixed and sliding windows work; in the
// global window positions are committed only when the pipeline ends.
//
// It costs one keyed element per record (its shard, sequence and
// sub-sequence number, combined per window before the shuffle) and one
// state entry per shard and open window.
//
// It returns an error wrapping ErrInvalidOption for an invalid app or
// store, or Beam's error when the transforms cannot be added.
func CommitWhenDone(s beam.Scope, app string, store CheckpointStore, records, done beam.PCollection) error {
	s = s.Scope("kinesisio.CommitWhenDone")
	if err := store.check("CommitWhenDone", app); err != nil {
		return err
	}
	positions, err := beam.TryParDo(s, &positionFn{App: app, Store: store.spec, StartupTimeout: defaultCheckpointSpec().StartupTimeout}, records)
	if err != nil {
		return err
	}
	last, err := beam.TryCombinePerKey(s, laterSeq, positions[0])
	if err != nil {
		return err
	}
	marks, err := beam.TryParDo(s, doneMark, done)
	if err != nil {
		return err
	}
	global := window.NewGlobalWindows()
	all, err := beam.TryFlatten(s, beam.WindowInto(s, global, last), beam.WindowInto(s, global, marks[0]))
	if err != nil {
		return err
	}
	_, err = beam.TryParDo(s, &sinkCommitFn{App: app, Store: store.spec, Pending: state.MakeValueState[string]("pending"), Due: timers.InEventTime("due")}, all)
	return err
}

// positionFn keys each record's position by its stream and shard
// (positionOf). The first record of each stream it sees in a process
// checks the wiring against the stream's lease: a Read must hold the
// application name for that stream, with WithCommitsAfterSink; then it
// marks the lease (checkpoint.Store.MarkSink), which the Read waits for.
// A CommitWhenDone under another name or store than its Read's, or after
// a Read that commits by itself, fails the job within seconds.
type positionFn struct {
	App            string
	Store          checkpoint.Spec
	StartupTimeout time.Duration

	store   checkpoint.Store
	checked map[string]int64 // stream -> lease epoch marked
	// logs bounds the lines about store calls retried (sinkLog).
	logs *backoff.LogLimit
}

func (fn *positionFn) Setup(ctx context.Context) error {
	fn.logs = sinkLog(fn.App, fn.Store)
	st, err := openStoreWithin(ctx, fn.Store, fn.StartupTimeout, "CommitWhenDone", fn.logs)
	if err != nil {
		return err
	}
	fn.store, fn.checked = st, map[string]int64{}
	return nil
}

func (fn *positionFn) ProcessElement(ctx context.Context, r Record) (string, string, error) {
	if _, ok := fn.checked[r.Stream]; !ok {
		if err := fn.check(ctx, r.Stream); err != nil {
			return "", "", err
		}
	}
	k, v := positionOf(r)
	return k, v, nil
}

// check checks the lease of stream and marks it.
func (fn *positionFn) check(ctx context.Context, stream string) error {
	var l checkpoint.Lease
	var ok bool
	err := retryStore(ctx, fn.Store, fn.StartupTimeout, "CommitWhenDone", "reading the lease of application "+fn.App+" for stream "+stream, permanentStoreError, fn.logs, func(ctx context.Context) (err error) {
		l, ok, err = fn.store.ReadLease(ctx, fn.App, stream)
		return err
	})
	if err != nil {
		return err
	}
	if !ok || l.Owner == "" {
		return fmt.Errorf("%w: CommitWhenDone(application %q, %v) receives records of stream %s, but no job holds that application name for the stream in that store: give CommitWhenDone the application name and store of the Read's WithCheckpoints",
			ErrInvalidOption, fn.App, fn.Store, stream)
	}
	if !l.AfterSink {
		return fmt.Errorf("%w: CommitWhenDone(application %q) receives records of stream %s, whose Read commits positions itself: add WithCommitsAfterSink() to that Read",
			ErrInvalidOption, fn.App, stream)
	}
	if !l.SinkAttached() {
		err := retryStore(ctx, fn.Store, fn.StartupTimeout, "CommitWhenDone", "marking the lease of application "+fn.App+" for stream "+stream, func(err error) bool { return errors.Is(err, checkpoint.ErrNotHeld) }, fn.logs, func(ctx context.Context) error {
			return fn.store.MarkSink(ctx, l)
		})
		if errors.Is(err, checkpoint.ErrNotHeld) {
			// Another run took the name since: the next record checks again.
			return nil
		}
		if err != nil {
			return err
		}
	}
	fn.checked[stream] = l.Epoch
	return nil
}

// positionOf keys a record's position by its stream and shard. The
// position is its sequence number, followed by "/" and its sub-sequence
// number for the user records of a KPL aggregate after the first.
func positionOf(r Record) (string, string) {
	return r.Stream + "/" + r.ShardID, positionText(r.SequenceNumber, r.SubSequenceNumber)
}

// splitPosition parses a position of positionOf.
func splitPosition(pos string) (seq string, sub int64) {
	seq, subText, ok := strings.Cut(pos, "/")
	if ok {
		sub, _ = strconv.ParseInt(subText, 10, 64)
	}
	return seq, sub
}

// comparePositions orders positions of positionOf.
func comparePositions(a, b string) int {
	sa, ua := splitPosition(a)
	sb, ub := splitPosition(b)
	if c := seqnum.Compare(sa, sb); c != 0 {
		return c
	}
	return cmp.Compare(ua, ub)
}

// laterSeq is the later of two positions.
func laterSeq(a, b string) string {
	if comparePositions(a, b) >= 0 {
		return a
	}
	return b
}

// doneMark turns an element of the sink's output into a mark that only
// carries its watermark into sinkCommitFn.
func doneMark(_ beam.T) (string, string) { return "", "" }

// sinkCommitFn keeps, per shard, the last sequence number of each window
// whose results the sink has not finished yet, and commits it when the
// input watermark (the sink's, which lags the read's) passes the window's
// end: an event-time timer per window end.
type sinkCommitFn struct {
	App   string
	Store checkpoint.Spec

	Pending state.Value[string] // JSON of pendingWindows
	Due     timers.EventTime

	store checkpoint.Store
}

// pendingWindows maps a window's end (Unix ms, as a string) to the last
// sequence number of the shard in that window.
type pendingWindows map[string]string

func (fn *sinkCommitFn) Setup(ctx context.Context) error {
	st, err := openStoreWithin(ctx, fn.Store, defaultCheckpointSpec().StartupTimeout, "CommitWhenDone", sinkLog(fn.App, fn.Store))
	if err != nil {
		return err
	}
	fn.store = st
	return nil
}

func (fn *sinkCommitFn) ProcessElement(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key, seq string) error {
	if key == "" {
		return nil // a mark of the sink's output
	}
	p, err := fn.read(sp)
	if err != nil {
		return err
	}
	end := strconv.FormatInt(int64(ts), 10)
	if old, ok := p[end]; ok {
		seq = laterSeq(old, seq)
	}
	p[end] = seq
	fn.Due.Set(tp, mtime.Time(ts).ToTime(), timers.WithTag(end))
	return fn.write(sp, p)
}

func (fn *sinkCommitFn) OnTimer(ctx context.Context, ts beam.EventTime, sp state.Provider, tp timers.Provider, key string, timer timers.Context) error {
	p, err := fn.read(sp)
	if err != nil {
		return err
	}
	fired, err := strconv.ParseInt(timer.Tag, 10, 64)
	if err != nil {
		return fmt.Errorf("kinesisio: CommitWhenDone: timer tag %q: %w", timer.Tag, err)
	}
	best := ""
	for end, seq := range p {
		e, err := strconv.ParseInt(end, 10, 64)
		if err != nil || e > fired {
			continue
		}
		if best == "" || comparePositions(seq, best) > 0 {
			best = seq
		}
		delete(p, end)
	}
	if err := fn.write(sp, p); err != nil {
		return err
	}
	if best == "" {
		return nil
	}
	stream, shard, ok := strings.Cut(key, "/")
	if !ok {
		return fmt.Errorf("kinesisio: CommitWhenDone: bad key %q", key)
	}
	return fn.commit(ctx, stream, shard, best)
}

// commit writes shard's position unless the store already holds a later
// one (a window committed out of order, or another run's).
func (fn *sinkCommitFn) commit(ctx context.Context, stream, shard, pos string) error {
	seq, sub := splitPosition(pos)
	got, err := fn.store.Get(ctx, fn.App, stream, []string{shard})
	if err != nil {
		fn.warnf(ctx, "kinesisio: CommitWhenDone: reading shard %s of application %s from %v: %v (the next window commits it)", shard, fn.App, fn.Store, err)
		return nil
	}
	cp, ok := got[shard]
	if ok && (cp.Finished || cp.Seq != "" && comparePositions(positionText(cp.Seq, cp.SubSeq), pos) >= 0) {
		return nil
	}
	cp.Stream, cp.ShardID, cp.Seq, cp.SubSeq, cp.Owner, cp.Updated = stream, shard, seq, sub, "CommitWhenDone", time.Now()
	if cp.EndSeq != "" && seqnum.Compare(seq, cp.EndSeq) >= 0 {
		// The read recorded the shard's end: its last record is done.
		cp.Finished, cp.EndSeq = true, ""
	}
	if err := fn.store.Set(ctx, fn.App, cp); err != nil {
		// The next window's commit covers this one.
		fn.warnf(ctx, "kinesisio: CommitWhenDone: committing shard %s of application %s to %v: %v (the next window commits it)", shard, fn.App, fn.Store, err)
	}
	return nil
}

// warnf logs a line about a failed commit (the next window retries it;
// each window of each shard commits) within the limit of the transform's
// instances in this process (sinkLog).
func (fn *sinkCommitFn) warnf(ctx context.Context, format string, args ...any) {
	sinkLog(fn.App, fn.Store).Warnf(ctx, format, args...)
}

// sinkLog is the log limit in this process of the CommitWhenDone
// transforms of app and store, shared by both their steps' instances
// (readstate.Registry.SinkLog).
func sinkLog(app string, store checkpoint.Spec) *backoff.LogLimit {
	return readstate.Default.SinkLog(app + "\x00" + store.String())
}

// positionText is the positionOf form of a checkpoint's position.
func positionText(seq string, sub int64) string {
	if sub > 0 {
		return seq + "/" + strconv.FormatInt(sub, 10)
	}
	return seq
}

func (fn *sinkCommitFn) read(sp state.Provider) (pendingWindows, error) {
	s, ok, err := fn.Pending.Read(sp)
	if err != nil {
		return nil, fmt.Errorf("kinesisio: CommitWhenDone: reading state: %w", err)
	}
	p := pendingWindows{}
	if ok && s != "" {
		if err := json.Unmarshal([]byte(s), &p); err != nil {
			return nil, fmt.Errorf("kinesisio: CommitWhenDone: corrupt state: %w", err)
		}
	}
	return p, nil
}

func (fn *sinkCommitFn) write(sp state.Provider, p pendingWindows) error {
	if len(p) == 0 {
		return fn.Pending.Clear(sp)
	}
	b, err := json.Marshal(p)
	if err != nil {
		return err
	}
	return fn.Pending.Write(sp, string(b))
}
