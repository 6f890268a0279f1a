package fetcher

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/wire"
)

// API is the part of the Kinesis API a fetcher calls.
type API interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
	SubscribeToShard(context.Context, *kinesis.SubscribeToShardInput, ...func(*kinesis.Options)) (*kinesis.SubscribeToShardOutput, error)
}

// Fetcher reads one shard in its own goroutine: a GetRecords loop, or
// SubscribeToShard subscriptions one at a time (enhanced fan-out).
type Fetcher struct {
	cfg Config
	api API

	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	space  chan struct{} // a consumer freed buffer space
	onExit func(*Fetcher)

	mu         sync.Mutex
	queue      []*Batch
	buffered   int64
	origin     restriction.Position // where the first unconsumed record is
	err        error                // permanent failure
	stopped    bool                 // the loop has ended
	abandoned  bool                 // it ended because nobody consumed
	lastTouch  time.Time
	nextCallAt time.Time
	callTook   time.Duration // how long GetRecords calls take, smoothed

	failingSince time.Time   // the first of the failures in a row (the loop's goroutine only)
	timer        *time.Timer // wait's (the loop's goroutine only)

	spares   [][]Entry // consumed batches' entries, cleared, for the next calls (see entries)
	rate     float64   // bytes fetched per second, smoothed
	stats    counters
	reported Stats          // what StatsDelta last returned, cumulatively
	hashes   *hashkey.Range // the shard's hash key range, nil if unknown

	// dec decodes GetRecords responses (the loop's goroutine only): its
	// body buffer is reused from call to call.
	dec    *wire.Decoder
	decOpt []func(*kinesis.Options)
	evRecs []wire.Record // the records of the last SubscribeToShard event, reused
}

// decodeResponses routes GetRecords responses and SubscribeToShard event
// payloads through package wire's decoders; off, the SDK's deserializers
// decode them (for benchmarks comparing the two).
var decodeResponses = true

// decodeOption is the per-call option of a GetRecords call.
func (f *Fetcher) decodeOption() []func(*kinesis.Options) {
	if !decodeResponses {
		return nil
	}
	return f.decOpt
}

// Start begins fetching cfg.ShardID from cfg.Start. onExit, if set, runs
// when the loop ends.
func Start(cfg Config, api API, onExit func(*Fetcher)) *Fetcher {
	cfg = cfg.WithDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	f := &Fetcher{
		cfg: cfg, api: api, ctx: ctx, cancel: cancel, onExit: onExit,
		done:      make(chan struct{}),
		space:     make(chan struct{}, 1),
		origin:    cfg.Start,
		lastTouch: time.Now(),
		hashes:    shardRange(cfg),
		dec:       wire.NewDecoder(),
	}
	f.decOpt = []func(*kinesis.Options){f.dec.Option()}
	f.stats.mbl.Store(-1)
	go f.run()
	return f
}

// Origin is the position of the first record not yet consumed: the start
// of the restriction that may reuse this fetcher.
func (f *Fetcher) Origin() restriction.Position {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.origin
}

// Next removes and returns the oldest batch, or nil when none is ready.
// The caller must hand it back with Return once it consumed what it could.
func (f *Fetcher) Next() *Batch {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTouch = time.Now()
	if len(f.queue) == 0 {
		return nil
	}
	b := f.queue[0]
	f.queue[0] = nil
	f.queue = f.queue[1:]
	return b
}

// Return gives back a batch taken with Next after its records up to b.Next
// were consumed. What was not consumed goes back to the front.
func (f *Fetcher) Return(b *Batch) {
	// b is the consumer's until it is given back: what it consumed is
	// counted, and a consumed batch's entries cleared (a full call's take
	// about a megabyte), before the fetcher's lock is taken.
	var freed int64
	for _, r := range b.Records[:b.Next] {
		freed += r.Bytes()
	}
	var origin restriction.Position
	if b.Next > 0 {
		origin = b.Records[b.Next-1].Claim.Next()
	}
	consumed := b.Next == len(b.Records)
	if consumed {
		clear(b.Records) // no pointers into this call's data stay
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTouch = time.Now()
	if b.Next > 0 {
		f.origin = origin
	}
	if !consumed {
		b.Records = b.Records[b.Next:]
		b.Next = 0
		b.bytes -= freed
		f.queue = append([]*Batch{b}, f.queue...)
	} else if len(f.spares) < maxSpares && cap(b.Records) > 0 {
		// Its entries serve a next call (the consumer copies what it
		// emits and keeps no reference to b.Records).
		f.spares, b.Records = append(f.spares, b.Records[:0]), nil
	}
	f.buffered -= freed
	select {
	case f.space <- struct{}{}:
	default:
	}
}

// Err returns the permanent error that stopped the fetcher, if any.
func (f *Fetcher) Err() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}

