package kinesisio

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// reliabilityCase runs a read against the in-process server while a
// producer writes throughout and fault is applied once records flow. It
// checks that every record put is read once, that the job ends by itself
// within its time bound, and returns the job's result.
type reliabilityCase struct {
	name    string
	counter string // a counter the faults must raise
	fault   func(srv *fakekinesis.Server)
	// outage, if set, is how long the stream is unavailable: the
	// watermark must not advance meanwhile.
	outage time.Duration
}

func TestReadReliability(t *testing.T) {
	cases := []reliabilityCase{
		{name: "throttling storm", counter: "read_throttled", fault: func(srv *fakekinesis.Server) {
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.Throttle, For: 3 * time.Second})
			srv.Inject(fakekinesis.Fault{Op: "GetShardIterator", Kind: fakekinesis.Throttle, Times: 5})
		}},
		{name: "5xx bursts", counter: "read_retries", fault: func(srv *fakekinesis.Server) {
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.ServerError500, Times: 15})
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.ServiceUnavailable503, Times: 15})
		}},
		{name: "connection resets", counter: "read_retries", fault: func(srv *fakekinesis.Server) {
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.ConnectionReset, Times: 20})
		}},
		{name: "every iterator expiring", counter: "read_iterator_renewals", fault: func(srv *fakekinesis.Server) {
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.ExpiredIterator, For: 2 * time.Second})
		}},
		{name: "slow responses", counter: "read_calls", fault: func(srv *fakekinesis.Server) {
			srv.Inject(fakekinesis.Fault{Op: "GetRecords", Kind: fakekinesis.Slow(1500 * time.Millisecond), Times: 12})
		}},
		{name: "stream unavailable", counter: "read_retries", outage: 4 * time.Second},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) { runReliabilityCase(t, tc) })
	}
}

func runReliabilityCase(t *testing.T, tc reliabilityCase) {
	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	client := kinesistest.NewClient(srv.Endpoint())
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	stream := kinesistest.StreamName(t)
	if _, err := kinesistest.CreateStream(ctx, client, stream, 4); err != nil {
		t.Fatal(err)
	}

	const batches, perBatch = 60, 20 // a batch every 100 ms for 6 s
	total := batches * perBatch
	readID := fmt.Sprintf("reliability-%d", time.Now().UnixNano())
	prevID, prevRun := newReadID, newRunID
	newReadID = func() string { return readID }
	newRunID = func() string { return "run" }
	defer func() { newRunID = prevRun }()
	p, s := beam.NewPipelineWithRoot()
	recs := Read(s, stream, Connection{Endpoint: srv.Endpoint(), Region: kinesistest.Region},
		WithMaxRecords(int64(total)), WithMaxReadTime(2*time.Minute), Polling{IdleInterval: 50 * time.Millisecond})
	newReadID = prevID
	kept := beamtest.CollectValues[Record](s, recs)

	done := make(chan error, 1)
	start := time.Now()
	var res beam.PipelineResult
	go func() {
		var err error
		res, err = ptest.RunWithMetrics(p)
		done <- err
	}()

	var outageStart, outageEnd time.Time
	var atOutage map[string]int64
	var during []map[string]int64
	produced := map[string]bool{}
	for b := 0; b < batches; b++ {
		if b == 10 {
			if tc.fault != nil {
				tc.fault(srv)
			}
			if tc.outage > 0 {
				outageStart = time.Now()
				atOutage = committed(readID)
				srv.SetUnavailable(tc.outage)
				outageEnd = outageStart.Add(tc.outage)
			}
		}
		if !outageEnd.IsZero() && time.Now().Before(outageEnd) {
			during = append(during, committed(readID))
		}
		var entries []types.PutRecordsRequestEntry
		for i := 0; i < perBatch; i++ {
			d := fmt.Sprintf("%03d-%03d", b, i)
			entries = append(entries, types.PutRecordsRequestEntry{Data: []byte(d), PartitionKey: aws.String(d)})
		}
		putUntilDone(ctx, t, client, stream, entries, produced)
		time.Sleep(100 * time.Millisecond)
	}

	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("job failed: %v", err)
		}
	case <-time.After(2*time.Minute + 30*time.Second):
		t.Fatal("job did not end within its time bound")
	}
	t.Logf("read %d records in %v under %s", total, time.Since(start), tc.name)

	got := kept()
	seen := map[string]int{}
	for _, r := range got {
		seen[string(r.Data)]++
	}
	missing, dups := 0, 0
	for d := range produced {
		switch seen[d] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
	}
	if missing > 0 || dups > 0 || len(seen) != len(produced) {
		t.Errorf("%d records put, %d read: %d missing, %d duplicated", len(produced), len(got), missing, dups)
	}

	counters := map[string]int64{}
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == MetricsNamespace {
			counters[c.Name()] += c.Result()
		}
	}
	t.Logf("counters: %v", counters)
	if counters[tc.counter] == 0 {
		t.Errorf("counter %s is 0 after %s", tc.counter, tc.name)
	}
	// The server enforces the per-shard read quota: a reader that paces
	// itself is never throttled unless throttling is injected.
	if tc.counter != "read_throttled" && counters["read_throttled"] != 0 {
		t.Errorf("%d calls throttled by the server's quota", counters["read_throttled"])
	}
	if tc.outage > 0 {
		if len(during) == 0 || len(during[len(during)-1]) == 0 {
			t.Fatal("no watermark samples taken during the outage")
		}
		// A watermark committed during the outage may come from a call
		// that succeeded just before it, so allow the idle skew's worth of
		// time before the outage began, but never past its start.
		limit := outageStart.UnixMilli()
		for _, snap := range during {
			for shard, ms := range snap {
				if ms > limit {
					t.Errorf("watermark of %s at %v, after the outage began at %v (before: %v)",
						shard, time.UnixMilli(ms).Format(time.StampMilli), outageStart.Format(time.StampMilli), time.UnixMilli(atOutage[shard]).Format(time.StampMilli))
				}
			}
		}
	}
}

// putUntilDone puts entries, retrying what fails (the server may be
// throttling or unavailable), for at most 30 s.
func putUntilDone(ctx context.Context, t *testing.T, c *kinesis.Client, stream string, entries []types.PutRecordsRequestEntry, produced map[string]bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for len(entries) > 0 {
		if time.Now().After(deadline) {
			t.Fatalf("could not put %d records within 30 s", len(entries))
		}
		out, err := c.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			time.Sleep(100 * time.Millisecond)
			continue
		}
		var retry []types.PutRecordsRequestEntry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				retry = append(retry, entries[i])
				continue
			}
			produced[string(entries[i].Data)] = true
		}
		entries = retry
		if len(retry) > 0 {
			time.Sleep(50 * time.Millisecond)
		}
	}
}

// committed returns the committed watermarks of run "run" of read readID
// in this process.
func committed(readID string) map[string]int64 {
	if run, ok := readstate.Default.Lookup(readID, "run"); ok {
		return run.Watermarks.Committed()
	}
	return map[string]int64{}
}
