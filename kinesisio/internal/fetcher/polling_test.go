package fetcher

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// cannedKinesis is an HTTP client that answers every GetRecords with the
// same body of records and every GetShardIterator with one iterator:
// a fetcher's client-side cost without a server's in the same process.
type cannedKinesis struct{ records []byte }

func (c cannedKinesis) Do(req *http.Request) (*http.Response, error) {
	if req.Body != nil {
		_, _ = io.Copy(io.Discard, req.Body)
		req.Body.Close()
	}
	body := []byte(`{"ShardIterator":"it"}`)
	if strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetRecords") {
		body = c.records
	}
	return &http.Response{
		StatusCode:    200,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
		Request:       req,
	}, nil
}

// recordsBody is a GetRecords body of n records of size bytes.
func recordsBody(n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAH3dLBv1wXx8rLkO5A8mrxq5GIw2uTk0ZJ9EQ6p0d0K8hvUZP6n6BjFn9tqrYRdR2lEZJq2JSvH6b2Wb6LR0Ib4fD9nKb7wL7u1Qme6bX1kU7qGgTzF5E2dVt5cL1bLm5v6PvA4tO8hj6vJ2Z3p8HXQ7b1w==","Records":[`)
	enc := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, size))
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"SequenceNumber":"4959%036d","ApproximateArrivalTimestamp":1.765080000123E9,"Data":"%s","PartitionKey":"key-%d","EncryptionType":"NONE"}`, i+1, enc, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

func cannedClient(records []byte) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String("http://127.0.0.1:1"),
		HTTPClient:   cannedKinesis{records: records},
		Retryer:      aws.NopRetryer{},
	})
}

// consume drains n records from f and returns how many it saw.
func consume(tb testing.TB, f *Fetcher, n int) int {
	tb.Helper()
	got := 0
	stop := time.Now().Add(time.Minute)
	for got < n {
		if time.Now().After(stop) {
			tb.Fatalf("consumed %d of %d records within a minute", got, n)
		}
		b := f.Next()
		if b == nil {
			if err := f.Err(); err != nil {
				tb.Fatalf("fetcher failed: %v", err)
			}
			time.Sleep(100 * time.Microsecond)
			continue
		}
		got += len(b.Records)
		b.Next = len(b.Records)
		f.Return(b)
	}
	return got
}

// TestPollingAllocatesLittlePerRecord counts the heap allocations of the
// whole process per record while a fetcher polls a canned client: the
// SDK's deserializer makes about 9 per record, decoding the body with
// package wire a fraction of one.
func TestPollingAllocatesLittlePerRecord(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	cfg := fast
	cfg.Unpaced = true
	cfg.MaxBufferedBytes = 1 << 20
	f := Start(cfg, cannedClient(recordsBody(1000, 100)), nil)
	defer f.Close()
	consume(t, f, 5000) // warm up
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n := consume(t, f, 20000)
	runtime.ReadMemStats(&after)
	perRecord := float64(after.Mallocs-before.Mallocs) / float64(n)
	t.Logf("%.2f allocations per record", perRecord)
	if perRecord > 1 {
		t.Errorf("%.2f allocations per record, want at most 1", perRecord)
	}
}

// A consumed batch's entries serve a later call, cleared first so that
// they pin no data, instead of a new slice per call (112 B a record); a
// batch given back partly consumed keeps its entries.
func TestConsumedEntriesAreReused(t *testing.T) {
	cfg := fast
	cfg.Unpaced = true
	cfg.MaxBufferedBytes = 1 << 20
	f := Start(cfg, cannedClient(recordsBody(100, 100)), nil)
	defer f.Close()
	next := func() *Batch {
		t.Helper()
		for stop := time.Now().Add(time.Minute); time.Now().Before(stop); time.Sleep(100 * time.Microsecond) {
			if b := f.Next(); b != nil && len(b.Records) > 0 {
				return b
			}
			if err := f.Err(); err != nil {
				t.Fatalf("fetcher failed: %v", err)
			}
		}
		t.Fatal("no batch within a minute")
		return nil
	}

	b := next()
	b.Next = len(b.Records) / 2
	rest := b.Records[b.Next:]
	f.Return(b)
	again := next()
	if len(again.Records) != len(rest) || &again.Records[0] != &rest[0] {
		t.Fatalf("a partly consumed batch came back with %d records at another array, want its %d unconsumed ones", len(again.Records), len(rest))
	}
	again.Next = len(again.Records)
	f.Return(again) // a spare too small for a whole call's records

	b = next()
	b.Next = len(b.Records)
	array := unsafe.SliceData(b.Records)
	f.Return(b)
	if b.Records != nil {
		t.Fatal("a consumed batch kept its entries after Return")
	}
	f.mu.Lock()
	var spare []Entry
	for _, s := range f.spares {
		if unsafe.SliceData(s) == array {
			spare = s[:cap(s)]
		}
	}
	for i := range spare {
		if !reflect.ValueOf(spare[i]).IsZero() {
			t.Errorf("spare entry %d not cleared: %+v", i, spare[i])
			break
		}
	}
	f.mu.Unlock()
	if spare == nil {
		t.Fatal("the consumed batch's entries are not among the spares")
	}
	for i := 0; i < 100; i++ {
		b := next()
		reused := unsafe.SliceData(b.Records) == array
		b.Next = len(b.Records)
		f.Return(b)
		if reused {
			return
		}
	}
	t.Fatal("the consumed batch's entries served none of the next 100 batches")
}

// BenchmarkPollingFetcher is a fetcher's process CPU per record (user +
// system, from getrusage) while it polls a canned client with 1,000-record
// responses and the benchmark consumes: the SDK client's request path plus
// the decode and the fetcher's own work, without a server. sdk turns the
// wire decoder off (the SDK's deserializer decodes), for a ratio in one
// run:
//
//	go test -run '^$' -bench PollingFetcher -benchtime 50000x ./kinesisio/internal/fetcher/
func BenchmarkPollingFetcher(b *testing.B) {
	for _, size := range []int{100, 10 << 10} {
		body := recordsBody(1000, size)
		for _, mode := range []string{"sdk", "wire"} {
			b.Run(fmt.Sprintf("%s/%d", mode, size), func(b *testing.B) {
				decodeResponses = mode == "wire"
				defer func() { decodeResponses = true }()
				cfg := fast
				cfg.Unpaced = true
				cfg.MaxBufferedBytes = 4 << 20
				f := Start(cfg, cannedClient(body), nil)
				defer f.Close()
				consume(b, f, 2000)
				var before, after runtime.MemStats
				runtime.ReadMemStats(&before)
				cpu0, calls0 := processCPU(), f.Stats().Calls
				b.ResetTimer()
				consume(b, f, b.N)
				cpu, calls := processCPU()-cpu0, f.Stats().Calls-calls0
				b.StopTimer()
				runtime.ReadMemStats(&after)
				// Per record fetched in the window (the buffer's fill
				// at its start and end differ by at most a call or two).
				n := calls * 1000
				b.ReportMetric(float64(cpu.Nanoseconds())/float64(n), "cpu-ns/record")
				b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(n), "allocs/record")
			})
		}
	}
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// An idle shard read with the default settings is polled about once per
// default IdlePoll (1.5 s), not at the quota's pace: over 4.5 s, 5 calls
// (at 0, 0.25, 0.75, 1.75 and 3.25 s; 6 with a 1 s bound, 23 at the
// quota's pace); a load that delays the loop only makes fewer.
func TestIdleShardIsPolledRarely(t *testing.T) {
	shard := newShard(0, 10, false)
	cfg := fast
	cfg.IdlePoll = 0 // the default
	f := Start(cfg, shard, nil)
	drainFor(f, 4500*time.Millisecond)
	f.Close()
	if n := f.Stats().Calls; n > 5 {
		t.Fatalf("%d GetRecords calls on an idle shard in 4.5 s, want at most 5 (about one per 1.5 s once idle)", n)
	}
}

// A caught-up shard whose calls bring a record or two is polled less
// often than the quota allows, up to the idle bound apart: the fake shard
// yields 2 records per call however fast it is polled (as a shard whose
// rate is falling would), so the calls space out to the bound (1 s), the
// gap growing by half per call: over 3 s, 6 calls (at 0, 0.2, 0.5, 0.95,
// 1.625 and 2.625 s) instead of 15 at the quota's pace; a load that
// delays the loop only makes fewer.
func TestNearIdleShardIsPolledLess(t *testing.T) {
	shard := newShard(0, 10, false)
	shard.arrive = 2
	cfg := fast
	cfg.IdlePoll = time.Second
	f := Start(cfg, shard, nil)
	got := drainFor(f, 3*time.Second)
	f.Close()
	calls := f.Stats().Calls
	if calls > 8 {
		t.Fatalf("%d GetRecords calls in 3 s on a caught-up shard yielding 2 records per call, want at most 8 (spaced towards the 1 s bound)", calls)
	}
	if want := 2 * int(calls); got < want-2 {
		t.Fatalf("read %d records from %d calls, want about %d", got, calls, want)
	}
}

// Records put on a shard after it was idle for a while are read by the
// next call, and the shard is back at the quota's pace at once.
func TestRecordsAfterIdleAreReadAndPaceSnapsBack(t *testing.T) {
	shard := newShard(0, 10, false)
	cfg := fast
	cfg.IdlePoll = 0 // the default
	cfg.RecordsPerCall = 1
	f := Start(cfg, shard, nil)
	defer f.Close()
	drainFor(f, 2500*time.Millisecond)
	shard.mu.Lock()
	for range 6 {
		shard.data = append(shard.data, make([]byte, 10))
	}
	idleCalls := len(shard.calls)
	shard.mu.Unlock()
	got := 0
	for deadline := time.Now().Add(20 * time.Second); got < 6 && time.Now().Before(deadline); {
		got += drainFor(f, 10*time.Millisecond)
	}
	if got != 6 {
		t.Fatalf("read %d of the 6 records put after 2.5 s of idleness", got)
	}
	shard.mu.Lock()
	defer shard.mu.Unlock()
	// One record per call: the 6 records took 6 calls after the idle
	// ones, at the quota's pace (200 ms) rather than at the idle pace.
	calls := shard.calls[idleCalls:]
	if len(calls) < 6 {
		t.Fatalf("%d calls after the records were put, want at least 6", len(calls))
	}
	if d := calls[5].Sub(calls[1]); d >= 4*time.Second {
		t.Fatalf("calls 2 to 6 after the idle period took %v, want about 800 ms (the quota's pace), not the idle pace", d)
	}
}

// The pacer's gaps, each call starting when the last gap (or the quota's
// interval, 200 ms) said: doubling from idleFirst while calls come back
// empty on a caught-up shard, never above the bound nor the rate window's
// estimate; calls bringing a few records spaced to bring about fewRecords
// at the window's rate, growing by at most maxGrowth per call, shrinking
// at once; the quota's pace at a full batch, at records while behind, or
// at as many records as fewRecords per quota interval; no growth while
// the shard is behind.
func TestPacerSchedule(t *testing.T) {
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	type call struct {
		n    int
		full bool
		mbl  int64
		want time.Duration
	}
	for _, tc := range []struct {
		name         string
		bound, floor time.Duration
		calls        []call
	}{
		{"idle grows to the bound", time.Second, ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {0, false, 0, ms(1000)}, {0, false, 0, ms(1000)}, {0, false, -1, ms(1000)}}},
		// An empty call right after 30 records (150 records/s) is noise:
		// the next call follows at the quota's interval, not idleFirst.
		{"many records snap back", time.Second, ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {30, false, 0, 0}, {0, false, 0, ms(200)}}},
		{"a full batch snaps back", time.Second, ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {3, true, 0, 0}}},
		{"records while behind snap back", time.Second, ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {3, false, 1000, 0}}},
		{"behind does not grow", time.Second, ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {0, false, 5000, ms(250)}, {0, false, 5000, ms(250)}, {10, false, 4000, 0}}},
		{"bound below the first wait", ms(50), ms(200), []call{{0, false, 0, ms(50)}, {0, false, 0, ms(50)}, {1, false, 0, ms(50)}, {0, false, 0, ms(50)}}},
		{"odd bound is reached", ms(700), ms(200), []call{{0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {0, false, 0, ms(700)}, {0, false, 0, ms(700)}}},
		// 10 records/s: 2 per quota interval, the gap growing by at most
		// half, then 5 records' worth at the window's rate (500 ms); one
		// call bringing a single record lengthens the gap by a fifth (16
		// records over 1.9 s), not fivefold as that call's rate alone would.
		{"near idle aims at a few records", time.Second, ms(200), []call{{2, false, 0, 0}, {2, false, 0, ms(300)}, {3, false, 0, ms(450)}, {5, false, 0, ms(475)}, {5, false, -1, ms(475)}, {1, false, 0, 593750 * time.Microsecond}}},
		// 1 record/s: growing by half per call to the bound.
		{"near idle within the bound", time.Second, ms(200), []call{{1, false, 0, 0}, {1, false, 0, ms(300)}, {1, false, 0, ms(450)}, {1, false, 0, ms(675)}, {1, false, 0, ms(1000)}, {1, false, 0, ms(1000)}}},
		// The same, then 20 records in one call (20 records/s): the next
		// call follows 5 records' worth of that call's rate later, at once.
		{"a rise shortens the gap at once", time.Second, ms(200), []call{{1, false, 0, 0}, {1, false, 0, ms(300)}, {1, false, 0, ms(450)}, {1, false, 0, ms(675)}, {1, false, 0, ms(1000)}, {20, false, 0, ms(250)}}},
		// 250 records/s (the latency figure): 50 per quota interval.
		{"busy keeps the quota's pace", time.Second, ms(200), []call{{50, false, 0, 0}, {50, false, 0, 0}, {50, false, -1, 0}}},
		// 25 records/s: fewRecords per quota interval.
		{"fewRecords per interval keeps the quota's pace", time.Second, ms(200), []call{{5, false, 0, 0}, {5, false, 0, 0}}},
		// An empty call doubles the gap, within the window's estimate
		// (5 records over 2 s: 2 s, so the bound).
		{"idle after near idle doubles", time.Second, ms(200), []call{{2, false, 0, 0}, {2, false, 0, ms(300)}, {0, false, 0, ms(600)}, {3, false, 0, ms(900)}, {0, false, 0, ms(1000)}}},
		// An empty call on a shard at 10 records/s: the gap follows the
		// window (15 records over 1.9 s), not twice the last gap (950 ms).
		{"an empty call among records does not double", time.Second, ms(200), []call{{2, false, 0, 0}, {2, false, 0, ms(300)}, {3, false, 0, ms(450)}, {5, false, 0, ms(475)}, {5, false, 0, ms(475)}, {0, false, 0, 633333333 * time.Nanosecond}}},
		{"unpaced calls at once after records", time.Second, 0, []call{{1, false, 0, 0}, {1, false, 0, 0}, {0, false, 0, ms(250)}, {1, false, 0, 0}}},
		// The end of a catch-up: the call after the last full one brings
		// the rest of the backlog (3,000 records in 200 ms is no rate the
		// shard has), then the shard is idle: the gaps grow as on any idle
		// shard, not at the quota's pace until that call leaves the window.
		{"a catch-up's last call is no rate", time.Second, ms(200), []call{{10000, true, 0, 0}, {3000, false, 0, 0}, {0, false, 0, ms(250)}, {0, false, 0, ms(500)}, {0, false, 0, ms(1000)}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := pacer{bound: tc.bound, floor: tc.floor}
			at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
			for i, c := range tc.calls {
				got := p.after(at, c.n, c.full, c.mbl)
				if got != c.want {
					t.Fatalf("call %d (%d records, full %v, MillisBehindLatest %d): gap %v, want %v", i+1, c.n, c.full, c.mbl, got, c.want)
				}
				at = at.Add(max(got, tc.floor))
			}
		})
	}
}

// BenchmarkEmptyCall is the process CPU and allocations of one empty
// GetRecords call of a caught-up fetcher against a canned client (no
// server, no network): what an idle shard costs per call on the client.
//
//	go test -run '^$' -bench EmptyCall -benchtime 20000x ./kinesisio/internal/fetcher/
func BenchmarkEmptyCall(b *testing.B) {
	cfg := fast
	cfg.Unpaced = true
	cfg.IdlePoll = time.Nanosecond // no wait between empty calls
	f := Start(cfg, cannedClient([]byte(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAH3dLBv1wXx8rLkO5A8mrxq5GIw2uTk0ZJ9EQ6p0d0K8hvUZP6n6BjFn9tqrYRdR2lEZJq2JSvH6b2Wb6LR0Ib4fD9nKb7wL7u1Qme6bX1kU7qGgTzF5E2dVt5cL1bLm5v6PvA4tO8hj6vJ2Z3p8HXQ7b1w==","Records":[]}`)), nil)
	defer f.Close()
	for f.Stats().Calls < 100 {
		f.Next()
		time.Sleep(time.Millisecond)
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	cpu0, calls0 := processCPU(), f.Stats().Calls
	b.ResetTimer()
	for f.Stats().Calls-calls0 < int64(b.N) {
		f.Next() // keep the fetcher from being abandoned
		time.Sleep(time.Millisecond)
	}
	cpu, calls := processCPU()-cpu0, f.Stats().Calls-calls0
	b.StopTimer()
	runtime.ReadMemStats(&after)
	b.ReportMetric(float64(cpu.Nanoseconds())/float64(calls), "cpu-ns/call")
	b.ReportMetric(float64(after.Mallocs-before.Mallocs)/float64(calls), "allocs/call")
}