// Drained reports that the loop has ended and every batch was consumed.
func (f *Fetcher) Drained() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped && len(f.queue) == 0
}

// Buffered returns the bytes fetched and not yet consumed.
func (f *Fetcher) Buffered() int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.buffered
}

// Backlog estimates the bytes between the fetcher and the tip of the
// shard: MillisBehindLatest times the rate at which the shard's data has
// been fetched. It is what a runner sees as remaining work.
func (f *Fetcher) Backlog() int64 {
	mbl := f.stats.mbl.Load()
	f.mu.Lock()
	defer f.mu.Unlock()
	if mbl <= 0 {
		return 0
	}
	return int64(float64(mbl) / 1000 * f.rate)
}

// maxIdleResume bounds the ceiling of ResumeIn for a long Config.IdlePoll:
// a consumer's resume is where it checks stop requests, deadlines and
// record budgets and marks its run active for the lease's heartbeat (half
// the 10 s lease timeout), so it looks again at least about this often
// whatever the fetcher waits for (a long IdlePoll, a backoff, the byte
// quota after a large call).
const maxIdleResume = 2 * time.Second

// resumeAfterCall is how long after a call is due a consumer that found
// nothing looks again: about when its batch is in.
const resumeAfterCall = 20 * time.Millisecond

// ResumeIn suggests when a consumer that found nothing should look again:
// soon after the next call is due to return (its start plus how long
// calls take plus resumeAfterCall), at most the idle gap (Config.IdlePoll,
// at most maxIdleResume, at least 1 s) plus that later, so that the
// consumer of a quiet shard resumes once per call
// (TestIdleConsumerResumesOncePerCall). While a call is in flight (its
// due time passed) the consumer looks again after 10 ms: waiting out the
// call instead made Prism lose the read_records counts of whole shards
// (TestReadTrimHorizonExactlyOnce on kinesis-mock, 3 runs in 10; cause
// not found).
func (f *Fetcher) ResumeIn() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	const floor = 10 * time.Millisecond
	if len(f.queue) > 0 {
		return floor
	}
	if f.cfg.ConsumerARN != "" {
		return fanOutResume
	}
	took := min(f.callTook, time.Second)
	ceiling := max(time.Second, min(f.cfg.IdlePoll, maxIdleResume)) + took + resumeAfterCall
	d := time.Until(f.nextCallAt) + took + resumeAfterCall
	return min(max(d, floor), ceiling)
}

// endCall folds the duration of a GetRecords call that returned into
// the smoothed duration of calls.
func (f *Fetcher) endCall(took time.Duration) {
	f.mu.Lock()
	if f.callTook == 0 {
		f.callTook = took
	} else {
		f.callTook = (3*f.callTook + took) / 4
	}
	f.mu.Unlock()
}

// disposable reports that the loop has ended and nothing in it is still
// owed to a consumer: no error to report, no batch to drain, or nobody
// consuming at all.
func (f *Fetcher) disposable() bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.stopped && (f.abandoned || f.err == nil && len(f.queue) == 0)
}

// Stats returns what the fetcher has done so far.
func (f *Fetcher) Stats() Stats { return f.stats.snapshot() }

