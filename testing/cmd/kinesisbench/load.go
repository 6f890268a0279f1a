package main

import (
	"cmp"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

const (
	region = kinesistest.Region
	// headerLen is the bytes at the start of each record's data: the time
	// of its PutRecords call and its index (Unix ns, big-endian).
	headerLen      = 16
	callTimeout    = 30 * time.Second
	maxPutAttempts = 30
	// putBatch and putBatchBytes bound one PutRecords call.
	putBatch      = 500
	putBatchBytes = 5<<20 - 64<<10
	keyCount      = 4096
)

// newServer starts an in-process Kinesis server whose goroutines carry
// the profiler label side=server, with a client for the bare loops and
// producers: the connector's HTTP settings and, like the connector, no
// SDK retries.
func newServer(quotas bool) (*fakekinesis.Server, *kinesis.Client, error) {
	var srv *fakekinesis.Server
	var err error
	pprof.Do(context.Background(), pprof.Labels("side", "server"), func(context.Context) {
		srv, err = fakekinesis.NewServer(fakekinesis.WithQuotas(quotas), fakekinesis.WithShardLimit(8192))
	})
	if err != nil {
		return nil, nil, err
	}
	return srv, kinesis.New(kinesis.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(srv.Endpoint()),
		HTTPClient:   kinesistest.HTTPClient(),
		Retryer:      aws.NopRetryer{},
	}), nil
}

// shardInfo is a shard and the hash key that routes a record to it.
type shardInfo struct{ ID, HashKey string }

// newStream creates a stream of n shards and returns its name and shards.
func newStream(ctx context.Context, c *kinesis.Client, n int) (string, []shardInfo, error) {
	name := fmt.Sprintf("kinesisbench-%06x", rand.Uint32()&0xffffff)
	if _, err := kinesistest.CreateStream(ctx, c, name, int32(n)); err != nil {
		return "", nil, err
	}
	shards, err := kinesistest.Shards(ctx, c, name)
	out := make([]shardInfo, len(shards))
	for i, s := range shards {
		out[i] = shardInfo{aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey)}
	}
	return name, out, err
}

// parallel runs f(0..n-1) in n goroutines and joins their errors.
func parallel(n int, f func(i int) error) error {
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() { errs[i] = f(i) })
	}
	wg.Wait()
	return errors.Join(errs...)
}

// sleep waits d, or until ctx ends (its error).
func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// filler is the data after the header: printable, so a record can be read.
var filler = []byte(strings.Repeat("kinesisbench-", (1<<20)/13+1))

