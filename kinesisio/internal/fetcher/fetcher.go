package fetcher

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// API is the part of the Kinesis API a fetcher calls.
type API interface {
	GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error)
	GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error)
}

// Fetcher runs the GetRecords loop of one shard in its own goroutine.
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

	rate     float64 // bytes fetched per second, smoothed
	stats    counters
	reported Stats            // what StatsDelta last returned, cumulatively
	hashes   *ratelimit.Range // the shard's hash key range, nil if unknown
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
	}
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
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lastTouch = time.Now()
	var freed int64
	for _, r := range b.Records[:b.Next] {
		freed += r.Bytes()
	}
	if b.Next > 0 {
		f.origin = b.Records[b.Next-1].Claim.Next()
	}
	if b.Next < len(b.Records) {
		b.Records = b.Records[b.Next:]
		b.Next = 0
		b.bytes -= freed
		f.queue = append([]*Batch{b}, f.queue...)
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

// ResumeIn suggests when a consumer that found nothing should look again:
// soon after the next call is due to return.
func (f *Fetcher) ResumeIn() time.Duration {
	f.mu.Lock()
	defer f.mu.Unlock()
	const floor, ceiling = 10 * time.Millisecond, time.Second
	if len(f.queue) > 0 {
		return floor
	}
	d := time.Until(f.nextCallAt) + 20*time.Millisecond
	return min(max(d, floor), ceiling)
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

// wait blocks until t, or returns false when the fetcher must stop.
func (f *Fetcher) wait(t time.Time) bool {
	d := time.Until(t)
	if d <= 0 {
		return f.ctx.Err() == nil
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-f.ctx.Done():
		return false
	case <-timer.C:
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

// firstCallLimit bounds the records asked for by a fetcher's first call.
const firstCallLimit = 1000

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
	pos := f.cfg.Start // where a new iterator must start
	iter := ""
	failures := 0
	var ahead clockWait
	minInterval := time.Duration(float64(time.Second) / f.cfg.CallsPerSecond)
	quota := ratelimit.Bucket{Rate: f.cfg.BytesPerSecond}
	if f.cfg.Unpaced {
		minInterval = 0
	}
	next := time.Now()
	for {
		if !f.waitForSpace() || !f.wait(next) {
			return
		}
		if iter == "" {
			it, err := f.iterator(pos)
			if err != nil {
				if timestampAhead(pos, err) {
					// The service's clock is behind the time this job
					// pinned (LATEST, or a recent AT_TIMESTAMP): wait
					// for it to catch up, within MaxClockAhead.
					wait, fatal := ahead.refused(pos, err, time.Now())
					if fatal != nil {
						f.fail(fmt.Errorf("kinesisio: reading shard %s of stream %s: %w", f.cfg.ShardID, f.cfg.Stream, fatal))
						return
					}
					if ahead.refusals == 1 {
						log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: Kinesis refuses an iterator at %v, ahead of its clock (%s); waiting for it (at most %v of difference): %v",
							f.cfg.ShardID, f.cfg.Stream, pos, ahead.clock(), MaxClockAhead, err)
					}
					f.stats.retried.Add(1)
					failures++
					next = time.Now().Add(min(backoff.Policy{Base: f.cfg.BackoffBase, Max: time.Second}.Ceiling(failures+1), wait))
					continue
				}
				if !f.handle(err, &failures, &next) {
					return
				}
				continue
			}
			iter = it
		}
		callStart := time.Now()
		f.stats.calls.Add(1)
		ctx, cancel := context.WithTimeout(f.ctx, f.cfg.CallTimeout)
		ctx, headersAt := awsclient.WithHeadersAt(ctx)
		limit := f.cfg.RecordsPerCall
		if f.stats.calls.Load() == 1 {
			// The first call asks for less, so the first records reach
			// the pipeline sooner (a full call of small records can take
			// the service a quarter of a second).
			limit = min(limit, firstCallLimit)
		}
		out, err := f.api.GetRecords(ctx, &kinesis.GetRecordsInput{
			ShardIterator: aws.String(iter),
			Limit:         aws.Int32(limit),
		})
		cancel()
		// The service charged the call by the time its response headers
		// arrived (or, without them, by now).
		charged := headersAt()
		if charged.IsZero() {
			charged = time.Now()
		}
		next = callStart.Add(minInterval)
		if err != nil {
			if awsclient.Classify(err) == awsclient.ExpiredIterator {
				// Renew after the last record fetched: everything up to it
				// is in the buffer or already claimed.
				f.stats.renewals.Add(1)
				iter = ""
				continue
			}
			if !f.handle(err, &failures, &next) {
				return
			}
			continue
		}
		failures = 0
		b := &Batch{
			Fetched:            len(out.Records),
			CallStart:          callStart,
			MillisBehindLatest: -1,
			ShardEnd:           out.NextShardIterator == nil,
			ChildShards:        out.ChildShards,
		}
		if out.MillisBehindLatest != nil {
			b.MillisBehindLatest = *out.MillisBehindLatest
			f.stats.mbl.Store(*out.MillisBehindLatest)
		}
		var fetched int64
		b.Records, b.bytes, fetched = f.expand(out.Records, f.cfg.Start)
		if n := len(out.Records); n > 0 {
			pos = restriction.After(aws.ToString(out.Records[n-1].SequenceNumber))
		}
		f.push(b)
		f.observeRate(fetched, time.Since(callStart))
		if b.ShardEnd {
			return
		}
		iter = *out.NextShardIterator
		// Stay within the shard's byte rate the way the service accounts
		// for it (a 10 MiB call buys 5 s of silence), and poll slower when
		// there was nothing to read.
		if !f.cfg.Unpaced {
			next = maxTime(next, quota.Charge(callStart, charged, float64(fetched)))
		}
		if len(out.Records) == 0 {
			next = maxTime(next, time.Now().Add(f.cfg.IdlePoll))
		}
		f.setNextCall(next)
	}
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
	*next = maxTime(*next, time.Now().Add(f.backoff().Delay(*failures)))
	f.setNextCall(*next)
	return true
}

func (f *Fetcher) backoff() backoff.Policy {
	return backoff.Policy{Base: f.cfg.BackoffBase, Max: f.cfg.BackoffMax}
}

func (f *Fetcher) iterator(pos restriction.Position) (string, error) {
	name, arn := f.cfg.Stream.Ref()
	in := &kinesis.GetShardIteratorInput{StreamName: name, StreamARN: arn, ShardId: aws.String(f.cfg.ShardID)}
	switch pos.Kind {
	case restriction.TrimHorizon:
		in.ShardIteratorType = types.ShardIteratorTypeTrimHorizon
	case restriction.AtTimestamp:
		in.ShardIteratorType = types.ShardIteratorTypeAtTimestamp
		in.Timestamp = aws.Time(pos.Time())
	case restriction.AtSequence:
		in.ShardIteratorType = types.ShardIteratorTypeAtSequenceNumber
		in.StartingSequenceNumber = aws.String(pos.Seq)
	case restriction.AfterSequence:
		in.ShardIteratorType = types.ShardIteratorTypeAfterSequenceNumber
		in.StartingSequenceNumber = aws.String(pos.Seq)
	default:
		return "", fmt.Errorf("kinesisio: shard %s: %w", f.cfg.ShardID, pos.Validate())
	}
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.CallTimeout)
	defer cancel()
	out, err := f.api.GetShardIterator(ctx, in)
	if err != nil {
		return "", fmt.Errorf("GetShardIterator %v: %w", pos, err)
	}
	if out.ShardIterator == nil {
		return "", fmt.Errorf("GetShardIterator %v returned no iterator", pos)
	}
	return *out.ShardIterator, nil
}

// MaxClockAhead is how far ahead of the service's clock an AT_TIMESTAMP
// start may be and still be waited for: LATEST is pinned to the worker's
// clock at the job's start, and Kinesis refuses an iterator at a time its
// own clock has not reached. It is the clock skew AWS's request signing
// tolerates before the SDK has to correct for it: a worker clock further
// ahead is a misconfiguration to report, not to wait out for minutes. A
// timestamp further ahead fails the read, naming both clocks.
const MaxClockAhead = 5 * time.Minute

// clockWait follows the refusals of an AT_TIMESTAMP iterator whose
// timestamp is ahead of the service's clock.
type clockWait struct {
	refusals int
	first    time.Time // when the first refusal came
	service  time.Time // the service's clock at the last refusal, if known
}

// refused takes a refusal of pos at now and returns how long to wait
// before asking again, or the error that ends the read: the timestamp is
// more than MaxClockAhead ahead of the service's clock, or, when the
// service does not say its time, refusals went on for MaxClockAhead.
func (c *clockWait) refused(pos restriction.Position, err error, now time.Time) (time.Duration, error) {
	c.refusals++
	if c.first.IsZero() {
		c.first = now
	}
	c.service = serviceClock(err)
	if !c.service.IsZero() {
		gap := pos.Time().Sub(c.service)
		if gap > MaxClockAhead {
			return 0, fmt.Errorf("start position %v is %v ahead of the Kinesis clock (%s), more than the %v of clock difference Read waits for: check the start position (AtTimestamp) and the workers' clocks: %w",
				pos, gap.Round(time.Millisecond), c.clock(), MaxClockAhead, err)
		}
		return max(gap, 10*time.Millisecond), nil
	}
	if now.Sub(c.first) > MaxClockAhead {
		return 0, fmt.Errorf("start position %v refused by Kinesis as ahead of its clock for %v (its clock unknown; this worker's is %s): check the start position (AtTimestamp) and the workers' clocks: %w",
			pos, now.Sub(c.first).Round(time.Second), now.UTC().Format(time.RFC3339Nano), err)
	}
	return time.Second, nil
}

// clock describes the service's clock as last seen.
func (c *clockWait) clock() string {
	if c.service.IsZero() {
		return "not given"
	}
	return c.service.UTC().Format(time.RFC3339Nano)
}

var currentMillisRE = regexp.MustCompile(`currentTimestampInMillis: *(\d+)`)

// serviceClock returns the service's clock as a refusal gives it: the
// currentTimestampInMillis of Kinesis's message (kinesalite copies it), or
// the response's Date header (to the second), or zero.
func serviceClock(err error) time.Time {
	var inv *types.InvalidArgumentException
	if errors.As(err, &inv) {
		if m := currentMillisRE.FindStringSubmatch(inv.ErrorMessage()); m != nil {
			if ms, perr := strconv.ParseInt(m[1], 10, 64); perr == nil {
				return time.UnixMilli(ms)
			}
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) && resp.Response != nil {
		if t, perr := http.ParseTime(resp.Response.Header.Get("Date")); perr == nil {
			return t
		}
	}
	return time.Time{}
}

// timestampAhead reports the InvalidArgumentException Kinesis returns for
// an AT_TIMESTAMP iterator whose timestamp is ahead of its own clock.
func timestampAhead(pos restriction.Position, err error) bool {
	var inv *types.InvalidArgumentException
	return pos.Kind == restriction.AtTimestamp && errors.As(err, &inv) &&
		strings.Contains(strings.ToLower(inv.ErrorMessage()), "timestamp")
}

func maxTime(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
