// Package commit writes the positions of one run of a Read to its
// checkpoint store, from one worker process: at most one write per shard
// per interval, in the background, and at once for a shard's final
// position. While the store fails, all of those writes wait out one
// backoff, and a failed pass logs one line within the run's limit. It
// also heartbeats the run's lease while the run is active in the
// process, and remembers that the lease was lost (taken over by another
// job), after which it writes nothing more.
//
// Only positions that the runner has committed are offered to it (the
// readers offer a restriction's start when a ProcessElement call begins:
// the runner resumes a residual only after committing the bundle that
// made it), so what it writes never runs ahead of the runner.
package commit

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// Config is what a Committer needs besides its store and lease.
type Config struct {
	// Stream is the stream's name, the checkpoints' key with the shard.
	Stream string
	// Interval is the least time between two writes of one shard.
	Interval time.Duration
	// Tick is how often pending writes are looked at; 0 = Interval/10,
	// at least 10 ms.
	Tick time.Duration
	// Retry spaces the retries of a failed write or heartbeat.
	Retry backoff.Policy
	// Log bounds the lines about failed writes and heartbeats; nil: the
	// Committer's own limit. The readers pass their run's, which their
	// own store failures share.
	Log *backoff.LogLimit
	// AfterSink: positions are committed by another writer
	// (CommitWhenDone), and a shard counts as read to its end for its
	// children once its EndSeq is recorded.
	AfterSink bool
	// SinkGrace, with AfterSink, is how long after the first record this
	// process emitted the lease may go without a CommitWhenDone's mark
	// (checkpoint.Lease.SinkAttached) before the run fails with
	// ErrNoSink: a Read with WithCommitsAfterSink and no CommitWhenDone
	// would commit nothing. 0: 15 s.
	SinkGrace time.Duration
}

// ErrNoSink is the error of a run with AfterSink whose records no
// CommitWhenDone received within SinkGrace.
var ErrNoSink = errors.New("no CommitWhenDone received the records of this read")

// Stats counts the writes of a Committer.
type Stats struct {
	// Commits counts checkpoints written, Failures writes that failed
	// (retried later), Throttled those of Failures the store throttled.
	Commits, Failures, Throttled int64
}

// shard is the state of one shard's checkpoint in this process.
type shard struct {
	pending   checkpoint.Checkpoint // the newest position offered
	written   checkpoint.Checkpoint // the last one written
	dirty     bool
	writtenAt time.Time // when written was written; zero = never
	failures  int       // consecutive failures of this shard's writes
	retryAt   time.Time // after failures: when this shard may be written again
}

// Committer writes one run's checkpoints from this process.
type Committer struct {
	store checkpoint.Store
	lease checkpoint.Lease
	cfg   Config

	mu       sync.Mutex
	last     checkpoint.Lease // as the last heartbeat returned it
	shards   map[string]*shard
	finished map[string]bool // shards known to be read to their end
	lost     error           // the lease was lost: nothing more is written

	// writes follows the failures in a row of all the writes, whatever
	// the shard: while the store fails, the background flushes and the
	// readers' final writes wait out one backoff (WriteBackoff), not
	// one per shard.
	writes backoff.Streak

	commits, failures, throttled atomic.Int64
	reported                     Stats // what StatsDelta last returned
	active                       atomic.Int64
	released                     atomic.Bool
	stopping                     atomic.Bool  // a stop was requested
	firstRecord                  atomic.Int64 // Unix ns of the first record emitted here; 0 = none yet

	stop chan struct{}
	done chan struct{}
	once sync.Once
}

// New starts a Committer writing under lease l to store.
func New(store checkpoint.Store, l checkpoint.Lease, cfg Config) *Committer {
	if cfg.Tick <= 0 {
		cfg.Tick = max(cfg.Interval/10, 10*time.Millisecond)
	}
	if cfg.SinkGrace <= 0 {
		cfg.SinkGrace = 15 * time.Second
	}
	c := &Committer{store: store, lease: l, last: l, cfg: cfg, shards: map[string]*shard{}, finished: map[string]bool{}, stop: make(chan struct{}), done: make(chan struct{})}
	if c.cfg.Log == nil {
		c.cfg.Log = &c.writes.Log
	}
	c.Touch()
	go c.loop()
	return c
}

// Lease returns the lease the Committer writes under, as its last
// heartbeat read it.
func (c *Committer) Lease() checkpoint.Lease {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last
}

