package fetcher

import (
	"context"
	"errors"
	"fmt"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/seqnum"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/wire"
)

// Enhanced fan-out limits and defaults.
const (
	// SubscribeSpacing is the least time between two SubscribeToShard
	// calls of one consumer for one shard: Kinesis refuses a call within
	// 5 s of the last successful one with ResourceInUseException.
	SubscribeSpacing = 5 * time.Second
	// fanOutResume is when a consumer that found nothing looks again:
	// records are pushed as they arrive, so there is no call to wait for.
	fanOutResume = 50 * time.Millisecond
	// inUseMax bounds the wait after a ResourceInUseException: the
	// subscription in the way (elsewhere, or not yet ended by the
	// service) lasts at most 5 minutes, and a consumer not yet ACTIVE
	// becomes so within seconds.
	inUseMax = 10 * time.Second
	// EndCheckInterval is how long a subscription must go without records
	// before the fetcher asks GetRecords whether the shard has ended, and
	// the least time between two such checks of one shard.
	EndCheckInterval = 5 * time.Second
)

// noInitialResponse makes the SDK read SubscribeToShard's first frame as
// an event instead of requiring an initial-response frame: Kinesis sends
// one (it then arrives as an UnknownUnionMember, ignored), kinesis-mock and
// LocalStack send none (the stock SDK fails on them with "expected
// initial-response"). One client works against all of them.
type noInitialResponse struct{ smithyhttp.ClientProtocol }

func (noInitialResponse) HasInitialEventMessage() bool { return false }

// withoutInitialResponse gives one SubscribeToShard call a protocol of
// its own: the client's is shared by all its calls, and its event-stream
// decoder keeps per-stream state, so two subscriptions decoding at once
// through it race (smithy-go v1.28.9, found by the race detector with 4
// shards).
// The events' JSON payloads are decoded by package wire (see
// decodeResponses).
func withoutInitialResponse(o *kinesis.Options) {
	var p smithyhttp.ClientProtocol = noInitialResponse{awsjson.New11(schemas.Kinesis_20131202)}
	if decodeResponses {
		p = wire.Events(p)
	}
	o.Protocol = p
}

// subscription is what one SubscribeToShard stream ended with.
type subscription struct {
	events   int
	shardEnd bool  // the shard's last event came
	stop     bool  // the fetcher is closing or abandoned
	err      error // nil (and not stop or shardEnd): the service ended it
}

// fanOut is the enhanced fan-out loop: one SubscribeToShard stream at a
// time, renewed from the last record or continuation when the service
// ends it, until the shard's end, a permanent error or Close. Every
// failure other than a permanent one is waited out per shard and retried.
func (f *Fetcher) fanOut() {
	pos := f.cfg.Start // where the next subscription starts
	failures, inUse := 0, 0
	end := endCheck{quietSince: time.Now()}
	var ahead clockWait
	var lastSubscribe time.Time
	next := time.Now()
	for {
		if !f.waitForSpace() || !f.wait(next) {
			return
		}
		start := time.Now()
		stream, done, err := f.subscribe(pos)
		if err == nil {
			lastSubscribe = start
			f.stats.subscriptions.Add(1)
			var sub subscription
			pos, sub = f.consume(stream, pos, &end)
			done()
			if sub.shardEnd || sub.stop {
				return
			}
			if sub.events > 0 {
				failures, inUse = 0, 0
			}
			err = sub.err
			if err == nil {
				f.stats.subRenewals.Add(1)
				next = lastSubscribe.Add(f.cfg.SubscribeSpacing)
				f.setNextCall(next)
				continue
			}
		}
		// Never ask again before the service allows it.
		next = maxTime(time.Now(), lastSubscribe.Add(f.cfg.SubscribeSpacing))
		var riu *types.ResourceInUseException
		switch {
		case errors.As(err, &riu):
			// Another subscription of this consumer to this shard is
			// open (the shard moved here from another worker, or the
			// service has not let go of ours yet), or the consumer is
			// not ACTIVE yet. Both end by themselves: wait, never fail.
			inUse++
			f.stats.inUse.Add(1)
			f.cfg.Log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: SubscribeToShard refused %d time(s) with ResourceInUseException (another subscription of consumer %s to the shard is open, or it is not ACTIVE yet); waiting: %v",
				f.cfg.ShardID, f.cfg.Stream, inUse, f.cfg.ConsumerARN, err)
			next = maxTime(next, time.Now().Add(backoff.Policy{Base: time.Second, Max: inUseMax}.Delay(inUse)))
		case timestampAhead(pos, err):
			wait, fatal := ahead.refused(pos, err, time.Now())
			if fatal != nil {
				f.fail(fmt.Errorf("kinesisio: subscribing to shard %s of stream %s: %w", f.cfg.ShardID, f.cfg.Stream, fatal))
				return
			}
			f.stats.retried.Add(1)
			next = maxTime(next, time.Now().Add(max(wait, time.Second)))
		default:
			if !f.handle(err, &failures, &next) {
				return
			}
		}
		f.setNextCall(next)
	}
}

