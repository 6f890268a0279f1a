package kinesisio_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

func init() {
	register.DoFn2x0[[]byte, func(beam.EventTime, kinesisio.Record)](&genFn{})
	register.DoFn2x0[[]byte, func([]byte)](&genBytesFn{})
	register.Emitter2[beam.EventTime, kinesisio.Record]()
	register.Emitter1[[]byte]()
	register.Function1x1(keyByPrefix)
	register.Function1x1(recordByPrefix)
}

// ---- record generation ----

// genSpec describes records made on the worker (large inputs do not go
// through the pipeline proto): record i has partition key
// Prefix-k(i%Keys) and data "key/seq/" padded with 'x' to Size bytes,
// where seq counts the key's records; its timestamp is StartMillis +
// i*StepMillis.
type genSpec struct {
	Prefix      string
	N, Keys     int
	Size        int
	StartMillis int64
	StepMillis  int64
}

func (g genSpec) records() []kinesisio.Record {
	recs := make([]kinesisio.Record, g.N)
	for i := range recs {
		key := fmt.Sprintf("%s-k%d", g.Prefix, i%g.Keys)
		data := fmt.Appendf(nil, "%s/%06d/", key, i/g.Keys)
		if pad := g.Size - len(data); pad > 0 {
			data = append(data, bytes.Repeat([]byte{'x'}, pad)...)
		}
		recs[i] = kinesisio.Record{PartitionKey: key, Data: data}
	}
	return recs
}

// genFn emits the records of its specs, one spec after the other, with
// Extra records interleaved evenly. Making them in one DoFn keeps their
// order to Write: Prism does not keep the order of a PCollection it
// materializes (after a Flatten, for example).
type genFn struct {
	Spec  genSpec
	More  []genSpec
	Extra []kinesisio.Record
}

func (f *genFn) records() []kinesisio.Record {
	recs := f.Spec.records()
	for _, m := range f.More {
		recs = append(recs, m.records()...)
	}
	if len(f.Extra) == 0 {
		return recs
	}
	var out []kinesisio.Record
	step := len(recs)/(len(f.Extra)+1) + 1
	extra := f.Extra
	for i, r := range recs {
		if i > 0 && i%step == 0 && len(extra) > 0 {
			out = append(out, extra[0])
			extra = extra[1:]
		}
		out = append(out, r)
	}
	return append(out, extra...)
}

func (f *genFn) ProcessElement(_ []byte, emit func(beam.EventTime, kinesisio.Record)) {
	for i, r := range f.records() {
		emit(mtime.FromMilliseconds(f.Spec.StartMillis+int64(i)*f.Spec.StepMillis), r)
	}
}

type genBytesFn struct{ Spec genSpec }

func (f *genBytesFn) ProcessElement(_ []byte, emit func([]byte)) {
	for _, r := range f.Spec.records() {
		emit(r.Data)
	}
}

func generate(s beam.Scope, spec genSpec) beam.PCollection {
	return beam.ParDo(s, &genFn{Spec: spec}, beam.Impulse(s))
}

// keyByPrefix is a partition key function: the part of the data before
// the first '/'.
func keyByPrefix(data []byte) string {
	k, _, _ := strings.Cut(string(data), "/")
	return k
}

// recordByPrefix is the registered function that makes a Record of data
// keyed by keyByPrefix, for Write.
func recordByPrefix(data []byte) kinesisio.Record {
	return kinesisio.Record{Data: data, PartitionKey: keyByPrefix(data)}
}

// ---- collecting results ----

// resultSink is what the sinks of results got.
type resultSink struct {
	written []kinesisio.WrittenRecord
	failed  []kinesisio.FailedRecord
}

// results adds sinks for res and returns a function giving what they got.
func results(t *testing.T, s beam.Scope, res kinesisio.WriteResult) func() *resultSink {
	written := beamtest.CollectValues[kinesisio.WrittenRecord](s, res.Written)
	failed := beamtest.CollectValues[kinesisio.FailedRecord](s, res.Failed)
	return func() *resultSink { return &resultSink{written: written(), failed: failed()} }
}

// observed gives, by partition key (of the elements, as key gives it),
// the "window@timestamp" of each element a Collect sink got.
func observed[T any](got []beamtest.Collected[T], key func(T) string) map[string][]string {
	m := map[string][]string{}
	for _, c := range got {
		pk := key(c.Value)
		m[pk] = append(m[pk], fmt.Sprintf("%s@%d", c.Window, c.EventTime.UnixMilli()))
	}
	return m
}

// ---- environment ----