// StopRequested reports whether the lease asked its holder to stop
// (checkpoint.Store.RequestStop), as the last heartbeat found.
func (c *Committer) StopRequested() bool { return c.stopping.Load() }

// NoteRecords notes that this process emitted records of the run: the
// start of SinkGrace.
func (c *Committer) NoteRecords() {
	if c.firstRecord.Load() == 0 {
		c.firstRecord.CompareAndSwap(0, time.Now().UnixNano())
	}
}

// Touch notes that the run is active in this process: the lease is
// heartbeated only while it is (a cancelled job stops calling it, and its
// lease then goes stale by itself).
func (c *Committer) Touch() { c.active.Store(time.Now().UnixNano()) }

// Err returns why the Committer stopped writing (the lease was lost), or
// nil.
func (c *Committer) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lost
}

// Offer records that the runner committed shardID's records up to and
// including seq (sub-sequence subSeq). It is written within the interval.
// An offer that does not advance past what was offered before is ignored.
func (c *Committer) Offer(shardID string, parents []string, seq string, subSeq int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.shardLocked(shardID, parents)
	if s.pending.Finished || !advances(s.pending, seq, subSeq) {
		return
	}
	s.pending.Seq, s.pending.SubSeq = seq, subSeq
	s.dirty = true
}

// advances reports whether (seq, subSeq) is after cp's position.
func advances(cp checkpoint.Checkpoint, seq string, subSeq int64) bool {
	if cp.Seq == "" {
		return seq != ""
	}
	switch c := seqnum.Compare(seq, cp.Seq); {
	case c != 0:
		return c > 0
	default:
		return subSeq > cp.SubSeq
	}
}

func (c *Committer) shardLocked(shardID string, parents []string) *shard {
	s := c.shards[shardID]
	if s == nil {
		s = &shard{pending: checkpoint.Checkpoint{Stream: c.cfg.Stream, ShardID: shardID, Parents: slices.Clone(parents)}}
		c.shards[shardID] = s
	}
	return s
}

// Final writes shardID's pending position now, with Finished set when
// ended (the shard was read to its end), and waits for the write. A
// failed write stays pending: the caller tries again.
func (c *Committer) Final(ctx context.Context, shardID string, parents []string, ended bool) error {
	c.mu.Lock()
	if c.lost != nil {
		c.mu.Unlock()
		return c.lost
	}
	s := c.shardLocked(shardID, parents)
	if ended && !s.pending.Finished {
		s.pending.Finished = true
		s.dirty = true
	}
	if !s.dirty {
		c.mu.Unlock()
		return nil
	}
	cp := s.pending
	c.mu.Unlock()
	return c.write(ctx, shardID, cp, time.Now())
}

// EndAfterSink records that shardID was read to its end, whose last
// record is last ("" for none), when its positions are committed by
// another writer (CommitWhenDone): Finished if the store's checkpoint has
// reached last already, else EndSeq, which that writer turns into
// Finished when it commits last. Either way the shard's children may
// start (ParentsFinished with AfterSink).
func (c *Committer) EndAfterSink(ctx context.Context, shardID string, parents []string, last string) error {
	if err := c.Err(); err != nil {
		return err
	}
	got, err := c.store.Get(ctx, c.lease.App, c.cfg.Stream, []string{shardID})
	if err != nil {
		// Part of the write: the writes back off.
		c.writes.Fail(time.Now(), c.cfg.Retry, time.Time{})
		return err
	}
	cp, ok := got[shardID]
	if ok && cp.Finished {
		c.writes.Reset()
		c.mu.Lock()
		c.finished[shardID] = true
		c.mu.Unlock()
		return nil
	}
	c.mu.Lock()
	s := c.shardLocked(shardID, parents)
	s.pending.Seq, s.pending.SubSeq = cp.Seq, cp.SubSeq
	if last == "" || cp.Seq != "" && seqnum.Compare(cp.Seq, last) >= 0 {
		s.pending.Finished = true
	} else {
		s.pending.EndSeq = last
	}
	s.dirty = true
	next := s.pending
	c.mu.Unlock()
	if err := c.write(ctx, shardID, next, time.Now()); err != nil {
		return err
	}
	c.mu.Lock()
	c.finished[shardID] = true
	c.mu.Unlock()
	return nil
}