// subscribe opens a subscription at pos. The call's context lives as long
// as the stream, until done is called; CallTimeout bounds only the wait
// for the response.
func (f *Fetcher) subscribe(pos restriction.Position) (stream *kinesis.SubscribeToShardEventStream, done func(), err error) {
	sp, err := startingPosition(pos)
	if err != nil {
		return nil, nil, fmt.Errorf("kinesisio: shard %s: %w", f.cfg.ShardID, err)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	timer := time.AfterFunc(f.cfg.CallTimeout, cancel)
	f.stats.calls.Add(1)
	out, err := f.api.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(f.cfg.ConsumerARN),
		ShardId:          aws.String(f.cfg.ShardID),
		StartingPosition: sp,
	}, withoutInitialResponse)
	if !timer.Stop() && err == nil {
		out.GetStream().Close()
		err = fmt.Errorf("no response within %v", f.cfg.CallTimeout)
	}
	if err != nil {
		cancel()
		return nil, nil, fmt.Errorf("SubscribeToShard %v: %w", pos, err)
	}
	return out.GetStream(), cancel, nil
}

// startingPosition is pos as SubscribeToShard takes it.
func startingPosition(pos restriction.Position) (*types.StartingPosition, error) {
	switch pos.Kind {
	case restriction.TrimHorizon:
		return &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}, nil
	case restriction.AtTimestamp:
		return &types.StartingPosition{Type: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(pos.Time())}, nil
	case restriction.AtSequence:
		return &types.StartingPosition{Type: types.ShardIteratorTypeAtSequenceNumber, SequenceNumber: aws.String(pos.Seq)}, nil
	case restriction.AfterSequence:
		return &types.StartingPosition{Type: types.ShardIteratorTypeAfterSequenceNumber, SequenceNumber: aws.String(pos.Seq)}, nil
	}
	return nil, pos.Validate()
}

// consume reads one subscription's events into the buffer until it ends,
// and returns where the next subscription must start: after the last
// record received, or after the continuation sequence number when the
// service moved past records it did not send (trimmed). It reads the
// next event only while the buffer has room, so a slow consumer holds
// the service back through flow control instead of filling memory. The
// shard ends at an event with ChildShards, or when end confirms it
// after the subscription went quiet.
func (f *Fetcher) consume(stream *kinesis.SubscribeToShardEventStream, pos restriction.Position, end *endCheck) (restriction.Position, subscription) {
	defer stream.Close()
	var sub subscription
	idle := time.NewTimer(f.cfg.EventTimeout)
	defer idle.Stop()
	last := time.Now()
	for {
		if !f.waitForSpace() {
			sub.stop = true
			return pos, sub
		}
		idle.Reset(f.cfg.EventTimeout)
		var ev types.SubscribeToShardEventStream
		var ok bool
		select {
		case <-f.ctx.Done():
			sub.stop = true
			return pos, sub
		case <-idle.C:
			sub.err = fmt.Errorf("SubscribeToShard %v: no event for %v", pos, f.cfg.EventTimeout)
			return pos, sub
		case ev, ok = <-stream.Events():
		}
		if !ok {
			sub.err = stream.Err()
			return pos, sub
		}
		e, isEvent := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !isEvent {
			continue // the initial-response frame (see noInitialResponse)
		}
		received := time.Now()
		sub.events++
		f.stats.events.Add(1)
		b := &Batch{
			Fetched:            len(e.Value.Records),
			CallStart:          received,
			MillisBehindLatest: -1,
			ShardEnd:           len(e.Value.ChildShards) > 0,
			ChildShards:        e.Value.ChildShards,
		}
		if m := e.Value.MillisBehindLatest; m != nil {
			b.MillisBehindLatest = *m
			f.stats.mbl.Store(*m)
		}
		var fetched int64
		f.evRecs = wire.FromSDK(f.evRecs, e.Value.Records)
		b.Records, b.bytes, fetched = f.expand(f.evRecs, f.cfg.Start)
		clear(f.evRecs) // reused: must not pin this event's data
		if n := len(e.Value.Records); n > 0 {
			pos = restriction.After(aws.ToString(e.Value.Records[n-1].SequenceNumber))
		}
		if c := aws.ToString(e.Value.ContinuationSequenceNumber); c != "" && pos.Kind == restriction.AfterSequence && seqnum.Compare(pos.Seq, c) < 0 {
			pos = restriction.After(c)
		}
		f.push(b)
		f.observeRate(fetched, received.Sub(last))
		last = received
		if b.ShardEnd {
			sub.shardEnd = true
			return pos, sub
		}
		if len(e.Value.Records) > 0 {
			end.quietSince = received
		} else if end.due(received, f.cfg.EndCheckInterval) {
			if eb := f.checkEnd(end, pos); eb != nil {
				f.push(eb)
				sub.shardEnd = true
				return pos, sub
			}
		}
	}
}

