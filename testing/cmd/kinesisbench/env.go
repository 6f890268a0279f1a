package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

const (
	// region of the in-process server and every client.
	region = kinesistest.Region
	// headerLen is the bytes at the start of each record's data: the send
	// time (Unix nanoseconds) and the record's index, big-endian.
	headerLen = 16
	// callTimeout bounds one Kinesis call of the bare loops and producers.
	callTimeout = 30 * time.Second
	// maxPutAttempts bounds the tries of an entry the server refuses.
	maxPutAttempts = 30
	// putBatchBytes keeps a PutRecords call under its 5 MiB limit.
	putBatchBytes = 5<<20 - 64<<10
	// keyCount is how many partition keys the producers cycle through (the
	// shard is chosen by ExplicitHashKey).
	keyCount = 4096
)

// bench holds what the figures share.
type benchRun struct {
	c      *config
	rep    *report
	stdout io.Writer
	stderr io.Writer
	jobs   jobpb.JobServiceClient
	seq    atomic.Int64
}

var (
	setupOnce sync.Once
	prismJobs jobpb.JobServiceClient
	setupErr  error
)

// setupProcess prepares the process once: placeholder credentials for the
// connector's default chain when the environment has none (the server
// does not check signatures), Beam, Prism (in this process, so that a job
// that overruns can be cancelled through the job service; an endpoint
// already set, by a test that started Prism, is kept).
func setupProcess(ctx context.Context, logLevel string) (jobpb.JobServiceClient, error) {
	setupOnce.Do(func() {
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_SECRET_ACCESS_KEY") == "" {
			os.Setenv("AWS_ACCESS_KEY_ID", "kinesisbench")
			os.Setenv("AWS_SECRET_ACCESS_KEY", "kinesisbench")
		}
		if os.Getenv("AWS_EC2_METADATA_DISABLED") == "" {
			os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		}
		if !beam.Initialized() {
			beam.Init()
		}
		beamlog.SetupLogging(strings.ToLower(logLevel), "text")
		prismJobs, setupErr = prismrun.Start(ctx)
	})
	return prismJobs, setupErr
}

func newBench(ctx context.Context, c *config, stdout, stderr io.Writer) (*benchRun, error) {
	jobs, err := setupProcess(ctx, c.logLevel)
	if err != nil {
		return nil, err
	}
	return &benchRun{c: c, rep: &report{Targets: map[string]float64{}}, stdout: stdout, stderr: stderr, jobs: jobs}, nil
}

// progress prints a progress line on stderr.
func (b *benchRun) progress(format string, args ...any) {
	fmt.Fprintf(b.stderr, "[%s] %s\n", time.Now().Format("15:04:05.000"), fmt.Sprintf(format, args...))
}

// detail prints a progress line with -v.
func (b *benchRun) detail(format string, args ...any) {
	if b.c.verbose {
		b.progress(format, args...)
	}
}

// emit prints a finished table and keeps it for the Markdown output.
func (b *benchRun) emit(t *bench.Table) {
	t.WriteText(b.stdout)
	b.rep.Tables = append(b.rep.Tables, t)
}

// newServerClient starts an in-process Kinesis server whose goroutines
// carry the profiler label side=server, so that the CPU figure can tell
// its time from the client's, and returns it with a client of it
// (newClient).
func newServerClient(quotas bool) (*fakekinesis.Server, *kinesis.Client, error) {
	var srv *fakekinesis.Server
	var err error
	pprof.Do(context.Background(), pprof.Labels("side", "server"), func(context.Context) {
		srv, err = fakekinesis.NewServer(fakekinesis.WithQuotas(quotas), fakekinesis.WithShardLimit(8192))
	})
	if err != nil {
		return nil, nil, err
	}
	return srv, newClient(srv.Endpoint()), nil
}

// newClient returns a client for the bare loops and the producers, with
// the HTTP settings the connector uses (connections kept per shard) and,
// like the connector's, without SDK retries: the callers retry.
func newClient(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       region,
		Credentials:  credentials.NewStaticCredentialsProvider("bench", "bench", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   kinesistest.HTTPClient(), // the connector's HTTP settings
		Retryer:      aws.NopRetryer{},
	})
}

// shardInfo is a shard and the hash key that routes a record to it.
type shardInfo struct {
	ID      string
	HashKey string
}

