package fetcher

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// poll is the GetRecords loop: it fetches from cfg.Start within the
// shard's quota until the shard's end, a permanent error or Close.
func (f *Fetcher) poll() {
	pos := f.cfg.Start // where a new iterator must start
	iter := ""
	failures := 0
	var ahead clockWait
	minInterval := time.Duration(float64(time.Second) / f.cfg.CallsPerSecond)
	quota := ratelimit.Bucket{Rate: f.cfg.BytesPerSecond}
	if f.cfg.Unpaced {
		minInterval = 0
	}
	pace := pacer{bound: f.cfg.IdlePoll, floor: minInterval}
	// One input for every call: an empty call allocates in the SDK, not
	// here (the SDK keeps nothing of it once the call returned).
	in := &kinesis.GetRecordsInput{ShardIterator: new(string), Limit: new(int32)}
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
						f.cfg.Log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: Kinesis refuses an iterator at %v, ahead of its clock (%s); waiting for it (at most %v of difference): %v",
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
		*in.ShardIterator, *in.Limit = iter, limit
		out, err := f.api.GetRecords(ctx, in, f.decodeOption()...)
		cancel()
		f.endCall(time.Since(callStart))
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
			CallStart:          callStart,
			MillisBehindLatest: -1,
			ShardEnd:           out.NextShardIterator == nil,
			ChildShards:        out.ChildShards,
		}
		if out.MillisBehindLatest != nil {
			b.MillisBehindLatest = *out.MillisBehindLatest
			f.stats.mbl.Store(*out.MillisBehindLatest)
		}
		records := f.dec.Records(out)
		b.Fetched = len(records)
		var fetched int64
		b.Records, b.bytes, fetched = f.expand(records, f.cfg.Start)
		if n := len(records); n > 0 {
			pos = restriction.After(records[n-1].SequenceNumber)
		}
		clear(records) // reused by the decoder: must not pin this call's data
		f.push(b)
		f.observeRate(fetched, time.Since(callStart))
		if b.ShardEnd {
			return
		}
		iter = *out.NextShardIterator
		// Stay within the shard's byte rate the way the service accounts
		// for it (a 10 MiB call buys 5 s of silence), and poll slower, up
		// to IdlePoll apart, while a caught-up shard brings few records or
		// none (pacer).
		if !f.cfg.Unpaced {
			next = maxTime(next, quota.Charge(callStart, charged, float64(fetched)))
		}
		if gap := pace.after(callStart, len(records), len(records) >= int(limit), b.MillisBehindLatest); gap > 0 {
			next = maxTime(next, callStart.Add(gap))
		}
		f.setNextCall(next)
	}
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

// firstCallLimit bounds the records asked for by a fetcher's first call.
const firstCallLimit = 1000

// idleFirst is the gap after the first empty GetRecords call on a shard
// that is caught up; the gap doubles from it after each further empty
// call, up to Config.IdlePoll.
const idleFirst = 250 * time.Millisecond

// fewRecords is what a call on a caught-up shard aims to bring: a shard
// whose calls bring fewer (a near-idle shard, a record or two per call at
// the quota's pace) is polled less often, so that they bring about this
// many, and no less often than Config.IdlePoll. At 10 records/s that is a
// call every 500 ms: 2 calls/s, a record waiting at most about 520 ms.
const fewRecords = 5

// rateRecords and rateCalls size the window over which the pacer
// estimates a caught-up shard's rate: the latest calls that together
// brought at least rateRecords records, at most rateCalls of them. One
// call's count is Poisson noise (at 10 records/s, one call in eight
// brings 1 or 2 of the 5 expected); 30 records measure the rate within
// about a fifth. A call that brings riseRecords or more is a sample of
// its own: its rate counts at once when it is the higher one, so a shard
// whose rate rises (a burst after a quiet spell) is followed from the
// next call.
const (
	rateRecords = 30
	rateCalls   = 8
	riseRecords = 10
)

// maxGrowth bounds how much longer a gap after a call that brought
// records may be than the gap before it: a falling rate spaces the calls
// out over a few calls, never at once.
const maxGrowth = 1.5