// write writes cp and records the outcome.
func (c *Committer) write(ctx context.Context, shardID string, cp checkpoint.Checkpoint, now time.Time) error {
	cp.Updated = now
	err := c.store.Commit(ctx, c.lease, cp)
	c.mu.Lock()
	defer c.mu.Unlock()
	s := c.shards[shardID]
	if err != nil {
		c.failures.Add(1)
		if checkpoint.IsThrottle(err) {
			c.throttled.Add(1)
		}
		if errors.Is(err, checkpoint.ErrFenced) {
			c.loseLocked(fmt.Errorf("shard %s: %w", shardID, err))
			return c.lost
		}
		s.failures++
		s.retryAt = now.Add(c.cfg.Retry.Delay(s.failures))
		c.writes.Fail(now, c.cfg.Retry, time.Time{})
		return err
	}
	c.writes.Reset()
	c.commits.Add(1)
	if cp.Finished {
		c.finished[shardID] = true
	}
	s.failures, s.retryAt = 0, time.Time{}
	s.written, s.writtenAt = cp, now
	// Clean unless a newer position arrived meanwhile.
	s.dirty = s.pending.Seq != cp.Seq || s.pending.SubSeq != cp.SubSeq || s.pending.Finished != cp.Finished
	return nil
}

func (c *Committer) loseLocked(err error) {
	if c.lost == nil {
		c.lost = fmt.Errorf("%w (application %s, run %s, epoch %d)", err, c.lease.App, c.lease.Owner, c.lease.Epoch)
	}
}

// WriteBackoff returns the failed writes in a row (0: the last write
// succeeded), when the first of them failed, and how long after now the
// next write is due (0: now). It is one backoff for the run's writes in
// this process: a reader that writes a final position waits it out as
// the background flushes do.
func (c *Committer) WriteBackoff(now time.Time) (n int, since time.Time, wait time.Duration) {
	return c.writes.State(now)
}

// KnownFinished reports whether every shard of parents is known in this
// process to be read to its end, without asking the store.
func (c *Committer) KnownFinished(parents []string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, p := range parents {
		if !c.finished[p] {
			return false
		}
	}
	return true
}

// ParentsFinished reports whether every shard of parents is recorded in
// the store as read to its end (by any worker): Finished, or, with
// AfterSink, an EndSeq.
func (c *Committer) ParentsFinished(ctx context.Context, parents []string) (bool, error) {
	c.mu.Lock()
	var missing []string
	for _, p := range parents {
		if !c.finished[p] {
			missing = append(missing, p)
		}
	}
	c.mu.Unlock()
	if len(missing) == 0 {
		return true, nil
	}
	got, err := c.store.Get(ctx, c.lease.App, c.cfg.Stream, missing)
	if err != nil {
		return false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	all := true
	for _, p := range missing {
		if cp := got[p]; cp.Finished || c.cfg.AfterSink && cp.EndSeq != "" {
			c.finished[p] = true
		} else {
			all = false
		}
	}
	return all, nil
}

// SinceCommit returns how long ago shardID's checkpoint was last written
// by this process; ok is false when it has not written it.
func (c *Committer) SinceCommit(shardID string, now time.Time) (d time.Duration, ok bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.shards[shardID]; s != nil && !s.writtenAt.IsZero() {
		return now.Sub(s.writtenAt), true
	}
	return 0, false
}

// StatsDelta returns the counts since the last call.
func (c *Committer) StatsDelta() Stats {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := Stats{Commits: c.commits.Load(), Failures: c.failures.Load(), Throttled: c.throttled.Load()}
	d := Stats{Commits: now.Commits - c.reported.Commits, Failures: now.Failures - c.reported.Failures, Throttled: now.Throttled - c.reported.Throttled}
	c.reported = now
	return d
}

// Release gives up the run's lease (a clean stop) after writing what is
// pending, once per Committer.
func (c *Committer) Release(ctx context.Context) error {
	if !c.released.CompareAndSwap(false, true) {
		return nil
	}
	c.flush(ctx, time.Now(), true)
	if err := c.Err(); err != nil {
		return err
	}
	return c.store.Release(ctx, c.lease)
}

// Close stops the background writes and heartbeats after one last
// attempt at what is pending (bounded by ctx).
func (c *Committer) Close(ctx context.Context) {
	c.once.Do(func() {
		close(c.stop)
		<-c.done
		c.flush(ctx, time.Now(), true)
	})
}

func (c *Committer) loop() {
	defer close(c.done)
	t := time.NewTicker(c.cfg.Tick)
	defer t.Stop()
	beat := c.lease.StaleAfter / 4
	lastBeat := time.Now()
	beatFailures := 0
	for {
		select {
		case <-c.stop:
			return
		case now := <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), max(c.cfg.Interval, 5*time.Second))
			c.flush(ctx, now, false)
			if beat > 0 && now.Sub(lastBeat) >= beat && !c.released.Load() && c.Err() == nil {
				if now.Sub(time.Unix(0, c.active.Load())) < c.lease.StaleAfter/2 {
					switch l, err := c.store.Heartbeat(ctx, c.Lease(), procid.Self(), now); {
					case err == nil:
						lastBeat, beatFailures = now, 0
						c.beaten(l, now)
					case errors.Is(err, checkpoint.ErrLeaseLost):
						c.leaseGone(ctx, err)
					default:
						beatFailures++
						lastBeat = now.Add(c.cfg.Retry.Delay(beatFailures) - beat)
						c.cfg.Log.Warnf(context.Background(), "kinesisio: heartbeat of application %s failed (attempt %d): %v", c.lease.App, beatFailures, err)
					}
				}
			}
			cancel()
		}
	}
}