// newStream creates a stream of n shards, named after the figure fig,
// and returns its name and shards.
func (b *benchRun) newStream(ctx context.Context, c *kinesis.Client, fig string, n int) (string, []shardInfo, error) {
	name := fmt.Sprintf("kinesisbench-%s-%d-%06x", fig, b.seq.Add(1), rand.Uint32()&0xffffff)
	if _, err := kinesistest.CreateStream(ctx, c, name, int32(n)); err != nil {
		return "", nil, err
	}
	shards, err := kinesistest.Shards(ctx, c, name)
	if err != nil {
		return "", nil, err
	}
	out := make([]shardInfo, len(shards))
	for i, s := range shards {
		out[i] = shardInfo{ID: aws.ToString(s.ShardId), HashKey: aws.ToString(s.HashKeyRange.StartingHashKey)}
	}
	return name, out, nil
}

// filledStream is newStream with n records of size bytes put on it
// (putter.fill with workers calls in flight). The caller deletes it.
func (b *benchRun) filledStream(ctx context.Context, c *kinesis.Client, fig string, shards, size int, n int64, workers int) (string, []shardInfo, error) {
	stream, infos, err := b.newStream(ctx, c, fig, shards)
	if err != nil {
		return "", nil, err
	}
	p := &putter{c: c, stream: stream, shards: infos, size: size}
	if err := p.fill(ctx, n, workers); err != nil {
		deleteStream(c, stream)
		return "", nil, fmt.Errorf("fill: %w", err)
	}
	return stream, infos, nil
}

// parallel runs f(0), ..., f(n-1) in n goroutines and joins their errors.
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

func deleteStream(c *kinesis.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, _ = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
}

// filler is the data after the header: printable, so a record can be
// looked at.
var filler = []byte(strings.Repeat("kinesisbench-", (1<<20)/13+1))

// makeData returns a record's data: the header, then filler up to size.
func makeData(size int, idx int64, sent time.Time) []byte {
	d := make([]byte, size)
	binary.BigEndian.PutUint64(d[0:8], uint64(sent.UnixNano()))
	binary.BigEndian.PutUint64(d[8:16], uint64(idx))
	copy(d[headerLen:], filler)
	return d
}

// stampData rewrites the send time of data made by makeData.
func stampData(d []byte, sent time.Time) {
	binary.BigEndian.PutUint64(d[0:8], uint64(sent.UnixNano()))
}

// readHeader returns the send time and index of a record's data.
func readHeader(d []byte) (sent int64, idx int64, ok bool) {
	if len(d) < headerLen {
		return 0, 0, false
	}
	return int64(binary.BigEndian.Uint64(d[0:8])), int64(binary.BigEndian.Uint64(d[8:16])), true
}

// putter puts records numbered from 0 on a stream, record i on shard
// i mod shards (by ExplicitHashKey), retrying refused entries; with keys,
// record i has partition key keys[i mod len(keys)] and no hash key.
type putter struct {
	c      *kinesis.Client
	stream string
	shards []shardInfo
	keys   []string
	size   int
	// calls holds the duration of each PutRecords call.
	calls   *bench.Histogram
	retried atomic.Int64
	// callErrors counts PutRecords calls that failed as a whole and were
	// sent again (their records may be in the stream twice).
	callErrors     atomic.Int64
	firstCallError atomic.Value // string
}