// writeOpts are the connection options for e (through endpoint, if not
// empty) with fast retries.
func (e *env) writeOpts(endpoint string, extra ...kinesisio.WriteOption) []kinesisio.WriteOption {
	if endpoint == "" {
		endpoint = e.endpoint
	}
	return append([]kinesisio.WriteOption{
		kinesisio.Connection{Endpoint: endpoint, Region: kinesistest.Region},
		kinesisio.WithRetries(0, time.Millisecond, 50*time.Millisecond),
	}, extra...)
}

// readBack reads the whole stream: records in shard order, by shard.
func (e *env) readBack(t *testing.T) map[string][]kinesistest.Got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := kinesistest.ReadAll(ctx, e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	return got
}

// checkStream checks that the stream holds exactly want (compared by
// partition key and data), each key's records in the order of want, and
// that written reports each of them with its real shard and sequence
// number.
func checkStream(t *testing.T, got map[string][]kinesistest.Got, want []kinesisio.Record, written []kinesisio.WrittenRecord) {
	t.Helper()
	gotByKey := map[string][]string{}
	where := map[string]string{} // shard/seq -> partition key
	n := 0
	for shard, recs := range got {
		for _, r := range recs {
			gotByKey[r.PartitionKey] = append(gotByKey[r.PartitionKey], string(r.Data))
			where[shard+"/"+r.SequenceNumber] = r.PartitionKey
			n++
		}
	}
	wantByKey := map[string][]string{}
	for _, r := range want {
		wantByKey[r.PartitionKey] = append(wantByKey[r.PartitionKey], string(r.Data))
	}
	if n != len(want) {
		t.Errorf("the stream holds %d records, want %d", n, len(want))
	}
	for k, w := range wantByKey {
		g := gotByKey[k]
		if len(g) != len(w) {
			t.Errorf("key %s: %d records in the stream, want %d", k, len(g), len(w))
			continue
		}
		for i := range w {
			if g[i] != w[i] {
				t.Errorf("key %s: record %d in the stream is %.40q, want %.40q (order or content broken)", k, i, g[i], w[i])
				break
			}
		}
	}
	if written == nil {
		return
	}
	if len(written) != len(want) {
		t.Errorf("Written has %d records, want %d", len(written), len(want))
	}
	seen := map[string]bool{}
	for _, w := range written {
		id := w.ShardID + "/" + w.SequenceNumber
		if pk, ok := where[id]; !ok || pk != w.PartitionKey || seen[id] {
			t.Errorf("Written reports %+v: in the stream %v (key %q), reported before %v", w, ok, pk, seen[id])
			break
		}
		seen[id] = true
		if w.Attempts < 1 || w.Size < len(w.PartitionKey) {
			t.Errorf("Written reports %+v", w)
			break
		}
	}
}

// ---- a PutRecords recorder and per-entry fault injector ----

// newPutProxy returns a kinesistest.Proxy to target that records the
// PutRecords calls (and can fail single entries: FailEntries), closed
// when the test ends.
func newPutProxy(t *testing.T, target string) *kinesistest.Proxy {
	t.Helper()
	p, err := kinesistest.NewProxy(target)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	p.RecordPuts()
	return p
}

// checkCalls checks that every PutRecords call kept to the limits.
func checkCalls(t *testing.T, calls []kinesistest.PutCall) {
	t.Helper()
	for i, c := range calls {
		if c.Records < 1 || c.Records > 500 || c.Bytes > 5<<20 {
			t.Errorf("PutRecords call %d had %d records and %d bytes: over the limits (500, 5 MiB)", i, c.Records, c.Bytes)
		}
	}
}

// ---- tests ----

// TestWriteRoundTrip writes 1,200 records of 8 keys to each emulator on
// Prism: all arrive, in order per key, the calls keep to the limits, and
// Written reports each record's real shard and sequence number.
func TestWriteRoundTrip(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 3)
			proxy := newPutProxy(t, e.endpoint)
			spec := genSpec{Prefix: "rt", N: 1200, Keys: 8, Size: 64}
			p, s := beam.NewPipelineWithRoot()
			res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint())...)
			got := results(t, s, res)
			pr := run(t, p)
			checkStream(t, e.readBack(t), spec.records(), got().written)
			calls := proxy.PutCalls()
			checkCalls(t, calls)
			if len(calls) < 3 {
				t.Errorf("1,200 records in %d PutRecords calls, want at least 3", len(calls))
			}
			checkCounter(t, pr, "write_records", 1200)
			if n := counter(pr, "write_bytes"); n < 1200*64 {
				t.Errorf("write_bytes = %d, want at least %d", n, 1200*64)
			}
			checkCounter(t, pr, "write_calls", int64(len(calls)))
			if len(got().failed) != 0 {
				t.Errorf("Failed: %v", got().failed)
			}
			d := distribution(pr, "write_batch_size")
			if d.Count != int64(len(calls)) || d.Sum != 1200 || d.Max > 500 {
				t.Errorf("write_batch_size = %+v, want %d calls summing to 1200, none over 500", d, len(calls))
			}
		})
	}
}