// StatsDelta returns what the fetcher did since the last StatsDelta call,
// with the current MillisBehindLatest.
func (f *Fetcher) StatsDelta() Stats {
	now := f.stats.snapshot()
	f.mu.Lock()
	prev := f.reported
	f.reported = now
	f.mu.Unlock()
	return Stats{
		Calls:              now.Calls - prev.Calls,
		Throttled:          now.Throttled - prev.Throttled,
		Retried:            now.Retried - prev.Retried,
		Renewals:           now.Renewals - prev.Renewals,
		MillisBehindLatest: now.MillisBehindLatest,
		Subscriptions:      now.Subscriptions - prev.Subscriptions,
		SubRenewals:        now.SubRenewals - prev.SubRenewals,
		InUse:              now.InUse - prev.InUse,
		Events:             now.Events - prev.Events,
		EndChecks:          now.EndChecks - prev.EndChecks,
		EndsConfirmed:      now.EndsConfirmed - prev.EndsConfirmed,
		Aggregates:         now.Aggregates - prev.Aggregates,
		UserRecords:        now.UserRecords - prev.UserRecords,
		Corrupt:            now.Corrupt - prev.Corrupt,
		OutsideRange:       now.OutsideRange - prev.OutsideRange,
	}
}

// Close stops the loop and waits for it to end.
func (f *Fetcher) Close() {
	f.cancel()
	<-f.done
}

func (f *Fetcher) push(b *Batch) {
	f.mu.Lock()
	defer f.mu.Unlock()
	// Consecutive empty batches carry only evidence: keep the newest.
	if n := len(f.queue); n > 0 && b.Fetched == 0 && f.queue[n-1].Fetched == 0 && !f.queue[n-1].ShardEnd {
		f.queue[n-1] = b
		return
	}
	f.queue = append(f.queue, b)
	f.buffered += b.bytes
}

// observeRate folds a call's bytes into the smoothed fetch rate.
func (f *Fetcher) observeRate(n int64, took time.Duration) {
	if took <= 0 || n == 0 {
		return
	}
	r := float64(n) / took.Seconds()
	f.mu.Lock()
	if f.rate == 0 {
		f.rate = r
	} else {
		f.rate = 0.8*f.rate + 0.2*r
	}
	f.mu.Unlock()
}

func (f *Fetcher) fail(err error) {
	f.mu.Lock()
	f.err = err
	f.mu.Unlock()
}

func (f *Fetcher) setNextCall(t time.Time) {
	f.mu.Lock()
	f.nextCallAt = t
	f.mu.Unlock()
}

// keptStack is the stack a fetcher holds while it waits between calls. A
// GetRecords call runs over 16 KiB deep in the SDK's middleware, so its
// goroutine's stack grows to 32 KiB; a goroutine that waits using less
// than a quarter of its stack has it halved by every GC, and copied back
// up at its next call: a fifth of an idle fetcher's CPU at 1,024 shards
// (BenchmarkIdleShards). Waiting below a frame this large keeps the 32
// KiB (TestWaitingFetcherKeepsItsStack), about 12 KiB more per shard.
const keptStack = 9 << 10

// wait blocks until t, or returns false when the fetcher must stop. It
// reuses one timer (the loop's goroutine only): an idle shard waits
// before every call.
func (f *Fetcher) wait(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return f.ctx.Err() == nil
	}
	return f.waitKeepingStack(d)
}

// waitKeepingStack waits d with keptStack bytes of stack in use below it.
//
//go:noinline
func (f *Fetcher) waitKeepingStack(d time.Duration) bool {
	var pad [keptStack]byte
	touch(pad[:])
	return f.sleep(d)
}

// touch keeps its argument from being optimised away.
//
//go:noinline
func touch(b []byte) { b[0] = 0 }

// sleep waits d on the fetcher's timer, or returns false when the fetcher
// must stop.
func (f *Fetcher) sleep(d time.Duration) bool {
	if f.timer == nil {
		f.timer = time.NewTimer(d)
	} else {
		f.timer.Reset(d) // stopped, or fired and drained
	}
	select {
	case <-f.ctx.Done():
		f.timer.Stop()
		return false
	case <-f.timer.C:
		return true
	}
}

// waitForSpace blocks while the buffer is full. It returns false when the
// fetcher must stop: closed, or abandoned (nobody consumed for IdleTimeout,
// as when the restriction moved to another worker).
func (f *Fetcher) waitForSpace() bool {
	for {
		f.mu.Lock()
		full := f.buffered >= f.cfg.MaxBufferedBytes
		idle := time.Since(f.lastTouch)
		f.mu.Unlock()
		if idle > f.cfg.IdleTimeout {
			f.mu.Lock()
			f.abandoned = true
			f.mu.Unlock()
			return false
		}
		if !full {
			return f.ctx.Err() == nil
		}
		timer := time.NewTimer(f.cfg.IdleTimeout - idle + time.Millisecond)
		select {
		case <-f.ctx.Done():
			timer.Stop()
			return false
		case <-f.space:
		case <-timer.C:
		}
		timer.Stop()
	}
}