// put puts records first..first+n-1, stamped with the time of the call.
func (p *putter) put(ctx context.Context, first int64, n int) error {
	entries := make([]types.PutRecordsRequestEntry, n)
	now := time.Now()
	for i := range entries {
		idx := first + int64(i)
		entries[i].Data = makeData(p.size, idx, now)
		if p.keys != nil {
			entries[i].PartitionKey = aws.String(p.keys[idx%int64(len(p.keys))])
			continue
		}
		entries[i].PartitionKey = aws.String(strconv.FormatInt(idx%keyCount, 36))
		entries[i].ExplicitHashKey = aws.String(p.shards[idx%int64(len(p.shards))].HashKey)
	}
	for attempt := 1; ; attempt++ {
		// Stamp at the call: latency counts from PutRecords.
		now := time.Now()
		for i := range entries {
			stampData(entries[i].Data, now)
		}
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := p.c.PutRecords(cctx, &kinesis.PutRecordsInput{StreamName: aws.String(p.stream), Records: entries})
		cancel()
		if p.calls != nil {
			p.calls.Record(time.Since(now))
		}
		if err != nil {
			// The outcome is unknown: the records may be in the stream.
			// Resending them may duplicate them; callErrors says so.
			if p.callErrors.Add(1) == 1 {
				p.firstCallError.Store(fmt.Sprintf("%v (after %v)", err, time.Since(now).Round(time.Millisecond)))
			}
			if attempt == maxPutAttempts || ctx.Err() != nil {
				return fmt.Errorf("PutRecords of %d records: %w", len(entries), err)
			}
			if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		var failed []types.PutRecordsRequestEntry
		var code string
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, entries[i])
				code = aws.ToString(r.ErrorCode)
			}
		}
		if len(failed) == 0 {
			return nil
		}
		if attempt == maxPutAttempts {
			return fmt.Errorf("%d records still refused after %d attempts (%s)", len(failed), attempt, code)
		}
		p.retried.Add(int64(len(failed)))
		entries = failed
		if err := sleep(ctx, time.Duration(attempt)*20*time.Millisecond); err != nil {
			return err
		}
	}
}

// batchLen is how many records of p.size fit one PutRecords call.
func (p *putter) batchLen() int {
	return max(1, min(writeBatch, putBatchBytes/(p.size+8)))
}

// fill puts n records (indexes 0..n-1) as fast as workers calls in
// parallel allow.
func (p *putter) fill(ctx context.Context, n int64, workers int) error {
	var next atomic.Int64
	batch := int64(p.batchLen())
	err := parallel(workers, func(int) error {
		for {
			first := next.Add(batch) - batch
			if first >= n || ctx.Err() != nil {
				return nil
			}
			if err := p.put(ctx, first, int(min(batch, n-first))); err != nil {
				return err
			}
		}
	})
	if err != nil {
		return err
	}
	return ctx.Err()
}

// producer writes at a steady rate for a while.
type producer struct {
	p        *putter
	rate     float64 // records per second, all shards together
	tick     time.Duration
	workers  int
	started  time.Time
	stopped  time.Time
	produced atomic.Int64 // records handed to the workers
	put      atomic.Int64 // records acknowledged
}

// run produces for d (or until ctx ends), then waits for the calls in
// flight. Records are numbered from 0 in the order they are scheduled.
func (pr *producer) run(ctx context.Context, d time.Duration) error {
	type job struct {
		first int64
		n     int
	}
	jobs := make(chan job, pr.workers*4)
	errc := make(chan error, 1)
	go func() {
		errc <- parallel(pr.workers, func(int) (err error) {
			pprof.Do(ctx, pprof.Labels("side", "producer"), func(ctx context.Context) {
				for j := range jobs {
					if err != nil {
						continue
					}
					if err = pr.p.put(ctx, j.first, j.n); err == nil {
						pr.put.Add(int64(j.n))
					}
				}
			})
			return err
		})
	}()
	batch := pr.p.batchLen()
	pr.started = time.Now()
	end := pr.started.Add(d)
	t := time.NewTicker(pr.tick)
	var scheduled int64
loop:
	for {
		now := time.Now()
		if now.After(end) {
			now = end
		}
		due := int64(pr.rate * now.Sub(pr.started).Seconds())
		for scheduled < due {
			n := int(min(int64(batch), due-scheduled))
			select {
			case jobs <- job{scheduled, n}:
			case <-ctx.Done():
				break loop
			}
			scheduled += int64(n)
			pr.produced.Store(scheduled)
		}
		if !now.Before(end) {
			break
		}
		select {
		case <-t.C:
		case <-ctx.Done():
			break loop
		}
	}
	t.Stop()
	close(jobs)
	err := <-errc
	pr.stopped = time.Now()
	if err != nil {
		return err
	}
	return ctx.Err()
}