func TestWriteWithoutWrittenRecords(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	spec := genSpec{Prefix: "nw", N: 600, Keys: 4, Size: 32}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(e.endpoint, kinesisio.WithoutWrittenRecords())...)
	got := results(t, s, res)
	pr := run(t, p)
	checkStream(t, e.readBack(t), spec.records(), nil)
	if n := len(got().written); n != 0 {
		t.Errorf("Written has %d records, want none", n)
	}
	checkCounter(t, pr, "write_records", 600)
}

// distribution returns a kinesisio distribution summed over steps.
func distribution(res beam.PipelineResult, name string) (d struct{ Count, Sum, Min, Max int64 }) {
	for _, r := range res.Metrics().AllMetrics().Distributions() {
		if r.Key.Namespace == kinesisio.MetricsNamespace && r.Key.Name == name {
			v := r.Result()
			d.Count += v.Count
			d.Sum += v.Sum
			d.Max = max(d.Max, v.Max)
			if d.Min == 0 || v.Min < d.Min {
				d.Min = v.Min
			}
		}
	}
	return d
}

// TestWriteSplitsLargeInputs: 1,200 small records and 12 of 600 KiB
// (7 MiB) go in calls of at most 500 records and 5 MiB, each as full as
// the limits allow.
func TestWriteSplitsLargeInputs(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 2)
			proxy := newPutProxy(t, e.endpoint)
			small := genSpec{Prefix: "small", N: 1200, Keys: 3, Size: 32}
			big := genSpec{Prefix: "big", N: 12, Keys: 2, Size: 600 << 10}
			p, s := beam.NewPipelineWithRoot()
			in := beam.ParDo(s, &genFn{Spec: small, More: []genSpec{big}}, beam.Impulse(s))
			res := kinesisio.Write(s, e.stream, in, e.writeOpts(proxy.Endpoint(), kinesisio.WithMaxInFlight(1))...)
			got := results(t, s, res)
			pr := run(t, p)
			checkStream(t, e.readBack(t), append(small.records(), big.records()...), got().written)
			calls := proxy.PutCalls()
			checkCalls(t, calls)
			var total, bytes int
			for _, c := range calls {
				total += c.Records
				bytes += c.Bytes
			}
			if total != 1212 || bytes < 7<<20 {
				t.Errorf("calls carried %d records, %d bytes; want 1212, > 7 MiB", total, bytes)
			}
			// One lane: 500 + 500 small records, then the last 200 small ones and
			// 8 big ones (a 9th would pass 5 MiB), then the last 4 big ones.
			var sizes []int
			for _, c := range calls {
				sizes = append(sizes, c.Records)
			}
			if fmt.Sprint(sizes) != "[500 500 208 4]" {
				t.Errorf("calls of %v records, want [500 500 208 4]", sizes)
			}
			checkCounter(t, pr, "write_calls", int64(len(calls)))
		})
	}
}

// TestWriteReportsInvalidRecords: records that cannot be valid are not
// sent; they go to Failed with their codes while the rest is written.
func TestWriteReportsInvalidRecords(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 2)
			proxy := newPutProxy(t, e.endpoint)
			valid := genSpec{Prefix: "ok", N: 50, Keys: 2, Size: 20}
			bad := []kinesisio.Record{
				{PartitionKey: "too-large", Data: bytes.Repeat([]byte{'b'}, 1<<20)},
				{PartitionKey: "", Data: []byte("no key")},
				{PartitionKey: strings.Repeat("k", 257), Data: []byte("long key")},
				{PartitionKey: "hash", ExplicitHashKey: "340282366920938463463374607431768211456", Data: []byte("hash key too big")},
			}
			p, s := beam.NewPipelineWithRoot()
			in := beam.ParDo(s, &genFn{Spec: valid, Extra: bad}, beam.Impulse(s))
			res := kinesisio.Write(s, e.stream, in, e.writeOpts(proxy.Endpoint(), kinesisio.WithFailedRecords())...)
			got := results(t, s, res)
			pr := run(t, p)
			checkStream(t, e.readBack(t), valid.records(), got().written)
			codes := map[string]string{}
			for _, f := range got().failed {
				codes[string(f.Record.Data[:min(len(f.Record.Data), 16)])] = f.ErrorCode
				if f.Attempts != 0 || f.ErrorMessage == "" {
					t.Errorf("failed record %q: %d attempts, message %q", f.Record.PartitionKey, f.Attempts, f.ErrorMessage)
				}
			}
			want := map[string]string{
				"bbbbbbbbbbbbbbbb": kinesisio.ErrCodeRecordTooLarge,
				"no key":           kinesisio.ErrCodeInvalidPartitionKey,
				"long key":         kinesisio.ErrCodeInvalidPartitionKey,
				"hash key too big": kinesisio.ErrCodeInvalidExplicitHashKey,
			}
			if fmt.Sprint(codes) != fmt.Sprint(want) {
				t.Errorf("Failed codes = %v, want %v", codes, want)
			}
			for _, c := range proxy.PutCalls() {
				if c.Bytes >= 1<<20 {
					t.Errorf("a call carried %d bytes: the oversized record was sent", c.Bytes)
				}
			}
			checkCounter(t, pr, "write_failures", 4)
		})
	}
}