// endCheck confirms a shard's end with GetRecords when the subscription
// does not say so. Kinesis ends a closed shard's subscription with an
// event naming its ChildShards; kinesis-mock (LocalStack's Kinesis) never
// does, and goes on sending empty events after a reshard, so a fan-out
// read would never end its parents and their children would wait
// forever. Once a subscription has gone EndCheckInterval without records,
// the fetcher asks GetRecords at the position after the last record: a
// nil NextShardIterator ends the shard as the ChildShards event would
// (with the response's ChildShards and any records the subscription had
// not sent yet). An idle open shard costs one GetRecords per interval
// (the iterator of the last check is reused while the position stays)
// plus one GetShardIterator whenever records came in between.
type endCheck struct {
	quietSince time.Time            // the last event with records, or the loop's start
	last       time.Time            // the last check
	iter       string               // the last check's NextShardIterator, at iterPos
	iterPos    restriction.Position // where iter reads from
	failures   int                  // checks failed in a row
	off        bool                 // GetRecords is not allowed: rely on ChildShards alone
}

// due reports that a check is due at now.
func (c *endCheck) due(now time.Time, every time.Duration) bool {
	return !c.off && now.Sub(c.quietSince) >= every && now.Sub(c.last) >= every
}

// checkEnd asks GetRecords whether the shard ends at pos, and returns the
// shard's last batch when it does, else nil. Failures are logged and the
// check is tried again after the interval; a permanent one (GetRecords
// not allowed for the reader's role) turns the checks off.
func (f *Fetcher) checkEnd(c *endCheck, pos restriction.Position) *Batch {
	c.last = time.Now()
	f.stats.endChecks.Add(1)
	if c.iter == "" || c.iterPos != pos {
		it, err := f.iterator(pos)
		if err != nil {
			f.endCheckFailed(c, err)
			return nil
		}
		c.iter, c.iterPos = it, pos
	}
	callStart := time.Now()
	f.stats.calls.Add(1)
	ctx, cancel := context.WithTimeout(f.ctx, f.cfg.CallTimeout)
	out, err := f.api.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: aws.String(c.iter), Limit: aws.Int32(f.cfg.RecordsPerCall)}, f.decodeOption()...)
	cancel()
	c.iter = ""
	if err != nil {
		f.endCheckFailed(c, fmt.Errorf("GetRecords %v: %w", pos, err))
		return nil
	}
	c.failures = 0
	records := f.dec.Records(out)
	if out.NextShardIterator != nil {
		// Open, or closed with records the subscription has not sent
		// yet: those come through the subscription.
		if len(records) == 0 {
			c.iter = *out.NextShardIterator
		}
		return nil
	}
	f.stats.endsConfirmed.Add(1)
	log.Infof(f.ctx, "kinesisio: shard %s of stream %s ended (GetRecords at %v returned no next iterator; the subscription did not say so)", f.cfg.ShardID, f.cfg.Stream, pos)
	b := &Batch{
		Fetched:            len(records),
		CallStart:          callStart,
		MillisBehindLatest: -1,
		ShardEnd:           true,
		ChildShards:        out.ChildShards,
	}
	b.Records, b.bytes, _ = f.expand(records, f.cfg.Start)
	clear(records)
	return b
}

// endCheckFailed counts and logs a failed end check.
func (f *Fetcher) endCheckFailed(c *endCheck, err error) {
	switch awsclient.Classify(err) {
	case awsclient.Canceled:
		return
	case awsclient.Permanent:
		c.off = true
		f.cfg.Log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: cannot confirm the shard's end with GetRecords (kinesis:GetShardIterator and kinesis:GetRecords allowed?); it ends only when a subscription names its child shards: %v",
			f.cfg.ShardID, f.cfg.Stream, err)
		return
	case awsclient.Throttled:
		f.stats.throttled.Add(1)
	case awsclient.ExpiredIterator:
		f.stats.renewals.Add(1)
		return
	default:
		f.stats.retried.Add(1)
	}
	c.failures++
	f.cfg.Log.Warnf(f.ctx, "kinesisio: shard %s of stream %s: checking the shard's end with GetRecords failed %d time(s) in a row; trying again in %v: %v",
		f.cfg.ShardID, f.cfg.Stream, c.failures, f.cfg.EndCheckInterval, err)
}
