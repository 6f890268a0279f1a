package kinesisio_test

import (
	"bytes"
	"context"
	"errors"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

// Both emulators: kinesis-mock for conformance with small streams,
// kinesalite for volume.
var emulatorSizes = []struct {
	kind     emulators.Kind
	perShard int
}{
	{emulators.KinesisMock, 40},
	{emulators.Kinesalite, 500},
}

func TestReadTrimHorizonExactlyOnce(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 4)
			puts := e.putPerShard(t, tc.perShard, "th")
			recs, res := e.readToEnd(t, kinesisio.WithStopAtLatest())
			checkExactlyOnce(t, recs, puts)
			var bytes int64
			for _, p := range puts {
				bytes += int64(len(p.Data) + len(p.PartitionKey))
			}
			checkCounter(t, res, "read_records", int64(len(puts)))
			checkCounter(t, res, "read_bytes", bytes)
			if n := counter(res, "read_calls"); n < 4 {
				t.Errorf("read_calls counter = %d, want at least one per shard", n)
			}
			g := gauges(res)
			for _, id := range e.shardIDs(t) {
				if v, ok := g["read_millis_behind_latest/"+id]; !ok || v < 0 {
					t.Errorf("no read_millis_behind_latest gauge for %s (gauges %v)", id, g)
				}
			}
		})
	}
}

func TestReadWithoutQuotaPacingExactlyOnce(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 4)
	puts := e.putPerShard(t, 500, "unpaced")
	p, s := beam.NewPipelineWithRoot()
	// 50 records per call: at least 10 calls per shard, back to back.
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest(),
		kinesisio.Polling{Unpaced: true, RecordsPerCall: 50})...))
	res := run(t, p)
	checkExactlyOnce(t, got(), puts)
	if n := counter(res, "read_calls"); n < 4*10 {
		t.Errorf("read_calls counter = %d, want at least 10 per shard", n)
	}
}

func TestReadByStreamARN(t *testing.T) {
	e := newEnv(t, emulators.KinesisMock, 2) // kinesalite has no ARNs
	puts := e.putPerShard(t, 10, "arn")
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.arn, e.opts(kinesisio.WithStopAtLatest())...))
	run(t, p)
	checkExactlyOnce(t, got(), puts)
}

func TestReadLatestReadsOnlyNewRecords(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 2)
			e.putPerShard(t, 5, "before")
			proxy, err := kinesistest.NewProxy(e.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			const after = 6
			p, s := beam.NewPipelineWithRoot()
			opts := e.opts(kinesisio.WithStartAtLatest(), kinesisio.WithMaxRecords(2*after), kinesisio.WithMaxReadTime(2*time.Minute))
			opts = append(opts, kinesisio.Connection{Endpoint: proxy.Endpoint()})
			got := collect(s, kinesisio.Read(s, e.stream, opts...))
			done := make(chan error, 1)
			go func() { _, err := ptest.RunWithMetrics(p); done <- err }()
			// Once both shards ask for an iterator, the job has pinned
			// LATEST. (kinesalite does not answer an AT_TIMESTAMP iterator
			// request until a record exists after the timestamp; the
			// request times out and is retried, which is why the
			// kinesalite case takes about 10 s.)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			go func() {
				select {
				case err := <-done:
					t.Errorf("pipeline ended before records were put: %v", err)
					done <- err
					cancel()
				case <-ctx.Done():
				}
			}()
			if err := proxy.WaitFor(ctx, "GetShardIterator", 2); err != nil {
				t.Fatal(err)
			}
			cancel()
			puts := e.putPerShard(t, after, "after")
			if err := await(t, done, 3*time.Minute); err != nil {
				t.Fatal(err)
			}
			checkExactlyOnce(t, got(), puts)
		})
	}
}

func TestReadAtTimestamp(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 2)
			e.putPerShard(t, 5, "before")
			time.Sleep(1100 * time.Millisecond)
			at := time.Now()
			time.Sleep(1100 * time.Millisecond)
			puts := e.putPerShard(t, 7, "after")
			recs, _ := e.readToEnd(t, kinesisio.WithStartAtTimestamp(at), kinesisio.WithStopAtLatest())
			checkExactlyOnce(t, recs, puts)
		})
	}
}

func TestReadAtAndAfterSequenceNumbers(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 3)
			puts := e.putPerShard(t, 20, "seq")
			byShard := map[string][]kinesistest.Put{}
			var order []string
			for _, p := range puts {
				if _, ok := byShard[p.ShardID]; !ok {
					order = append(order, p.ShardID)
				}
				byShard[p.ShardID] = append(byShard[p.ShardID], p)
			}
			at, after, other := order[0], order[1], order[2]
			start := kinesisio.WithShardPositions(map[string]kinesisio.Position{
				at:    kinesisio.AtSequenceNumber(byShard[at][5].SequenceNumber),
				after: kinesisio.AfterSequenceNumber(byShard[after][10].SequenceNumber),
			})
			var want []kinesistest.Put
			want = append(want, byShard[at][5:]...)
			want = append(want, byShard[after][11:]...)
			want = append(want, byShard[other]...)
			recs, _ := e.readToEnd(t, start, kinesisio.WithStopAtLatest())
			checkExactlyOnce(t, recs, want)
		})
	}
}

