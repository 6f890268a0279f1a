package kinesisio_test

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func init() {
	register.Function1x1(recordKey)
}

// recordKey identifies a record by shard and sequence number.
func recordKey(r kinesisio.Record) string {
	return r.ShardID + "/" + r.SequenceNumber + "/" + string(r.Data)
}

// TestReadInSeparateWorkerProcess runs Read with its SDK worker in another
// OS process, as Flink and Dataflow do: whatever only works because the
// worker shares the submitter's memory (package state set while building
// the pipeline, unexported DoFn fields) fails here.
func TestReadInSeparateWorkerProcess(t *testing.T) {
	res := separateWorkerCase(t, newEnv(t, emulators.Kinesalite, 4), 100, "sep")
	t.Logf("worker pid %d, ran in %v", res.WorkerPID, res.Elapsed)
}

// separateWorkerCase puts n records per shard of e, reads them with a
// bounded Read (and opts) in a separate worker process and checks that
// exactly those were read and counted.
func separateWorkerCase(t *testing.T, e *env, n int, tag string, opts ...kinesisio.ReadOption) *beamtest.Result {
	t.Helper()
	puts := e.putPerShard(t, n, tag)
	var want []any
	for _, p := range puts {
		want = append(want, p.ShardID+"/"+p.SequenceNumber+"/"+string(p.Data))
	}
	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(append([]kinesisio.ReadOption{kinesisio.WithStopAtLatest()}, opts...)...)...)
	passert.EqualsList(s, beam.ParDo(s, recordKey, recs), want)
	res, err := beamtest.RunInSeparateWorker(t, p)
	if err != nil {
		t.Fatal(err)
	}
	checkCounter(t, res, "read_records", int64(len(puts)))
	return res.(*beamtest.Result)
}

// TestFanOutReadInSeparateWorkerProcess is TestReadInSeparateWorkerProcess
// with enhanced fan-out on kinesis-mock, the consumer registered by the
// worker: the consumer's name and the client settings are all the worker
// gets.
func TestFanOutReadInSeparateWorkerProcess(t *testing.T) {
	res := separateWorkerCase(t, newEnv(t, emulators.KinesisMock, 4), 25, "sepefo",
		kinesisio.WithEnhancedFanOut("separate-worker"))
	if n := counter(res, "read_subscriptions"); n < 4 {
		t.Errorf("%d subscriptions for 4 shards", n)
	}
}