// TestWriteInvalidRecordFailsBundleByDefault: in the default FailBundle
// mode, an invalid record fails the job, after the rest was written.
func TestWriteInvalidRecordFailsBundleByDefault(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	valid := genSpec{Prefix: "ok", N: 30, Keys: 3, Size: 20}
	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, &genFn{Spec: valid, Extra: []kinesisio.Record{{PartitionKey: "huge", Data: make([]byte, 1<<20)}}}, beam.Impulse(s))
	kinesisio.Write(s, e.stream, in, e.writeOpts("")...)
	_, err := ptest.RunWithMetrics(p)
	if err == nil {
		t.Fatal("the job succeeded with a record over 1 MiB")
	}
	for _, want := range []string{"RecordTooLarge", "could not be written", e.stream, "WithFailedRecords"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	n := 0
	for _, recs := range e.readBack(t) {
		n += len(recs)
	}
	if n < valid.N {
		t.Errorf("the stream holds %d records, want the %d valid ones (or more, if the bundle was retried)", n, valid.N)
	}
}

// TestWriteRetriesWholeCallFaults: throttled, failed and reset PutRecords
// calls are retried; nothing is lost and the retries are counted.
func TestWriteRetriesWholeCallFaults(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.FailNext("PutRecords", 3, 400, "ProvisionedThroughputExceededException")
	proxy.FailNext("PutRecords", 2, 500, "InternalFailure")
	proxy.ResetNext("PutRecords", 2)
	proxy.FailNext("PutRecords", 1, 503, "ServiceUnavailable")
	spec := genSpec{Prefix: "faults", N: 1000, Keys: 5, Size: 40}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint())...)
	got := results(t, s, res)
	pr := run(t, p)
	checkStream(t, e.readBack(t), spec.records(), got().written)
	if n := proxy.Pending("PutRecords"); n != 0 {
		t.Errorf("%d injected faults never fired", n)
	}
	// Each failed call resent all its records (at least one each).
	if n := counter(pr, "write_retries"); n < 8 {
		t.Errorf("write_retries = %d, want at least 8", n)
	}
	if n := counter(pr, "write_throttled"); n < 3 {
		t.Errorf("write_throttled = %d, want at least 3", n)
	}
	retried := 0
	for _, w := range got().written {
		if w.Attempts > 1 {
			retried++
		}
	}
	if retried == 0 {
		t.Error("no Written record reports more than one attempt")
	}
}

// TestWritePartialFailuresKeepKeyOrder: entries of PutRecords calls fail
// one by one (once an entry of a key fails, the key's later entries in
// the call fail too, as when a shard runs out of quota): only they are
// retried, nothing is lost, and each key's records stay in order.
func TestWritePartialFailuresKeepKeyOrder(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 3)
	proxy := newPutProxy(t, e.endpoint)
	proxy.FailEntries(func(n, i int, key string, failed map[string]bool) string {
		if n >= 12 {
			return ""
		}
		if failed[key] || (i+3*n)%5 == 0 {
			if i%2 == 0 {
				return "ProvisionedThroughputExceededException"
			}
			return "InternalFailure"
		}
		return ""
	})
	spec := genSpec{Prefix: "partial", N: 2000, Keys: 6, Size: 30}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint(), kinesisio.WithRetries(20, 0, 0))...)
	got := results(t, s, res)
	pr := run(t, p)
	checkStream(t, e.readBack(t), spec.records(), got().written)
	calls := proxy.PutCalls()
	checkCalls(t, calls)
	failed := 0
	for _, c := range calls {
		failed += c.Failed
	}
	if failed == 0 {
		t.Fatal("no entry failed")
	}
	checkCounter(t, pr, "write_retries", int64(failed))
	// Only failed entries are resent: the calls carried exactly the
	// records plus the failures.
	total := 0
	for _, c := range calls {
		total += c.Records
	}
	if total != spec.N+failed {
		t.Errorf("calls carried %d entries, want %d records + %d failed", total, spec.N, failed)
	}
}