func TestReadOneMiBRecords(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 1)
			id := e.shardIDs(t)[0]
			var data [][]byte
			for i := 0; i < 3; i++ {
				b := bytes.Repeat([]byte{byte('a' + i)}, 1<<20-64)
				data = append(data, b)
			}
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			puts, err := kinesistest.PutToShard(ctx, e.client, e.stream, id, data)
			if err != nil {
				t.Fatal(err)
			}
			recs, _ := e.readToEnd(t, kinesisio.WithStopAtLatest())
			checkExactlyOnce(t, recs, puts)
			for _, r := range recs {
				if len(r.Data) != 1<<20-64 {
					t.Errorf("record %s: %d bytes, want %d", r.SequenceNumber, len(r.Data), 1<<20-64)
				}
			}
		})
	}
}

func TestReadEmptyStream(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := newEnv(t, tc.kind, 3)
			recs, _ := e.readToEnd(t, kinesisio.WithStopAtLatest())
			if n := len(recs); n != 0 {
				t.Errorf("read %d records from an empty stream", n)
			}
		})
	}
}

func TestReadMissingStreamFailsClearly(t *testing.T) {
	for _, tc := range emulatorSizes {
		t.Run(string(tc.kind), func(t *testing.T) {
			e := emulators.Require(t, tc.kind)
			p, s := beam.NewPipelineWithRoot()
			kinesisio.Read(s, "no-such-stream", kinesisio.Connection{Endpoint: e.Endpoint, Region: "us-east-1"}, kinesisio.WithStopAtLatest())
			_, err := ptest.RunWithMetrics(p)
			if err == nil {
				t.Fatal("reading a stream that does not exist succeeded")
			}
			for _, want := range []string{"no-such-stream", "not found", "check the stream name"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestMaxRecordsBudgetPerRun: the same pipeline run twice in one process
// (a retry loop, a test, a worker that outlives a job attempt) reads its
// WithMaxRecords budget each time; the budget once lived in package state
// keyed by the read and the second run read nothing.
func TestMaxRecordsBudgetPerRun(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	puts := e.putPerShard(t, 10, "budget")
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithMaxRecords(int64(len(puts))), kinesisio.WithMaxReadTime(time.Minute))...))
	for i := 1; i <= 2; i++ {
		res := run(t, p)
		checkCounter(t, res, "read_records", int64(len(puts)))
		if n := len(got()); n != i*len(puts) {
			t.Errorf("after run %d: %d records read in all, want %d", i, n, i*len(puts))
		}
	}
	all := got()
	checkExactlyOnce(t, all[len(puts):], puts)
}

// TestFarFutureAtTimestampFailsClearly: a start position a year ahead is
// refused when the pipeline is built; one that reaches the workers (here a
// pipeline built with a clock a year ahead) fails the job with a message
// naming the timestamp and kinesalite's clock, instead of being retried
// forever as clock lag without a word (unbounded, the job hung; bounded by
// WithMaxReadTime, it succeeded with 0 records).
func TestFarFutureAtTimestampFailsClearly(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	at := time.Now().Add(365 * 24 * time.Hour)
	_, s := beam.NewPipelineWithRoot()
	_, err := kinesisio.TryRead(s, e.stream, e.opts(kinesisio.WithStartAtTimestamp(at))...)
	// The reason names the start time, and the option WithStartAtTimestamp
	// (the reason itself names no Go option: the word count maps it to
	// its --start flag).
	if !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), "WithStartAtTimestamp: start time "+at.UTC().Format("2006-01-02T15:04:05")) {
		t.Errorf("WithStartAtTimestamp a year ahead: TryRead error %v, want ErrInvalidOption naming WithStartAtTimestamp and the start time", err)
	}

	restore := kinesisio.SetClock(func() time.Time { return at })
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStartAtTimestamp(at))...)
	restore()
	if err = await(t, runAsync(p), 2*time.Minute); err == nil {
		t.Fatal("the job succeeded")
	}
	if want := "AT_TIMESTAMP(" + at.UTC().Format("2006-01-02T15:04:05"); !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
	if !regexp.MustCompile(`ahead of the Kinesis clock \(\d{4}-\d\d-\d\dT`).MatchString(err.Error()) {
		t.Errorf("error %q does not give the Kinesis clock", err)
	}
}