// beaten takes in the lease a heartbeat returned: a stop request, and
// with AfterSink whether a CommitWhenDone marked it in time.
func (c *Committer) beaten(l checkpoint.Lease, now time.Time) {
	if l.StopRequested() && !c.stopping.Load() {
		log.Infof(context.Background(), "kinesisio: a stop of %s was requested: its shards end at their next record and the job ends", l.Name())
		c.stopping.Store(true)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.last = l
	first := c.firstRecord.Load()
	if c.cfg.AfterSink && !l.SinkAttached() && first != 0 && now.Sub(time.Unix(0, first)) > c.cfg.SinkGrace {
		c.loseLocked(fmt.Errorf("%w (stream %s) within %v of its first record: with WithCommitsAfterSink, add kinesisio.CommitWhenDone after the sink, under the same application name and store", ErrNoSink, l.Stream, c.cfg.SinkGrace))
	}
}

// leaseGone handles a heartbeat refused with err: a lease released under
// the same epoch (a clean stop of the run elsewhere in the job) ends the
// heartbeats only, since commits stay fenced by the epoch; a lease of
// another owner or epoch is lost.
func (c *Committer) leaseGone(ctx context.Context, err error) {
	if l, ok, rerr := c.store.ReadLease(ctx, c.lease.App, c.lease.Stream); rerr == nil && ok && l.Owner == "" && l.Epoch == c.lease.Epoch {
		c.released.Store(true)
		return
	} else if rerr == nil && ok && l.Owner != "" {
		err = fmt.Errorf("%w: now held by run %s (%s), epoch %d", err, l.Owner, l.Job, l.Epoch)
	}
	c.mu.Lock()
	c.loseLocked(err)
	c.mu.Unlock()
}

// flush writes the shards that are due: dirty, written longer than the
// interval ago and not waiting out a retry of their own (all dirty ones
// when force). While the writes back off (WriteBackoff) a pass that is
// not forced writes nothing; a failed write ends the pass (the store is
// likely down for the others too) with one line within the log limit.
func (c *Committer) flush(ctx context.Context, now time.Time, force bool) {
	if !force && c.writes.Wait(now) > 0 {
		return
	}
	type due struct {
		id string
		cp checkpoint.Checkpoint
	}
	var todo []due
	c.mu.Lock()
	if c.lost != nil {
		c.mu.Unlock()
		return
	}
	for id, s := range c.shards {
		if !s.dirty || !force && (now.Before(s.retryAt) || now.Sub(s.writtenAt) < c.cfg.Interval) {
			continue
		}
		todo = append(todo, due{id, s.pending})
	}
	c.mu.Unlock()
	for i, d := range todo {
		if err := c.write(ctx, d.id, d.cp, now); err != nil {
			if c.Err() != nil {
				return
			}
			n, since, wait := c.writes.State(now)
			c.cfg.Log.Warnf(ctx, "kinesisio: committing the positions of application %s (shard %s; %d shards pending) failed%s (retrying in %v): %v",
				c.lease.App, d.id, len(todo)-i, backoff.InARow(n, now.Sub(since)), wait.Round(time.Millisecond), err)
			return
		}
	}
}