// TestWriteAttemptsExhausted: records that keep failing go to Failed in
// EmitFailed mode, and fail the job in the default mode.
func TestWriteAttemptsExhausted(t *testing.T) {
	doomed := func(_, _ int, key string, _ map[string]bool) string {
		if key == "doomed" {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}
	spec := genSpec{Prefix: "fine", N: 100, Keys: 2, Size: 20}
	build := func(e *env, proxy *kinesistest.Proxy, extra ...kinesisio.WriteOption) (*beam.Pipeline, func() *resultSink) {
		p, s := beam.NewPipelineWithRoot()
		in := beam.ParDo(s, &genFn{Spec: spec, Extra: []kinesisio.Record{{PartitionKey: "doomed", Data: []byte("d1")}, {PartitionKey: "doomed", Data: []byte("d2")}}}, beam.Impulse(s))
		res := kinesisio.Write(s, e.stream, in, e.writeOpts(proxy.Endpoint(), append(extra, kinesisio.WithRetries(3, 0, 0))...)...)
		return p, results(t, s, res)
	}
	t.Run("EmitFailed", func(t *testing.T) {
		e := newEnv(t, emulators.Kinesalite, 1)
		proxy := newPutProxy(t, e.endpoint)
		proxy.FailEntries(doomed)
		p, got := build(e, proxy, kinesisio.WithFailedRecords())
		pr := run(t, p)
		checkStream(t, e.readBack(t), spec.records(), got().written)
		failed := got().failed
		if len(failed) != 2 {
			t.Fatalf("Failed has %d records, want 2", len(failed))
		}
		for _, f := range failed {
			if f.Record.PartitionKey != "doomed" || f.ErrorCode != "ProvisionedThroughputExceededException" || f.Attempts != 3 {
				t.Errorf("Failed record %+v", f)
			}
		}
		checkCounter(t, pr, "write_failures", 2)
		checkCounter(t, pr, "write_retries", 4)
	})
	t.Run("FailBundle", func(t *testing.T) {
		e := newEnv(t, emulators.Kinesalite, 1)
		proxy := newPutProxy(t, e.endpoint)
		proxy.FailEntries(doomed)
		p, _ := build(e, proxy)
		_, err := ptest.RunWithMetrics(p)
		if err == nil {
			t.Fatal("the job succeeded although 2 records could not be written")
		}
		for _, want := range []string{"2 record(s) could not be written", "ProvisionedThroughputExceededException after 3 attempt(s)", `"doomed"`} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

// TestWriteWholeCallAttemptsExhausted: records whose every call fails as
// a whole go to Failed with the call's error code.
func TestWriteWholeCallAttemptsExhausted(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.FailNext("PutRecords", 2, 500, "InternalFailure")
	proxy.FailNext("PutRecords", 1, 400, "ProvisionedThroughputExceededException")
	spec := genSpec{Prefix: "whole", N: 5, Keys: 1, Size: 10}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint(), kinesisio.WithRetries(3, 0, 0), kinesisio.WithFailedRecords())...)
	got := results(t, s, res)
	pr := run(t, p)
	failed := got().failed
	if len(failed) != 5 || len(got().written) != 0 {
		t.Fatalf("%d failed and %d written, want 5 and 0", len(failed), len(got().written))
	}
	for _, f := range failed {
		if f.ErrorCode != "ProvisionedThroughputExceededException" || f.Attempts != 3 || !strings.Contains(f.ErrorMessage, "injected") {
			t.Errorf("Failed record %+v", f)
		}
	}
	if n := proxy.Count("PutRecords"); n != 3 {
		t.Errorf("%d calls, want 3", n)
	}
	checkCounter(t, pr, "write_retries", 10)
	if stream := e.readBack(t); len(stream) != 0 {
		t.Errorf("the stream holds records: %v", stream)
	}
}

// TestWritePermanentErrorsFailTheJob: access denied and a missing stream
// fail the job at once, with what to fix.
func TestWritePermanentErrorsFailTheJob(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	proxy.FailNext("PutRecords", 1, 400, "AccessDeniedException")
	spec := genSpec{Prefix: "denied", N: 10, Keys: 1, Size: 10}
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint())...)
	_, err = ptest.RunWithMetrics(p)
	if err == nil {
		t.Fatal("the job succeeded despite access denied")
	}
	for _, want := range []string{"AccessDeniedException", e.stream, "kinesis:PutRecords"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
	if n := proxy.Count("PutRecords"); n != 1 {
		t.Errorf("%d PutRecords calls, want 1: a permanent error is not retried", n)
	}

	p, s = beam.NewPipelineWithRoot()
	kinesisio.Write(s, "no-such-stream", generate(s, spec), e.writeOpts("")...)
	_, err = ptest.RunWithMetrics(p)
	if err == nil || !strings.Contains(err.Error(), "stream no-such-stream not found") {
		t.Errorf("writing a missing stream: error %v", err)
	}
}

// TestWriteBytes writes []byte made Records with a registered key
// function, and []byte as they are, with random keys.
func TestWriteBytes(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 4)
	keyed := genSpec{Prefix: "wb", N: 300, Keys: 3, Size: 24}
	random := genSpec{Prefix: "rand", N: 200, Keys: 1, Size: 24}
	p, s := beam.NewPipelineWithRoot()
	r1 := kinesisio.Write(s, e.stream, beam.ParDo(s, recordByPrefix, beam.ParDo(s, &genBytesFn{Spec: keyed}, beam.Impulse(s))), e.writeOpts("")...)
	r2 := kinesisio.Write(s, e.stream, beam.ParDo(s, &genBytesFn{Spec: random}, beam.Impulse(s)), e.writeOpts("")...)
	got1, got2 := results(t, s, r1), results(t, s, r2)
	run(t, p)
	stream := e.readBack(t)
	byKey := map[string]int{}
	shardsOfRandom := map[string]bool{}
	for shard, recs := range stream {
		for _, r := range recs {
			if strings.HasPrefix(string(r.Data), "rand") {
				shardsOfRandom[shard] = true
				byKey["random"]++
				if len(r.PartitionKey) != 32 {
					t.Errorf("random partition key %q", r.PartitionKey)
				}
				continue
			}
			if k := keyByPrefix(r.Data); k != r.PartitionKey {
				t.Errorf("record %q has key %q, want %q", r.Data, r.PartitionKey, k)
			}
			byKey[r.PartitionKey]++
		}
	}
	if byKey["wb-k0"] != 100 || byKey["wb-k1"] != 100 || byKey["wb-k2"] != 100 || byKey["random"] != 200 {
		t.Errorf("records by key: %v", byKey)
	}
	if len(shardsOfRandom) < 3 {
		t.Errorf("200 records with random keys landed on %d of 4 shards", len(shardsOfRandom))
	}
	if len(got1().written) != 300 || len(got2().written) != 200 {
		t.Errorf("Written: %d and %d, want 300 and 200", len(got1().written), len(got2().written))
	}
}