// emptyShard answers every GetRecords with the same empty response of a
// caught-up shard, allocating nothing itself.
type emptyShard struct {
	API
	out *kinesis.GetRecordsOutput
}

func (s emptyShard) GetShardIterator(context.Context, *kinesis.GetShardIteratorInput, ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	return &kinesis.GetShardIteratorOutput{ShardIterator: aws.String("i")}, nil
}

func (s emptyShard) GetRecords(context.Context, *kinesis.GetRecordsInput, ...func(*kinesis.Options)) (*kinesis.GetRecordsOutput, error) {
	return s.out, nil
}

// TestEmptyCallAllocatesLittle counts the heap allocations of the whole
// process per empty call of a caught-up fetcher against an API that
// allocates nothing: the fetcher's own per-call cost (the SDK's is about
// 290 allocations per call on top), with a wait before every call. It was
// 14 with a new input and a new timer for every call.
func TestEmptyCallAllocatesLittle(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	cfg := fast
	cfg.Unpaced = true
	cfg.IdlePoll = 200 * time.Microsecond // a (short) wait after every empty call
	f := Start(cfg, emptyShard{out: &kinesis.GetRecordsOutput{MillisBehindLatest: aws.Int64(0), NextShardIterator: aws.String("i")}}, nil)
	defer f.Close()
	waitCalls(t, f, 100)
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	calls0 := f.Stats().Calls
	waitCalls(t, f, calls0+2000)
	runtime.ReadMemStats(&after)
	calls := f.Stats().Calls - calls0
	perCall := float64(after.Mallocs-before.Mallocs) / float64(calls)
	t.Logf("%.2f allocations per empty call", perCall)
	// 8: the call's context, its headers' time, the batch; the rest of the
	// process (other tests' goroutines ending) may add a little.
	if perCall > 10 {
		t.Errorf("%.2f allocations per empty call, want about 8 (the call's context, its headers' time, the batch)", perCall)
	}
}

