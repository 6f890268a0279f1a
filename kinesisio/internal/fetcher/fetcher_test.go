package fetcher

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// fakeShard serves one shard whose records have sequence numbers 1..n.
// Iterators are "i:<index of next record>".
type fakeShard struct {
	API
	mu        sync.Mutex
	data      [][]byte
	closed    bool
	calls     []time.Time
	iterators []*kinesis.GetShardIteratorInput
	// fail, if set, may return an error for call number n (from 1).
	fail func(n int) error
	// arrive, if set, is how many records arrive on the shard just before
	// each GetRecords call: a shard that is always caught up and yields
	// that many records per call, however fast it is polled.
	arrive int
}

func (s *fakeShard) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.iterators = append(s.iterators, in)
	idx := 0
	switch in.ShardIteratorType {
	case types.ShardIteratorTypeAfterSequenceNumber:
		n, _ := strconv.Atoi(*in.StartingSequenceNumber)
		idx = n
	case types.ShardIteratorTypeAtSequenceNumber:
		n, _ := strconv.Atoi(*in.StartingSequenceNumber)
		idx = n - 1
	}
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String(fmt.Sprintf("i:%d", idx))}, nil
}

func (s *fakeShard) GetRecords(_ context.Context, in *kinesis.GetRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, time.Now())
	if s.fail != nil {
		if err := s.fail(len(s.calls)); err != nil {
			return nil, err
		}
	}
	for range s.arrive {
		s.data = append(s.data, make([]byte, 10))
	}
	var idx int
	fmt.Sscanf(*in.ShardIterator, "i:%d", &idx)
	out := &kinesis.GetRecordsOutput{MillisBehindLatest: aws.Int64(0)}
	end := min(idx+int(*in.Limit), len(s.data))
	for i := idx; i < end; i++ {
		out.Records = append(out.Records, types.Record{
			SequenceNumber: aws.String(strconv.Itoa(i + 1)), Data: s.data[i], PartitionKey: aws.String("k"),
			ApproximateArrivalTimestamp: aws.Time(time.Now()),
		})
	}
	if end < len(s.data) {
		out.MillisBehindLatest = aws.Int64(1000)
	}
	if !(s.closed && end == len(s.data)) {
		out.NextShardIterator = aws.String(fmt.Sprintf("i:%d", end))
	}
	return out, nil
}

func newShard(n, size int, closed bool) *fakeShard {
	s := &fakeShard{closed: closed}
	for i := 0; i < n; i++ {
		s.data = append(s.data, make([]byte, size))
	}
	return s
}

var fast = Config{ShardID: "shard-0", Start: restriction.Position{Kind: restriction.TrimHorizon},
	CallsPerSecond: 5, IdlePoll: 5 * time.Millisecond, BackoffBase: time.Millisecond, BackoffMax: 5 * time.Millisecond}

// drain consumes until the shard ends or the deadline passes, returning
// the sequence numbers seen.
func drain(t *testing.T, f *Fetcher, deadline time.Duration) []string {
	t.Helper()
	var seqs []string
	stop := time.Now().Add(deadline)
	for time.Now().Before(stop) {
		b := f.Next()
		if b == nil {
			if f.Err() != nil || f.Drained() {
				return seqs
			}
			time.Sleep(2 * time.Millisecond)
			continue
		}
		for ; b.Next < len(b.Records); b.Next++ {
			seqs = append(seqs, b.Records[b.Next].Claim.Seq)
		}
		f.Return(b)
		if b.ShardEnd {
			return seqs
		}
	}
	t.Fatalf("shard not drained within %v: %d records", deadline, len(seqs))
	return nil
}

func seqRange(from, to int) []string {
	var s []string
	for i := from; i <= to; i++ {
		s = append(s, strconv.Itoa(i))
	}
	return s
}

