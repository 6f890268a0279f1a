package kinesisio_test

import (
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestTransientFaultsAreRetriedWithoutLoss reads a kinesalite stream
// through a proxy that throttles, fails, resets connections and expires
// iterators: the job must succeed with every record once, and count what
// it retried.
func TestTransientFaultsAreRetriedWithoutLoss(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 3)
	puts := e.putPerShard(t, 200, "faults")
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.FailNext("ListShards", 2, 503, "ServiceUnavailable")
	proxy.FailNext("GetShardIterator", 2, 400, "LimitExceededException")
	proxy.FailNext("GetRecords", 6, 400, "ProvisionedThroughputExceededException")
	proxy.FailNext("GetRecords", 2, 400, "KMSThrottlingException")
	proxy.FailNext("GetRecords", 3, 500, "InternalFailure")
	proxy.ResetNext("GetRecords", 2)
	proxy.FailNext("GetRecords", 3, 400, "ExpiredIteratorException")

	p, s := beam.NewPipelineWithRoot()
	opts := append(e.opts(kinesisio.WithStopAtLatest(), kinesisio.Polling{RecordsPerCall: 25}), kinesisio.Connection{Endpoint: proxy.Endpoint()})
	got := collect(s, kinesisio.Read(s, e.stream, opts...))
	res := run(t, p)
	checkExactlyOnce(t, got(), puts)
	for _, op := range []string{"ListShards", "GetShardIterator", "GetRecords"} {
		if n := proxy.Pending(op); n != 0 {
			t.Errorf("%d injected %s faults never fired", n, op)
		}
	}
	if n := counter(res, "read_throttled"); n < 8 {
		t.Errorf("read_throttled = %d, want >= 8 (6 throughput + 2 KMS on GetRecords)", n)
	}
	if n := counter(res, "read_retries"); n < 5 {
		t.Errorf("read_retries = %d, want >= 5 (3 server errors + 2 resets)", n)
	}
	checkCounter(t, res, "read_iterator_renewals", 3)
}

// TestPermanentErrorFailsTheJobClearly: access denied on GetRecords is not
// retried forever; the job fails and says why.
func TestPermanentErrorFailsTheJobClearly(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	e.putPerShard(t, 5, "denied")
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.FailNext("GetRecords", 1, 400, "AccessDeniedException")
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, e.stream, append(e.opts(kinesisio.WithStopAtLatest()), kinesisio.Connection{Endpoint: proxy.Endpoint()})...)
	_, err = ptest.RunWithMetrics(p)
	if err == nil {
		t.Fatal("the job succeeded despite access denied")
	}
	for _, want := range []string{"AccessDeniedException", e.stream, "shardId-000000000000"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}