// BenchmarkIdleShards is the process CPU of 1,024 fetchers on idle shards
// with the default settings against a canned client (no server, no
// network) over 15 s: cores, calls per second per shard and CPU per call.
//
//	go test -run '^$' -bench IdleShards -benchtime 1x ./kinesisio/internal/fetcher/
func BenchmarkIdleShards(b *testing.B) {
	const shards, window = 1024, 15 * time.Second // whole periods of 1 s and 1.5 s
	client := cannedClient([]byte(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAH3dLBv1wXx8rLkO5A8mrxq5GIw2uTk0ZJ9EQ6p0d0K8hvUZP6n6BjFn9tqrYRdR2lEZJq2JSvH6b2Wb6LR0Ib4fD9nKb7wL7u1Qme6bX1kU7qGgTzF5E2dVt5cL1bLm5v6PvA4tO8hj6vJ2Z3p8HXQ7b1w==","Records":[]}`))
	fs := make([]*Fetcher, shards)
	for i := range fs {
		fs[i] = Start(Config{ShardID: "shard-0", Start: restriction.Position{Kind: restriction.TrimHorizon}}, client, nil)
	}
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	time.Sleep(5 * time.Second) // past the first gaps
	calls := func() (n int64) {
		for _, f := range fs {
			n += f.Stats().Calls
		}
		return n
	}
	cpu0, calls0 := processCPU(), calls()
	b.ResetTimer()
	time.Sleep(window)
	cpu, n := processCPU()-cpu0, calls()-calls0
	b.StopTimer()
	b.ReportMetric(cpu.Seconds()/window.Seconds(), "cores")
	b.ReportMetric(float64(n)/shards/window.Seconds(), "calls/s/shard")
	b.ReportMetric(float64(cpu.Microseconds())/float64(n), "cpu-µs/call")
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	b.ReportMetric(float64(ms.StackInuse)/shards/1024, "stack-KiB/shard")
}

// TestWaitingFetcherKeepsItsStack checks that a fetcher waiting between
// calls keeps the stack its calls need: a GetRecords call runs over 16 KiB
// deep in the SDK's middleware, and a goroutine that waits on a shallow
// stack has it halved by every GC and copied back up at its next call
// (a fifth of an idle fetcher's CPU in BenchmarkIdleShards).
func TestWaitingFetcherKeepsItsStack(t *testing.T) {
	const n = 128
	client := cannedClient([]byte(`{"MillisBehindLatest":0,"NextShardIterator":"it","Records":[]}`))
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	fs := make([]*Fetcher, n)
	for i := range fs {
		fs[i] = Start(Config{ShardID: "shard-0", Start: restriction.Position{Kind: restriction.TrimHorizon}}, client, nil)
	}
	defer func() {
		for _, f := range fs {
			f.Close()
		}
	}()
	for _, f := range fs {
		waitCalls(t, f, 2) // now waiting 250 ms or more
	}
	for range 3 {
		runtime.GC() // shrinks the stacks of waiting goroutines that use less than a quarter
	}
	var after runtime.MemStats
	runtime.ReadMemStats(&after)
	perFetcher := float64(int64(after.StackInuse)-int64(before.StackInuse)) / n / 1024
	t.Logf("%.1f KiB of stack per waiting fetcher", perFetcher)
	if perFetcher < 24 {
		t.Errorf("%.1f KiB of stack per waiting fetcher after GCs, want at least 24 (the 32 KiB a call needs, kept)", perFetcher)
	}
}

// A consumer of an idle shard resumes once per call, not more: each
// resume is a bundle through the runner. The consumer looks at the
// fetcher when a call's batch is in (15 ms after the call's start) and
// resumes when ResumeIn says, until the next call's batch is in; the
// calls follow the idle schedule (250 ms doubling to the default bound,
// 1.5 s), so 7 calls need 7 resumes. With a 1 s ceiling on ResumeIn it
// took 11 (two per 1.5 s gap). A long IdlePoll is still looked at every
// maxIdleResume or so: stop requests, deadlines and record budgets are
// checked at resumes.
func TestIdleConsumerResumesOncePerCall(t *testing.T) {
	const callTime = 15 * time.Millisecond
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	f := &Fetcher{cfg: Config{}.WithDefaults()}
	resumes := 0
	gaps := []time.Duration{ms(250), ms(500), ms(1000), ms(1500), ms(1500), ms(1500), ms(1500)}
	for _, gap := range gaps {
		// Simulated time since the last call's start.
		for at := callTime; at < gap+callTime; resumes++ {
			f.nextCallAt = time.Now().Add(gap - at)
			at += f.ResumeIn()
		}
	}
	if resumes != len(gaps) {
		t.Errorf("an idle shard's consumer resumed %d times over %d calls, want once per call", resumes, len(gaps))
	}

	long := &Fetcher{cfg: Config{IdlePoll: 10 * time.Second}.WithDefaults()}
	long.nextCallAt = time.Now().Add(10 * time.Second)
	if d := long.ResumeIn(); d > maxIdleResume+ms(100) {
		t.Errorf("with IdlePoll 10 s, ResumeIn %v, want at most about %v", d, maxIdleResume)
	}
}

// Unpaced, calls of 1,000 records 5 ms apart measure the server, not the
// shard: an empty call after them still waits idleFirst, then twice as
// long (with the rate window it waited 50 µs).
func TestUnpacedEmptyCallAfterCatchUpWaits(t *testing.T) {
	p := pacer{bound: time.Second}
	at := time.Date(2026, 12, 7, 0, 0, 0, 0, time.UTC)
	ms := func(n int) time.Duration { return time.Duration(n) * time.Millisecond }
	for i, c := range []struct {
		n    int
		wait time.Duration // from the previous call's start
		want time.Duration
	}{{1000, 0, 0}, {1000, ms(5), 0}, {1000, ms(5), 0}, {0, ms(5), ms(250)}, {0, ms(250), ms(500)}} {
		at = at.Add(c.wait)
		if got := p.after(at, c.n, false, 0); got != c.want {
			t.Fatalf("call %d (%d records): gap %v, want %v", i+1, c.n, got, c.want)
		}
	}
}