// makeData returns record idx's data of size bytes sent at sent.
func makeData(size int, idx int64, sent time.Time) []byte {
	d := make([]byte, size)
	binary.BigEndian.PutUint64(d[0:8], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint64(d[8:16], uint64(idx))
	copy(d[headerLen:], filler)
	return d
}

// putter puts records numbered from 0, record i on shard i mod shards (by
// ExplicitHashKey), or with keys, partition key keys[i mod len(keys)].
type putter struct {
	c      *kinesis.Client
	stream string
	shards []shardInfo
	keys   []string
	size   int
}

// put puts records first..first+n-1, stamped with the time of each call,
// resending refused entries (and whole failed calls: their records may
// then be in the stream twice, which the sink tells apart).
func (p *putter) put(ctx context.Context, first int64, n int) error {
	entries := make([]types.PutRecordsRequestEntry, n)
	for i := range entries {
		idx := first + int64(i)
		entries[i].Data = makeData(p.size, idx, time.Now())
		if p.keys != nil {
			entries[i].PartitionKey = aws.String(p.keys[idx%int64(len(p.keys))])
		} else {
			entries[i].PartitionKey = aws.String(strconv.FormatInt(idx%keyCount, 36))
			entries[i].ExplicitHashKey = aws.String(p.shards[idx%int64(len(p.shards))].HashKey)
		}
	}
	for attempt := 1; ; attempt++ {
		now := time.Now()
		for i := range entries {
			binary.BigEndian.PutUint64(entries[i].Data[0:8], uint64(now.UnixNano()))
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := p.c.PutRecords(cctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		cancel()
		if err == nil {
			failed := entries[:0:0]
			for i, r := range out.Records {
				if r.ErrorCode != nil {
					failed = append(failed, entries[i])
				}
			}
			if entries = failed; len(entries) == 0 {
				return nil
			}
		}
		if attempt == maxPutAttempts || ctx.Err() != nil {
			return fmt.Errorf("PutRecords: %d records not put after %d attempts: %w", len(entries), attempt, cmp.Or(err, ctx.Err(), errRefused))
		}
		if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
			return err
		}
	}
}

// errRefused: the server kept refusing entries of a PutRecords call.
var errRefused = errors.New("entries refused")

// batchLen is how many records of p.size fit one PutRecords call.
func (p *putter) batchLen() int { return max(1, min(putBatch, putBatchBytes/(p.size+8))) }

// fill puts n records as fast as workers calls in parallel allow.
func (p *putter) fill(ctx context.Context, n int64, workers int) error {
	var next atomic.Int64
	batch := int64(p.batchLen())
	return parallel(workers, func(int) error {
		for first := next.Add(batch) - batch; first < n && ctx.Err() == nil; first = next.Add(batch) - batch {
			if err := p.put(ctx, first, int(min(batch, n-first))); err != nil {
				return err
			}
		}
		return ctx.Err()
	})
}

// produce puts records at rate per second for d (one call every 10 ms,
// 8 in flight at most, label side=producer) and returns when the last
// call is done.
func (p *putter) produce(ctx context.Context, rate float64, d time.Duration) error {
	type job struct {
		first int64
		n     int
	}
	jobs := make(chan job, 32)
	errc := make(chan error, 1)
	go func() {
		errc <- parallel(8, func(int) (err error) {
			pprof.Do(ctx, pprof.Labels("side", "producer"), func(ctx context.Context) {
				for j := range jobs {
					if err == nil {
						err = p.put(ctx, j.first, j.n)
					}
				}
			})
			return err
		})
	}()
	start, batch := time.Now(), int64(p.batchLen())
	t := time.NewTicker(10 * time.Millisecond)
	defer t.Stop()
	for scheduled := int64(0); ; {
		el := min(time.Since(start), d)
		for due := int64(rate * el.Seconds()); scheduled < due && ctx.Err() == nil; {
			n := min(batch, due-scheduled)
			jobs <- job{scheduled, int(n)}
			scheduled += n
		}
		if el >= d || ctx.Err() != nil {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
		}
	}
	close(jobs)
	return errors.Join(<-errc, ctx.Err())
}

// bareRead is the bare aws-sdk-go-v2 reader: one goroutine per shard
// (label side=bare) reading from TRIM_HORIZON with GetRecords (Limit
// 10000, a throttled call retried after 200 ms), or with sub, a
// SubscribeToShard stream as consumer sub, until the shard is caught up
// (no records and MillisBehindLatest 0), handing every record to s. It
// returns the calls or events it took.
func bareRead(ctx context.Context, c *kinesis.Client, stream, sub string, shards []shardInfo, s *sink) (int64, error) {
	var calls atomic.Int64
	err := parallel(len(shards), func(i int) (err error) {
		pprof.Do(ctx, pprof.Labels("side", "bare"), func(ctx context.Context) {
			if sub != "" {
				err = subscribeShard(ctx, c, sub, shards[i].ID, s, &calls)
			} else {
				err = getShard(ctx, c, stream, shards[i].ID, s, &calls)
			}
		})
		return err
	})
	return calls.Load(), err
}

func getShard(ctx context.Context, c *kinesis.Client, stream, shard string, s *sink, calls *atomic.Int64) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	it, err := c.GetShardIterator(cctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	cancel()
	if err != nil {
		return fmt.Errorf("GetShardIterator %s: %w", shard, err)
	}
	for iter := it.ShardIterator; iter != nil; {
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := c.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		cancel()
		calls.Add(1)
		var throttled *types.ProvisionedThroughputExceededException
		if errors.As(err, &throttled) {
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("GetRecords %s: %w", shard, err)
		}
		for i := range out.Records {
			r := &out.Records[i]
			s.observe(r.Data, aws.ToTime(r.ApproximateArrivalTimestamp), shard, aws.ToString(r.SequenceNumber))
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil
		}
		iter = out.NextShardIterator
	}
	return nil
}

func subscribeShard(ctx context.Context, c *kinesis.Client, consumerARN, shard string, s *sink, events *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{ConsumerARN: aws.String(consumerARN), ShardId: aws.String(shard),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon}})
	if err != nil {
		return fmt.Errorf("SubscribeToShard %s: %w", shard, err)
	}
	st := out.GetStream()
	defer st.Close()
	for ev := range st.Events() {
		if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
			events.Add(1)
			for i := range e.Value.Records {
				r := &e.Value.Records[i]
				s.observe(r.Data, aws.ToTime(r.ApproximateArrivalTimestamp), shard, aws.ToString(r.SequenceNumber))
			}
			if aws.ToInt64(e.Value.MillisBehindLatest) == 0 || len(e.Value.ChildShards) > 0 {
				return nil
			}
		}
	}
	return fmt.Errorf("SubscribeToShard %s ended before the shard was caught up: %w", shard, cmp.Or(st.Err(), io.ErrUnexpectedEOF))
}

// registerConsumer registers a consumer for the bare SubscribeToShard loop
// and returns its ARN once ACTIVE, and a func deregistering it.
func registerConsumer(ctx context.Context, c *kinesis.Client, stream string) (string, func(), error) {
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return "", nil, fmt.Errorf("DescribeStreamSummary: %w", err)
	}
	arn, name := sum.StreamDescriptionSummary.StreamARN, aws.String(fmt.Sprintf("bare-%06x", rand.Uint32()&0xffffff))
	reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: arn, ConsumerName: name})
	if err != nil {
		return "", nil, fmt.Errorf("RegisterStreamConsumer: %w", err)
	}
	dereg := func() {
		ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
		defer cancel()
		_, _ = c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: arn, ConsumerName: name})
	}
	for {
		out, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
		if err == nil && out.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			return aws.ToString(reg.Consumer.ConsumerARN), dereg, nil
		}
		if err = errors.Join(err, sleep(ctx, 100*time.Millisecond)); err != nil {
			dereg()
			return "", nil, fmt.Errorf("consumer not ACTIVE: %w", err)
		}
	}
}

// callsByShard is the server's calls of op per shard.
func callsByShard(srv *fakekinesis.Server, op string, shards []shardInfo) []int {
	out := make([]int, len(shards))
	for i, sh := range shards {
		out[i] = srv.CallsByShard(op, sh.ID)
	}
	return out
}

// waitStarted waits (at most limit) until every shard has had a call of op:
// the read runs on all of them.
func waitStarted(ctx context.Context, srv *fakekinesis.Server, op string, shards []shardInfo, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for slices.Contains(callsByShard(srv, op, shards), 0) {
		if time.Now().After(deadline) {
			return fmt.Errorf("not every shard had a %s call within %v", op, limit)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return err
		}
	}
	return nil
}