// pacer spaces the GetRecords calls of a shard that is caught up, so that
// a quiet shard costs about one call per Config.IdlePoll and a near-idle
// one a call per fewRecords records, instead of one per quota interval.
// Gaps run from the start of a call to the start of the next.
//
//   - A call that brings a full batch (as many records as it asked for),
//     or records while the shard is behind (MillisBehindLatest > 0), is
//     followed at the quota's pace, and the rate window is cleared (those
//     calls measure the reader, not the shard). So is the first call
//     that finds the shard caught up, and it is no rate sample: it brings
//     the rest of a backlog, not what arrived since the call before (as a
//     sample, a catch-up's 3,000-record last call kept an idle shard at
//     the quota's pace for the next 8 calls).
//   - After a call that brings records on a caught-up shard
//     (MillisBehindLatest 0, or not reported), the gap is what brings
//     fewRecords at the shard's rate estimated over the window (the
//     records of the latest calls, at least rateRecords of them, or
//     rateCalls calls, over the time since the start of the call before
//     the oldest), and at most maxGrowth times the last gap (the quota's
//     interval when that was the quota's pace): the quota's pace as soon
//     as the shard brings fewRecords per quota interval (25 records/s at
//     5 calls/s), never more than bound. A rise shortens the gap at the
//     next call; a fall lengthens it over a few. Unpaced, the next call
//     follows at once, as after any records.
//   - After an empty call on a caught-up shard the gap is idleFirst, then
//     twice the last gap after each further empty call, never more than
//     bound, nor more than the window's estimate when it still holds
//     records (an empty call on a shard at 10 records/s is noise, not
//     idleness; unpaced, the window does not count here); an empty call
//     on a shard that is behind (the iterator crossed a gap) is followed
//     idleFirst later without growing.
//
// bound is therefore the longest time between the starts of two calls on
// a live shard (unless the byte quota, a retry or a full buffer holds the
// next one, or the call itself takes longer), and a record arriving on a
// quiet or near-idle shard is fetched at most bound plus one call's
// duration after it arrived (TestPacerSimulation).
type pacer struct {
	bound time.Duration // the longest gap (Config.IdlePoll)
	floor time.Duration // the quota's interval between calls; 0 = unpaced
	gap   time.Duration // after the last call, 0 = the quota's pace
	last  time.Time     // the start of the last call

	// The rate window, a ring of the latest calls on the caught-up shard:
	// the records each brought, and the time since the call before it.
	recs  [rateCalls]int
	spans [rateCalls]time.Duration
	head  int  // where the next call goes
	held  int  // how many calls the ring holds
	tip   bool // the last call found the shard caught up (not full, not behind)
}

// after returns how long after the start of a call (at start) that
// returned n Kinesis records, full when that is as many as it asked for,
// with MillisBehindLatest mbl (-1 when absent), the next call may start;
// 0 means at the quota's pace.
func (p *pacer) after(start time.Time, n int, full bool, mbl int64) time.Duration {
	since := time.Duration(0)
	if !p.last.IsZero() {
		since = start.Sub(p.last)
	}
	p.last = start
	first := min(idleFirst, p.bound)
	wasTip := p.tip
	if full || mbl > 0 {
		p.held, p.tip = 0, false
	} else {
		// A call is a rate sample when the one before it was caught up
		// too: the first call at the tip brings the rest of a backlog, not
		// what arrived since the call before it.
		if since > 0 && wasTip {
			p.recs[p.head], p.spans[p.head] = n, since
			p.head = (p.head + 1) % rateCalls
			p.held = min(p.held+1, rateCalls)
		}
		p.tip = true
	}
	switch {
	case n > 0 && (full || mbl > 0 || p.floor <= 0 || since <= 0 || !wasTip):
		p.gap = 0
	case n > 0:
		// Records on a caught-up shard: aim at fewRecords at its rate.
		want := min(p.estimate(), time.Duration(maxGrowth*float64(max(p.gap, p.floor))))
		if want <= p.floor {
			p.gap = 0
		} else {
			p.gap = min(want, p.bound)
		}
	case mbl > 0:
		p.gap = first
	case p.gap == 0:
		p.gap = min(first, max(p.idleEstimate(), p.floor))
	default:
		p.gap = min(2*p.gap, p.bound, p.idleEstimate())
	}
	return p.gap
}

// idleEstimate bounds the gap after an empty call: the window's estimate
// when paced; unpaced, where records are fetched as fast as the server
// answers, the window measures the server, and an empty call waits
// idleFirst, doubling.
func (p *pacer) idleEstimate() time.Duration {
	if p.floor <= 0 {
		return p.bound
	}
	return p.estimate()
}

// estimate is the gap that brings fewRecords at the rate of the window,
// or bound when the window holds no records.
func (p *pacer) estimate() time.Duration {
	recs, span := 0, time.Duration(0)
	for i := 1; i <= p.held && recs < rateRecords; i++ {
		j := (p.head - i + rateCalls) % rateCalls
		recs += p.recs[j]
		span += p.spans[j]
	}
	if recs == 0 {
		return p.bound
	}
	est := span * fewRecords / time.Duration(recs)
	if j := (p.head - 1 + rateCalls) % rateCalls; p.held > 0 && p.recs[j] >= riseRecords {
		// The latest call alone is a sample large enough to trust: a
		// shard whose rate rose is followed at once.
		est = min(est, p.spans[j]*fewRecords/time.Duration(p.recs[j]))
	}
	return est
}
