package kinesisio_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestCheckpointsStoreOutageCatchesUp: while a job reads and records keep
// arriving, the DynamoDB store fails the checkpoint writes (PutItem) for a
// while, with HTTP 500 and with throttling, and a heartbeat (UpdateItem)
// too, few enough that the lease (10 s) holds. The job reads every record
// once, counts the failed and throttled commits, and its commits catch up:
// once it ends, each shard's checkpoint is its last record.
func TestCheckpointsStoreOutageCatchesUp(t *testing.T) {
	const (
		// The SDK sends each store call up to 3 times: 6 faults fail two
		// commits.
		fails500, failsThrottle, failsHeartbeat = 6, 6, 3
		rounds, perShard                        = 24, 3
		every                                   = 200 * time.Millisecond
		injectAt                                = 4 // round
	)
	e := newEnv(t, emulators.Kinesalite, 2)
	dyn := emulators.Require(t, emulators.Dynalite)
	proxy, err := kinesistest.NewProxy(dyn.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	table := testTable(t)
	store := kinesisio.DynamoDBTable(table, kinesisio.Connection{Endpoint: proxy.Endpoint(), Region: kinesistest.Region})

	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(
		kinesisio.WithCheckpoints("outage", store),
		kinesisio.WithCommitInterval(200*time.Millisecond),
		kinesisio.WithMaxReadTime(10*time.Second))...))
	type result struct {
		res beam.PipelineResult
		err error
	}
	done := make(chan result, 1)
	start := time.Now()
	go func() {
		res, err := ptest.RunWithMetrics(p)
		done <- result{res, err}
	}()

	// The job has started once it loaded its checkpoints (a Query, after
	// taking the lease).
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := proxy.WaitFor(ctx, "Query", 1); err != nil {
		t.Fatalf("the job did not load its checkpoints: %v", err)
	}
	t.Logf("job started after %v", time.Since(start).Round(time.Millisecond))
	var puts []kinesistest.Put
	var injected time.Time
	commitsBefore := 0
	for r := 0; r < rounds; r++ {
		if r == injectAt {
			// Faults only once the job commits (the PutItem of the lease
			// was the first).
			if err := proxy.WaitFor(ctx, "PutItem", 2); err != nil {
				t.Fatalf("no commit before the outage: %v", err)
			}
			commitsBefore = proxy.Count("PutItem") - 1
			proxy.FailNext("PutItem", fails500, 500, "InternalFailure")
			proxy.FailNext("PutItem", failsThrottle, 400, "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException")
			proxy.FailNext("UpdateItem", failsHeartbeat, 500, "InternalFailure")
			injected = time.Now()
		}
		puts = append(puts, e.putPerShard(t, perShard, fmt.Sprintf("o%02d", r))...)
		time.Sleep(every)
	}
	t.Logf("%d records put; %d commits before the outage; faults pending after the last put: PutItem %d, UpdateItem %d",
		len(puts), commitsBefore, proxy.Pending("PutItem"), proxy.Pending("UpdateItem"))
	var res result
	select {
	case res = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the job did not end within a minute")
	}
	if res.err != nil {
		t.Fatalf("job: %v", res.err)
	}
	t.Logf("job ran %v; the outage began %v in; proxy saw PutItem %d, UpdateItem %d, GetItem %d, Query %d",
		time.Since(start).Round(time.Millisecond), injected.Sub(start).Round(time.Millisecond),
		proxy.Count("PutItem"), proxy.Count("UpdateItem"), proxy.Count("GetItem"), proxy.Count("Query"))
	if n := proxy.Pending("PutItem") + proxy.Pending("UpdateItem"); n > 0 {
		t.Errorf("%d injected faults never fired", n)
	}
	checkExactlyOnce(t, got(), puts)
	commits, failures, throttled := counter(res.res, "read_commits"), counter(res.res, "read_commit_failures"), counter(res.res, "read_commits_throttled")
	t.Logf("read_commits %d, read_commit_failures %d, read_commits_throttled %d", commits, failures, throttled)
	if failures == 0 || throttled == 0 {
		t.Errorf("read_commit_failures %d, read_commits_throttled %d: want both > 0", failures, throttled)
	}

	// The commits caught up: read the table directly, not through the
	// proxy.
	octx, ocancel := context.WithTimeout(context.Background(), time.Minute)
	defer ocancel()
	direct, err := checkpoint.NewDynamoDB(octx, table, awsclient.Settings{Region: kinesistest.Region, Endpoint: dyn.Endpoint})
	if err != nil {
		t.Fatal(err)
	}
	cps, err := direct.Load(octx, "outage", e.stream)
	if err != nil {
		t.Fatal(err)
	}
	last := map[string]string{}
	for _, p := range puts {
		if seqLess(last[p.ShardID], p.SequenceNumber) {
			last[p.ShardID] = p.SequenceNumber
		}
	}
	if len(cps) != len(last) {
		t.Errorf("%d checkpoints, want one per shard (%d): %+v", len(cps), len(last), cps)
	}
	for _, cp := range cps {
		if cp.Seq != last[cp.ShardID] {
			t.Errorf("shard %s: checkpoint at %s, want its last record %s", cp.ShardID, cp.Seq, last[cp.ShardID])
		}
	}
	if l, ok, err := direct.ReadLease(octx, "outage", e.stream); err != nil || !ok || l.Owner != "" || l.Epoch != 1 {
		t.Errorf("lease after the job: %+v, %v, %v; want epoch 1 (never lost), released", l, ok, err)
	}
}

// TestCheckpointsStoreUnreachableAtStartFails: a job whose DynamoDB table
// is on an endpoint that nothing serves fails, once the store has been
// retried for its bound (about 30 s), with an error that names the table
// and says what to check.
func TestCheckpointsStoreUnreachableAtStartFails(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close() // nothing listens there now
	const table = "ckpt-unreachable"
	store := kinesisio.DynamoDBTable(table, kinesisio.Connection{Endpoint: endpoint, Region: kinesistest.Region})
	p, s := beam.NewPipelineWithRoot()
	collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("unreachable", store), kinesisio.WithMaxReadTime(5*time.Second))...))
	start := time.Now()
	err = await(t, runAsync(p), 2*time.Minute)
	took := time.Since(start)
	t.Logf("job failed after %v: %v", took.Round(time.Millisecond), err)
	if err == nil {
		t.Fatal("the job succeeded without its checkpoint store")
	}
	for _, want := range []string{table, endpoint, "check the endpoint"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not contain %q", want)
		}
	}
}