func TestReadsClosedShardInOrder(t *testing.T) {
	shard := newShard(25, 10, true)
	cfg := fast
	cfg.RecordsPerCall = 10
	f := Start(cfg, shard, nil)
	defer f.Close()
	if diff := cmp.Diff(seqRange(1, 25), drain(t, f, 10*time.Second)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if got := f.Origin(); got != restriction.After("25") {
		t.Errorf("origin after drain = %v, want after 25", got)
	}
}

func TestExpiredIteratorRenewsAfterLastFetched(t *testing.T) {
	shard := newShard(30, 10, true)
	shard.fail = func(n int) error {
		if n == 2 {
			return fmt.Errorf("wrapped: %w", &types.ExpiredIteratorException{Message: aws.String("expired")})
		}
		return nil
	}
	cfg := fast
	cfg.RecordsPerCall = 10
	f := Start(cfg, shard, nil)
	defer f.Close()
	if diff := cmp.Diff(seqRange(1, 30), drain(t, f, 10*time.Second)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if len(shard.iterators) != 2 || shard.iterators[1].ShardIteratorType != types.ShardIteratorTypeAfterSequenceNumber || *shard.iterators[1].StartingSequenceNumber != "10" {
		t.Errorf("iterator requests = %v, want a renewal AFTER_SEQUENCE_NUMBER 10", shard.iterators)
	}
	if got := f.Stats().Renewals; got != 1 {
		t.Errorf("renewals = %d, want 1", got)
	}
}

func TestThrottlingAndServerErrorsAreRetried(t *testing.T) {
	shard := newShard(20, 10, true)
	shard.fail = func(n int) error {
		switch n % 3 {
		case 1:
			return &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
		case 2:
			return &types.InternalFailureException{}
		}
		return nil
	}
	cfg := fast
	cfg.RecordsPerCall = 5
	f := Start(cfg, shard, nil)
	defer f.Close()
	if diff := cmp.Diff(seqRange(1, 20), drain(t, f, 20*time.Second)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	st := f.Stats()
	if st.Throttled < 4 || st.Retried < 4 {
		t.Errorf("stats = %+v, want >= 4 throttled and >= 4 retried", st)
	}
}

func TestPermanentErrorStops(t *testing.T) {
	shard := newShard(5, 10, true)
	shard.fail = func(int) error { return &types.AccessDeniedException{Message: aws.String("no")} }
	f := Start(fast, shard, nil)
	defer f.Close()
	drain(t, f, 5*time.Second)
	var denied *types.AccessDeniedException
	if err := f.Err(); !errors.As(err, &denied) {
		t.Fatalf("Err() = %v, want AccessDenied", err)
	}
}

func TestBufferIsBoundedByBytes(t *testing.T) {
	shard := newShard(1000, 1000, false)
	cfg := fast
	cfg.RecordsPerCall = 20 // 20 KB a call
	cfg.MaxBufferedBytes = 50_000
	f := Start(cfg, shard, nil)
	defer f.Close()
	// Three calls fill the buffer past the bound; then calls stop until
	// something is consumed.
	waitCalls(t, f, 3)
	time.Sleep(time.Second)
	if got := f.Stats().Calls; got != 3 {
		t.Errorf("%d calls with nothing consumed, want 3 (the buffer bound)", got)
	}
	b := f.Next()
	b.Next = len(b.Records)
	f.Return(b)
	waitCalls(t, f, 4)
	time.Sleep(time.Second)
	if got := f.Stats().Calls; got != 4 {
		t.Errorf("%d calls after consuming one batch, want 4", got)
	}
}

func waitCalls(t *testing.T, f *Fetcher, n int64) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); f.Stats().Calls < n; {
		if time.Now().After(deadline) {
			t.Fatalf("fewer than %d calls after 10 s", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestCallsStayWithinQuota(t *testing.T) {
	shard := newShard(100000, 10, false)
	cfg := fast
	cfg.RecordsPerCall = 1
	cfg.CallsPerSecond = 5
	f := Start(cfg, shard, nil)
	start := time.Now()
	go func() {
		for time.Since(start) < 1500*time.Millisecond {
			if b := f.Next(); b != nil {
				b.Next = len(b.Records)
				f.Return(b)
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	f.Close()
	shard.mu.Lock()
	defer shard.mu.Unlock()
	// In any window of one second, at most 5 calls (+1 for the edge).
	for i := range shard.calls {
		n := 0
		for _, c := range shard.calls[i:] {
			if c.Sub(shard.calls[i]) < time.Second {
				n++
			}
		}
		if n > 5 {
			t.Fatalf("%d calls within one second starting at call %d", n, i)
		}
	}
	if len(shard.calls) < 2 {
		t.Fatalf("only %d calls in 1.5 s", len(shard.calls))
	}
}

func TestRegistryReusesOnlyAMatchingFetcher(t *testing.T) {
	r := NewRegistry()
	shard := newShard(10, 10, false)
	cfg := fast
	cfg.RecordsPerCall = 3
	a := r.Acquire("read/shard-0", cfg, shard)
	var b *Batch
	for b == nil {
		b = a.Next()
		time.Sleep(time.Millisecond)
	}
	b.Next = 2
	a.Return(b)
	cfg.Start = restriction.After("2")
	if got := r.Acquire("read/shard-0", cfg, shard); got != a {
		t.Error("a fetcher positioned after 2 was not reused for a restriction starting after 2")
	}
	cfg.Start = restriction.Position{Kind: restriction.TrimHorizon}
	c := r.Acquire("read/shard-0", cfg, shard)
	if c == a {
		t.Error("a fetcher positioned after 2 was reused for a restriction starting at TRIM_HORIZON")
	}
	r.CloseAll()
	if r.Len() != 0 {
		t.Errorf("%d fetchers left after CloseAll", r.Len())
	}
}

func TestAbandonedFetcherStops(t *testing.T) {
	r := NewRegistry()
	cfg := fast
	cfg.IdleTimeout = 50 * time.Millisecond
	f := r.Acquire("read/shard-0", cfg, newShard(10, 10, false))
	select {
	case <-f.done:
	case <-time.After(5 * time.Second):
		t.Fatal("abandoned fetcher still running after 5 s")
	}
	if r.Len() != 0 {
		t.Errorf("abandoned fetcher still registered")
	}
}

func TestTimestampAheadOfServiceClockIsRetried(t *testing.T) {
	shard := newShard(3, 10, true)
	api := &aheadShard{fakeShard: shard, refusals: 3}
	cfg := fast
	cfg.Start = restriction.Position{Kind: restriction.AtTimestamp, Millis: time.Now().UnixMilli()}
	f := Start(cfg, api, nil)
	defer f.Close()
	if diff := cmp.Diff(seqRange(1, 3), drain(t, f, 10*time.Second)); diff != "" {
		t.Errorf("records (-want +got):\n%s", diff)
	}
	if f.Err() != nil || api.refusals != 0 {
		t.Errorf("err = %v, refusals left %d; want the refusals retried", f.Err(), api.refusals)
	}
}

// aheadShard refuses AT_TIMESTAMP iterators a few times, as Kinesis does
// when the timestamp is ahead of its clock.
type aheadShard struct {
	*fakeShard
	refusals int
}

func (a *aheadShard) GetShardIterator(ctx context.Context, in *kinesis.GetShardIteratorInput, o ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	if a.refusals > 0 {
		a.refusals--
		return nil, &types.InvalidArgumentException{Message: aws.String("The timestampInMillis parameter cannot be greater than the currentTimestampInMillis.")}
	}
	return a.fakeShard.GetShardIterator(ctx, in, o...)
}

func TestRegistryKeepsAFailedFetcherForItsConsumer(t *testing.T) {
	r := NewRegistry()
	shard := newShard(5, 10, false)
	shard.fail = func(int) error { return &types.AccessDeniedException{Message: aws.String("no")} }
	f := r.Acquire("read/shard-0", fast, shard)
	<-f.done
	if got := r.Acquire("read/shard-0", fast, shard); got != f || got.Err() == nil {
		t.Fatalf("Acquire after a permanent failure = %p (err %v), want the failed fetcher %p", got, got.Err(), f)
	}
}

func TestBytesStayWithinQuota(t *testing.T) {
	const size, rate = 1000, 10_000 // 10 records per second
	shard := newShard(100000, size, false)
	cfg := fast
	cfg.RecordsPerCall = 5
	cfg.BytesPerSecond = rate
	f := Start(cfg, shard, nil)
	start := time.Now()
	got := drainFor(f, 1500*time.Millisecond)
	elapsed := time.Since(start)
	f.Close()
	// One second's worth at the start, the rate since, and the call that
	// went into debt.
	limit := int(rate+rate*elapsed.Seconds()) + 5*size
	if got*size > limit {
		t.Fatalf("read %d bytes in %v, more than %d allowed", got*size, elapsed, limit)
	}
	if got*size < rate {
		t.Fatalf("read only %d bytes in %v: the first second's worth is %d", got*size, elapsed, rate)
	}
}

func TestUnpacedCallsAgainAtOnce(t *testing.T) {
	shard := newShard(100, 10, true)
	cfg := fast
	cfg.RecordsPerCall = 1
	cfg.Unpaced = true
	f := Start(cfg, shard, nil)
	defer f.Close()
	// Paced to 5 calls per second, 100 calls would need 20 s.
	if diff := cmp.Diff(seqRange(1, 100), drain(t, f, 5*time.Second)); diff != "" {
		t.Fatalf("records (-want +got):\n%s", diff)
	}
}

// drainFor consumes for d and returns how many records it saw.
func drainFor(f *Fetcher, d time.Duration) int {
	n := 0
	for stop := time.Now().Add(d); time.Now().Before(stop); {
		if b := f.Next(); b != nil {
			n += len(b.Records) - b.Next
			b.Next = len(b.Records)
			f.Return(b)
		}
		time.Sleep(time.Millisecond)
	}
	return n
}

// refusal is Kinesis's answer to an AT_TIMESTAMP iterator ahead of its
// clock, as kinesalite gives it (AWS's wording, with both times).
func refusal(at, clock time.Time) error {
	return &types.InvalidArgumentException{Message: aws.String(fmt.Sprintf(
		"The timestampInMillis parameter cannot be greater than the currentTimestampInMillis. timestampInMillis: %d, currentTimestampInMillis: %d", at.UnixMilli(), clock.UnixMilli()))}
}

// farAheadShard refuses every AT_TIMESTAMP iterator with its clock.
type farAheadShard struct {
	*fakeShard
	clock time.Time
	asked int
}

func (a *farAheadShard) GetShardIterator(_ context.Context, in *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	a.asked++
	return nil, refusal(aws.ToTime(in.Timestamp), a.clock)
}

// TestTimestampFarAheadOfServiceClockFails: a start a year ahead of the
// service's clock fails the fetcher at once with a message naming the
// timestamp and the service's clock; it was once retried forever, without
// a log line.
func TestTimestampFarAheadOfServiceClockFails(t *testing.T) {
	clock := time.Now()
	at := clock.Add(365 * 24 * time.Hour)
	api := &farAheadShard{fakeShard: newShard(3, 10, true), clock: clock}
	cfg := fast
	cfg.Start = restriction.Position{Kind: restriction.AtTimestamp, Millis: at.UnixMilli()}
	f := Start(cfg, api, nil)
	defer f.Close()
	select {
	case <-f.done:
	case <-time.After(10 * time.Second):
		t.Fatal("the fetcher still runs 10 s after Kinesis refused a timestamp a year ahead of its clock")
	}
	err := f.Err()
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{
		restriction.Position{Kind: restriction.AtTimestamp, Millis: at.UnixMilli()}.String(),
		time.UnixMilli(clock.UnixMilli()).UTC().Format(time.RFC3339Nano),
		"ahead of the Kinesis clock", "AtTimestamp",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %q", err, want)
		}
	}
	if api.asked != 1 {
		t.Errorf("asked %d times, want 1", api.asked)
	}
}

// TestClockWaitBounds: a refusal within MaxClockAhead of the service's
// clock is waited out for the gap; beyond it, it fails; without the
// service's clock, refusals are waited for during MaxClockAhead, then fail.
func TestClockWaitBounds(t *testing.T) {
	now := time.UnixMilli(1_700_000_000_000)
	pos := func(t time.Time) restriction.Position {
		return restriction.Position{Kind: restriction.AtTimestamp, Millis: t.UnixMilli()}
	}
	var c clockWait
	at := now.Add(2 * time.Second)
	if d, err := c.refused(pos(at), refusal(at, now), now); err != nil || d != 2*time.Second {
		t.Errorf("2 s ahead: wait %v, error %v; want 2s, nil", d, err)
	}
	c = clockWait{}
	at = now.Add(MaxClockAhead + time.Second)
	if _, err := c.refused(pos(at), refusal(at, now), now); err == nil {
		t.Errorf("%v ahead: no error", MaxClockAhead+time.Second)
	}
	c = clockWait{}
	unknown := &types.InvalidArgumentException{Message: aws.String("timestamp is greater than the current timestamp")}
	if _, err := c.refused(pos(now), unknown, now); err != nil {
		t.Errorf("first refusal without a clock: %v", err)
	}
	if _, err := c.refused(pos(now), unknown, now.Add(MaxClockAhead-time.Second)); err != nil {
		t.Errorf("refused for less than %v without a clock: %v", MaxClockAhead, err)
	}
	if _, err := c.refused(pos(now), unknown, now.Add(MaxClockAhead+time.Second)); err == nil || !strings.Contains(err.Error(), "clock unknown") {
		t.Errorf("refused for more than %v without a clock: error %v", MaxClockAhead, err)
	}
}