// TestWriteStrictOrdering writes with PutRecord and chained sequence
// numbers: one call per record, sequence numbers increasing per key.
func TestWriteStrictOrdering(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 2)
			proxy, err := kinesistest.NewProxy(e.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			proxy.FailNext("PutRecord", 3, 400, "ProvisionedThroughputExceededException")
			spec := genSpec{Prefix: "strict", N: 200, Keys: 4, Size: 16}
			p, s := beam.NewPipelineWithRoot()
			res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint(), kinesisio.WithStrictOrdering())...)
			got := results(t, s, res)
			run(t, p)
			checkStream(t, e.readBack(t), spec.records(), got().written)
			if n, m := proxy.Count("PutRecord"), proxy.Count("PutRecords"); n != 203 || m != 0 {
				t.Errorf("%d PutRecord and %d PutRecords calls, want 203 and 0", n, m)
			}
		})
	}
}

// TestWriteShardRateLimit: with the client-side limit, 2,500 records on
// one shard take at least 1.5 s (1,000 records per second, after a burst
// of 1,000), and the shards are listed.
func TestWriteShardRateLimit(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	spec := genSpec{Prefix: "paced", N: 2500, Keys: 1, Size: 16}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, generate(s, spec), e.writeOpts(proxy.Endpoint(), kinesisio.WithShardRateLimit())...)
	got := results(t, s, res)
	run(t, p)
	stream := e.readBack(t)
	checkStream(t, stream, spec.records(), got().written)
	if n := proxy.Count("ListShards"); n < 1 {
		t.Errorf("ListShards called %d times", n)
	}
	// The spread of the records' arrival times shows the pacing.
	var first, last time.Time
	for _, recs := range stream {
		for _, r := range recs {
			if first.IsZero() || r.Arrival.Before(first) {
				first = r.Arrival
			}
			if r.Arrival.After(last) {
				last = r.Arrival
			}
		}
	}
	if d := last.Sub(first); d < 1400*time.Millisecond {
		t.Errorf("2,500 records on one shard arrived within %v, want at least 1.5 s with the shard rate limit", d)
	}
}

