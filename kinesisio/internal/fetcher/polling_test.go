package fetcher

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
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