// bareRead reads every shard from TRIM_HORIZON with one goroutine per
// shard until a call returns no records and MillisBehindLatest 0 (caught
// up) or the shard ends, handing every record to s. A throttled call
// (quotas on) is retried after 200 ms. With paced, each shard
// waits as the connector's fetcher does: 200 ms between calls, and a byte
// bucket of one second at 2 MiB/s that a call may overdraw (charged at the
// call's end: the loop does not see its response headers). Its goroutines
// carry the label side=bare.
func bareRead(ctx context.Context, c *kinesis.Client, stream string, shards []shardInfo, paced bool, s *sink) (calls int64, err error) {
	var callCount atomic.Int64
	err = parallel(len(shards), func(i int) (err error) {
		pprof.Do(ctx, pprof.Labels("side", "bare"), func(ctx context.Context) {
			err = bareShard(ctx, c, stream, shards[i].ID, paced, s, &callCount)
		})
		return err
	})
	return callCount.Load(), err
}

func bareShard(ctx context.Context, c *kinesis.Client, stream, shardID string, paced bool, s *sink, calls *atomic.Int64) error {
	cctx, cancel := context.WithTimeout(ctx, callTimeout)
	it, err := c.GetShardIterator(cctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(shardID), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	cancel()
	if err != nil {
		return fmt.Errorf("GetShardIterator %s: %w", shardID, err)
	}
	iter := it.ShardIterator
	// The byte bucket is refilled up to a call's start.
	tokens, last := float64(quotaBytesPerSec), time.Now()
	for iter != nil {
		if err := ctx.Err(); err != nil {
			return err
		}
		start := time.Now()
		cctx, cancel := context.WithTimeout(ctx, callTimeout)
		out, err := c.GetRecords(cctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(10000)})
		cancel()
		end := time.Now()
		calls.Add(1)
		var throttled *types.ProvisionedThroughputExceededException
		if errors.As(err, &throttled) {
			// Only with quotas on: back off as a careful client would.
			s.throttled.Add(1)
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
			continue
		}
		if err != nil {
			return fmt.Errorf("GetRecords %s: %w", shardID, err)
		}
		var bytes int
		for i := range out.Records {
			r := &out.Records[i]
			bytes += len(r.Data) + len(aws.ToString(r.PartitionKey))
			s.observe(r.Data, aws.ToTime(r.ApproximateArrivalTimestamp), shardID, aws.ToString(r.SequenceNumber))
		}
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			return nil
		}
		iter = out.NextShardIterator
		if paced {
			tokens = min(tokens+max(start.Sub(last), 0).Seconds()*quotaBytesPerSec, quotaBytesPerSec) - float64(bytes)
			last = end
			due := start.Add(200 * time.Millisecond)
			if debt := end.Add(time.Duration(-tokens / quotaBytesPerSec * float64(time.Second))); tokens < 0 && debt.After(due) {
				due = debt
			}
			if err := sleep(ctx, time.Until(due)); err != nil {
				return err
			}
		}
	}
	return nil
}

// readBack reads a stream back with the bare loop (at most 5 minutes)
// into a sink of n records.
func readBack(ctx context.Context, c *kinesis.Client, stream string, shards []shardInfo, n int64) (*sink, error) {
	s := newSink(n)
	rctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	_, err := bareRead(rctx, c, stream, shards, false, s)
	return s, err
}

// firstErr is the first whole-call error of p's PutRecords calls.
func firstErr(p *putter) string {
	s, _ := p.firstCallError.Load().(string)
	return s
}

// explainMissing adds what the stream holds to a Read failure.
func explainMissing(ctx context.Context, c *kinesis.Client, stream string, shards []shardInfo, n int64, p *putter, msg string) error {
	s, err := readBack(ctx, c, stream, shards, n)
	if err != nil {
		return fmt.Errorf("kinesisio.Read: %s (reading the stream back failed: %v)", msg, err)
	}
	return fmt.Errorf("kinesisio.Read: %s; the stream holds %d records, %d distinct of %d put (%d PutRecords calls resent after failing as a whole; first: %s)",
		msg, s.n.Load(), s.distinct.Load(), n, p.callErrors.Load(), firstErr(p))
}

// callsByShard sums the server's GetRecords calls per shard.
func callsByShard(srv *fakekinesis.Server, shards []shardInfo) []int {
	return opCallsByShard(srv, "GetRecords", shards)
}

// opCallsByShard sums the server's calls of op per shard.
func opCallsByShard(srv *fakekinesis.Server, op string, shards []shardInfo) []int {
	out := make([]int, len(shards))
	for i, sh := range shards {
		out[i] = srv.CallsByShard(op, sh.ID)
	}
	return out
}