// TestWriteKeepsWindowsAndTimestamps: each Written record is in its input
// record's windows, with its timestamp.
func TestWriteKeepsWindowsAndTimestamps(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	for _, tc := range []struct {
		name string
		fn   *window.Fn
	}{
		{"fixed", window.NewFixedWindows(time.Minute)},
		{"sliding", window.NewSlidingWindows(30*time.Second, time.Minute)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// 40 records, one per key, 7 s apart: several windows.
			spec := genSpec{Prefix: "win-" + tc.name, N: 40, Keys: 40, Size: 16, StartMillis: 1_700_000_000_000, StepMillis: 7000}
			p, s := beam.NewPipelineWithRoot()
			in := beam.WindowInto(s, tc.fn, generate(s, spec))
			inGot := beamtest.Collect[kinesisio.Record](s, in)
			res := kinesisio.Write(s, e.stream, in, e.writeOpts("")...)
			outGot := beamtest.Collect[kinesisio.WrittenRecord](s, res.Written)
			run(t, p)
			want := observed(inGot(), func(r kinesisio.Record) string { return r.PartitionKey })
			got := observed(outGot(), func(r kinesisio.WrittenRecord) string { return r.PartitionKey })
			for _, m := range []map[string][]string{want, got} {
				for _, v := range m {
					sort.Strings(v)
				}
			}
			if len(want) != 40 {
				t.Fatalf("observed %d input records, want 40", len(want))
			}
			t.Logf("e.g. %s: %v", spec.Prefix+"-k3", got[spec.Prefix+"-k3"])
			if fmt.Sprint(want) != fmt.Sprint(got) {
				t.Errorf("windows and timestamps differ:\ninput   %v\nwritten %v", want, got)
			}
			if !res.Written.WindowingStrategy().Fn.Equals(tc.fn) || !res.Failed.WindowingStrategy().Fn.Equals(tc.fn) {
				t.Errorf("outputs are windowed %v, %v; want %v", res.Written.WindowingStrategy(), res.Failed.WindowingStrategy(), tc.fn)
			}
		})
	}
}

// TestWriteInSeparateWorkerProcess runs Write of []byte made Records with a key function
// and options in a worker in another OS process, as portable runners do.
func TestWriteInSeparateWorkerProcess(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	spec := genSpec{Prefix: "sep", N: 600, Keys: 4, Size: 32}
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Write(s, e.stream, beam.ParDo(s, recordByPrefix, beam.ParDo(s, &genBytesFn{Spec: spec}, beam.Impulse(s))),
		e.writeOpts("", kinesisio.WithMaxInFlight(3), kinesisio.WithShardRateLimit(), kinesisio.WithRetries(5, 0, 0))...)
	res, err := beamtest.RunInSeparateWorker(t, p)
	if err != nil {
		t.Fatal(err)
	}
	checkStream(t, e.readBack(t), spec.records(), nil)
	checkCounter(t, res, "write_records", 600)
}

// TestWriteOptionsAreValidated: bad options and inputs are refused when
// the pipeline is built, naming the option.
func TestWriteOptionsAreValidated(t *testing.T) {
	for _, tc := range []struct {
		stream string
		opt    kinesisio.WriteOption
		want   string
	}{
		{"s", kinesisio.WithRetries(-1, 0, 0), "WithRetries"},
		{"s", kinesisio.WithRetries(0, 0, time.Second), "WithRetries"},
		{"s", kinesisio.WithRetries(0, time.Second, time.Millisecond), "WithRetries"},
		{"s", kinesisio.WithMaxInFlight(0), "WithMaxInFlight"},
		{"s", kinesisio.WithMaxInFlight(65), "WithMaxInFlight"},
		{"s", kinesisio.WithMaxRecordSize(11 << 20), "WithMaxRecordSize"},
		{"s", kinesisio.Connection{RoleARN: "role"}, "Connection"},
		{"s", kinesisio.Connection{ExternalID: "ext"}, "Connection"},
		{"arn:aws:kinesis:eu-west-1:123456789012:stream/s", kinesisio.Connection{Region: "us-east-1"}, "not the region of stream ARN"},
		{"s", nil, "nil option"},
		{"not a stream!", kinesisio.Connection{Region: "us-east-1"}, "invalid stream name"},
	} {
		_, s := beam.NewPipelineWithRoot()
		col := beam.Create(s, kinesisio.Record{PartitionKey: "k"})
		_, err := kinesisio.TryWrite(s, tc.stream, col, tc.opt)
		if !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("TryWrite with %s: error %v, want ErrInvalidOption naming %q", tc.want, err, tc.want)
		}
	}
	// The connection options of Read configure Write too.
	_, s := beam.NewPipelineWithRoot()
	res, err := kinesisio.TryWrite(s, "arn:aws:kinesis:eu-west-1:123456789012:stream/orders", beam.Create(s, kinesisio.Record{PartitionKey: "k"}),
		kinesisio.Connection{Region: "eu-west-1", Endpoint: "http://127.0.0.1:1", Profile: "p", RoleARN: "arn:aws:iam::123456789012:role/writer"}, kinesisio.WithRetries(3, 0, 0),
		kinesisio.WithShardRateLimit(), kinesisio.WithStrictOrdering(), kinesisio.WithMaxRecordSize(2<<20))
	if err != nil || !res.Written.IsValid() || !res.Failed.IsValid() {
		t.Errorf("TryWrite with valid options = %v, %v", res, err)
	}
	// Inputs of the wrong type are refused.
	_, s = beam.NewPipelineWithRoot()
	if _, err := kinesisio.TryWrite(s, "s", beam.Create(s, "a string")); !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), "[]byte") {
		t.Errorf("TryWrite of strings: %v", err)
	}
	if _, err := kinesisio.TryWrite(s, "s", beam.Create(s, []byte("x"))); err != nil {
		t.Errorf("TryWrite of []byte: %v", err)
	}
	// Write panics with the same error.
	defer func() {
		if r, ok := recover().(error); !ok || !errors.Is(r, kinesisio.ErrInvalidOption) {
			t.Errorf("Write panicked with %v, want an ErrInvalidOption error", r)
		}
	}()
	kinesisio.Write(s, "s", beam.Create(s, kinesisio.Record{}), kinesisio.WithRetries(-1, 0, 0))
}