// running counts fetcher goroutines in this process.
var running atomic.Int64

// Running returns how many fetcher loops are running in this process.
func Running() int64 { return running.Load() }

func (f *Fetcher) run() {
	running.Add(1)
	defer func() {
		running.Add(-1)
		f.mu.Lock()
		f.stopped = true
		f.mu.Unlock()
		f.cancel()
		if f.onExit != nil {
			f.onExit(f)
		}
		close(f.done)
	}()
	if f.cfg.ConsumerARN != "" {
		f.fanOut()
		return
	}
	f.poll()
}

// handle deals with a failed call: it returns false when the error is
// permanent (or the fetcher is closing), else sets next to a backoff time.
func (f *Fetcher) handle(err error, failures *int, next *time.Time) bool {
	switch awsclient.Classify(err) {
	case awsclient.Canceled:
		return false
	case awsclient.Permanent:
		f.fail(fmt.Errorf("kinesisio: reading shard %s of stream %s: %w", f.cfg.ShardID, f.cfg.Stream, err))
		return false
	case awsclient.Throttled:
		f.stats.throttled.Add(1)
	default:
		if f.ctx.Err() != nil {
			return false
		}
		f.stats.retried.Add(1)
	}
	*failures++
	if *failures == 1 || f.failingSince.IsZero() {
		f.failingSince = time.Now()
	}
	*next = maxTime(*next, time.Now().Add(f.backoff().Delay(*failures)))
	f.setNextCall(*next)
	if awsclient.Classify(err) == awsclient.Transient {
		// Throttling is counted (read_throttled), not logged: it is the
		// service pacing the reader. Anything else is worth a line.
		f.cfg.Log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: a call failed%s, retrying in %v: %v",
			f.cfg.ShardID, f.cfg.Stream, backoff.InARow(*failures, time.Since(f.failingSince)), time.Until(*next).Round(time.Millisecond), err)
	}
	return true
}

func (f *Fetcher) backoff() backoff.Policy {
	return backoff.Policy{Base: f.cfg.BackoffBase, Max: f.cfg.BackoffMax}
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}

// Batch is the result of one successful GetRecords call, or one
// SubscribeToShardEvent with enhanced fan-out, its records expanded into
// user records (KPL aggregates de-aggregated).
type Batch struct {
	Records []Entry
	Next    int // index of the first record not yet consumed
	// Fetched is the number of Kinesis records the call or event held.
	Fetched int

	// CallStart is when the call that returned the batch was sent (with
	// fan-out, when the event was received). A record that the call did
	// not return arrived after about this time.
	CallStart time.Time
	// MillisBehindLatest as reported, or -1 when absent.
	MillisBehindLatest int64
	// ShardEnd is set when the shard is closed and this was its last batch.
	ShardEnd    bool
	ChildShards []types.ChildShard

	bytes int64
}

// CaughtUp reports evidence that the reader was at the tip of the shard
// when the call was made: no records and MillisBehindLatest == 0. Zero
// alone is no evidence (kinesalite always reports it).
func (b *Batch) CaughtUp() bool {
	return b.Fetched == 0 && b.MillisBehindLatest == 0
}

// Entry is one user record as the fetcher buffers it: a plain Kinesis
// record, or one user record of a KPL aggregate, which shares the
// aggregate's sequence number and arrival time.
type Entry struct {
	// Claim is the user record's position: sequence number, sub-sequence
	// number, and whether it is the last of its Kinesis record.
	Claim           restriction.Claim
	PartitionKey    string
	ExplicitHashKey string // from the aggregate; "" for plain records
	Arrival         time.Time
	Data            []byte
}

// Bytes is what the entry counts for the buffer bound and the metrics:
// data and partition key.
func (e Entry) Bytes() int64 { return int64(len(e.Data) + len(e.PartitionKey)) }