// waitPolled waits until every shard has had a call of op (GetRecords, or
// SubscribeToShard with fan-out: the read is running on all of them), at
// most limit, and returns how long it took from since.
func waitPolled(ctx context.Context, srv *fakekinesis.Server, op string, shards []shardInfo, since time.Time, limit time.Duration) (time.Duration, error) {
	deadline := time.Now().Add(limit)
	for slices.Contains(opCallsByShard(srv, op, shards), 0) {
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("not every shard had a %s call within %v", op, limit)
		}
		if err := sleep(ctx, 5*time.Millisecond); err != nil {
			return 0, err
		}
	}
	return time.Since(since), nil
}

// bareConsumer registers a fan-out consumer called name for the bare
// SubscribeToShard loop and returns its ARN once it is ACTIVE (at most
// 30 s); the caller deregisters it (bareDeregister).
func bareConsumer(ctx context.Context, c *kinesis.Client, stream, name string) (streamARN, consumerARN string, err error) {
	cctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	sum, err := c.DescribeStreamSummary(cctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
	if err != nil {
		return "", "", fmt.Errorf("DescribeStreamSummary: %w", err)
	}
	streamARN = aws.ToString(sum.StreamDescriptionSummary.StreamARN)
	reg, err := c.RegisterStreamConsumer(cctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
	if err != nil {
		return "", "", fmt.Errorf("RegisterStreamConsumer: %w", err)
	}
	consumerARN = aws.ToString(reg.Consumer.ConsumerARN)
	for {
		out, err := c.DescribeStreamConsumer(cctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(consumerARN)})
		if err != nil {
			return "", "", fmt.Errorf("DescribeStreamConsumer: %w", err)
		}
		if out.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
			return streamARN, consumerARN, nil
		}
		if err := sleep(cctx, 100*time.Millisecond); err != nil {
			return "", "", fmt.Errorf("consumer %s not ACTIVE: %w", name, err)
		}
	}
}

// bareDeregister deregisters the bare loop's consumer.
func bareDeregister(c *kinesis.Client, streamARN, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, _ = c.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
}

// bareSubscribe reads every shard from TRIM_HORIZON with one
// SubscribeToShard stream per shard, one goroutine each (label
// side=bare), as consumer consumerARN, until an event says the shard is
// caught up (MillisBehindLatest 0) or ended, handing every record to s.
// It is the fan-out counterpart of bareRead: the stock aws-sdk-go-v2
// client and event stream decoder, nothing else.
func bareSubscribe(ctx context.Context, c *kinesis.Client, consumerARN string, shards []shardInfo, s *sink) (events int64, err error) {
	var count atomic.Int64
	err = parallel(len(shards), func(i int) (err error) {
		pprof.Do(ctx, pprof.Labels("side", "bare"), func(ctx context.Context) {
			err = bareSubscribeShard(ctx, c, consumerARN, shards[i].ID, s, &count)
		})
		return err
	})
	return count.Load(), err
}

func bareSubscribeShard(ctx context.Context, c *kinesis.Client, consumerARN, shardID string, s *sink, events *atomic.Int64) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	out, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
		ConsumerARN:      aws.String(consumerARN),
		ShardId:          aws.String(shardID),
		StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
	})
	if err != nil {
		return fmt.Errorf("SubscribeToShard %s: %w", shardID, err)
	}
	st := out.GetStream()
	defer st.Close()
	for ev := range st.Events() {
		e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent)
		if !ok {
			continue
		}
		events.Add(1)
		for i := range e.Value.Records {
			r := &e.Value.Records[i]
			s.observe(r.Data, aws.ToTime(r.ApproximateArrivalTimestamp), shardID, aws.ToString(r.SequenceNumber))
		}
		if aws.ToInt64(e.Value.MillisBehindLatest) == 0 || len(e.Value.ChildShards) > 0 {
			return nil
		}
	}
	if err := st.Err(); err != nil {
		return fmt.Errorf("SubscribeToShard %s: %w", shardID, err)
	}
	return fmt.Errorf("SubscribeToShard %s: the subscription ended before the shard was caught up", shardID)
}