// TestWriteEmptyData: Kinesis takes records of 0 bytes. A record with
// empty data among five valid ones is written with them, on the
// in-process server, kinesalite and kinesis-mock. It once failed the
// whole PutRecords call ("missing required field,
// PutRecordsInput.Records[2].Data": the Record coder decodes empty data
// as nil) and was retried as transient, failing its neighbours with it.
func TestWriteEmptyData(t *testing.T) {
	recs := []kinesisio.Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: "b", Data: []byte("two")},
		{PartitionKey: "empty", Data: []byte{}},
		{PartitionKey: "c", Data: []byte("three")},
		{PartitionKey: "d", Data: []byte("four")},
		{PartitionKey: "e", Data: []byte("five")},
	}
	for _, kind := range []string{"fakekinesis", string(emulators.Kinesalite), string(emulators.KinesisMock)} {
		t.Run(kind, func(t *testing.T) {
			e := envOn(t, kind, 1)
			p, s := beam.NewPipelineWithRoot()
			// Through a shuffle, as records read from a stream come: the
			// Record coder decodes empty data as nil.
			in := beam.Reshuffle(s, beam.ParDo(s, &genFn{Extra: recs}, beam.Impulse(s)))
			res := kinesisio.Write(s, e.stream, in, e.writeOpts("", kinesisio.WithFailedRecords(), kinesisio.WithRetries(3, 0, 0))...)
			got := results(t, s, res)
			pr := run(t, p)
			for _, f := range got().failed {
				t.Errorf("record %q (key %s) failed: %s: %s after %d attempts", f.Record.Data, f.Record.PartitionKey, f.ErrorCode, f.ErrorMessage, f.Attempts)
			}
			checkStream(t, e.readBack(t), recs, got().written)
			checkCounter(t, pr, "write_retries", 0)
		})
	}
}

// TestWriteMultiByteKeys writes keys at Kinesis's 256-character limit
// in multi-byte characters (counted in UTF-16 code units: an emoji counts
// 2) with their neighbours, to the in-process server, kinesalite and
// kinesis-mock: every record is written, none refused. The in-process
// server once counted bytes and refused the whole PutRecords call.
func TestWriteMultiByteKeys(t *testing.T) {
	recs := []kinesisio.Record{
		{PartitionKey: "a", Data: []byte("one")},
		{PartitionKey: strings.Repeat("é", 255), Data: []byte("255 é")},
		{PartitionKey: strings.Repeat("é", 256), Data: []byte("256 é")},
		{PartitionKey: strings.Repeat("€", 256), Data: []byte("256 €")},
		{PartitionKey: strings.Repeat("\U0001F600", 128), Data: []byte("128 emoji")},
		{PartitionKey: strings.Repeat("k", 256), Data: []byte("256 k")},
		{PartitionKey: "b", Data: []byte("two")},
	}
	for _, kind := range []string{"fakekinesis", string(emulators.Kinesalite), string(emulators.KinesisMock)} {
		t.Run(kind, func(t *testing.T) {
			e := envOn(t, kind, 1)
			p, s := beam.NewPipelineWithRoot()
			in := beam.ParDo(s, &genFn{Extra: recs}, beam.Impulse(s))
			res := kinesisio.Write(s, e.stream, in, e.writeOpts("", kinesisio.WithFailedRecords(), kinesisio.WithRetries(3, 0, 0))...)
			got := results(t, s, res)
			run(t, p)
			for _, f := range got().failed {
				t.Errorf("record %q failed: %s: %s after %d attempts", f.Record.Data, f.ErrorCode, f.ErrorMessage, f.Attempts)
			}
			checkStream(t, e.readBack(t), recs, got().written)
		})
	}
}