// shardRange is the shard's hash key range from Config, nil when unknown
// or unparsable (nothing is counted then).
func shardRange(cfg Config) *hashkey.Range {
	if cfg.HashKeyStart == "" || cfg.HashKeyEnd == "" {
		return nil
	}
	r, err := hashkey.ParseRange(cfg.ShardID, cfg.HashKeyStart, cfg.HashKeyEnd)
	if err != nil {
		return nil
	}
	return &r
}

// outsideShard reports whether a user record's effective hash key lies
// outside the shard's known range.
func (f *Fetcher) outsideShard(pk, ehk string) bool {
	if f.hashes == nil {
		return false
	}
	h, err := hashkey.Effective(pk, ehk)
	return err == nil && !f.hashes.Contains(h)
}

// entries returns an empty slice for about n entries: the newest spare a
// consumed batch gave back when it is large enough and not over four
// times too large, else a new one. Spares too large for n are let go of
// (a burst's slices, once calls are small again); those too small wait
// for a smaller call.
func (f *Fetcher) entries(n int) []Entry {
	var s []Entry
	f.mu.Lock()
	for i := len(f.spares) - 1; i >= 0; i-- {
		c := cap(f.spares[i])
		if c < n {
			continue
		}
		if c <= 4*n+minSpare {
			s = f.spares[i]
		}
		f.spares = slices.Delete(f.spares, i, i+1)
		if s != nil {
			break
		}
	}
	f.mu.Unlock()
	if s == nil {
		s = make([]Entry, 0, n)
	}
	return s
}

// maxSpares bounds the consumed batches' entry slices a fetcher keeps for
// its next calls: about as many as a consumer has given back while the
// fetcher made its next call (one spare served 57% of the calls of
// BenchmarkPollingFetcher, three 98.6%).
const maxSpares = 3

// minSpare is the size of a spare kept however small the calls: a quiet
// shard's calls bring a record or none.
const minSpare = 64

// expand turns the Kinesis records of one call into user records,
// de-aggregating KPL aggregates. A record with the aggregate magic whose
// MD5 or protobuf does not check passes through whole, as KCL does, and is
// counted. User records of an aggregate whose hash key lies outside the
// shard's range (a reshard between aggregation and writing) are delivered
// and counted: KCL drops the whole aggregate then. The user records before
// a start inside an aggregate (AtSequence with Sub > 0, whose iterator
// returns the whole aggregate) are left out; the service returns nothing
// before any other start. It returns the entries, their bytes, and the
// bytes of the Kinesis records as fetched.
func (f *Fetcher) expand(records []wire.Record, start restriction.Position) (out []Entry, bytes, fetched int64) {
	out = f.entries(len(records))
	skipTo := int64(0) // user records of start.Seq below this are left out
	if start.Kind == restriction.AtSequence {
		skipTo = start.Sub
	}
	for _, r := range records {
		seq, arrival, pk := r.SequenceNumber, r.Arrival, r.PartitionKey
		fetched += int64(len(r.Data) + len(pk))
		first := int64(0)
		if skipTo > 0 && seq == start.Seq {
			first = skipTo
		}
		if kpl.IsAggregate(r.Data) {
			users, err := kpl.Decode(r.Data)
			if err == nil {
				f.stats.aggregates.Add(1)
				f.stats.userRecords.Add(int64(len(users)))
				for i, u := range users {
					if f.outsideShard(u.PartitionKey, u.ExplicitHashKey) {
						f.stats.outsideRange.Add(1)
					}
					if int64(i) < first {
						continue
					}
					c := restriction.Claim{Seq: seq, Sub: int64(i), Last: i == len(users)-1}
					e := Entry{Claim: c, PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Arrival: arrival, Data: u.Data}
					bytes += e.Bytes()
					out = append(out, e)
				}
				continue
			}
			f.stats.corrupt.Add(1)
		}
		if first > 0 {
			continue // a plain record is user record 0 alone
		}
		e := Entry{Claim: restriction.Claim{Seq: seq, Last: true}, PartitionKey: pk, Arrival: arrival, Data: r.Data}
		bytes += e.Bytes()
		out = append(out, e)
	}
	return out, bytes, fetched
}
