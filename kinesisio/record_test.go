package kinesisio

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

var recordSamples = []Record{
	{},
	{Stream: "orders", ShardID: "shardId-000000000003", SequenceNumber: "49590338271490256608559692538361571095921575989136588898",
		SubSequenceNumber: 7, PartitionKey: "customer-42", ExplicitHashKey: "170141183460469231731687303715884105728", ApproximateArrivalTimestamp: time.UnixMilli(1700000000123).UTC(), Data: []byte("hello")},
	{Stream: "s", Data: make([]byte, 1<<20)},
}

func TestRecordCoderRoundTrip(t *testing.T) {
	for _, r := range recordSamples {
		got, err := decodeRecord(encodeRecord(r))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	for _, bad := range [][]byte{nil, {9}, encodeRecord(recordSamples[1])[:20], append(encodeRecord(recordSamples[1]), 1)} {
		if _, err := decodeRecord(bad); err == nil {
			t.Errorf("decodeRecord(%x) accepted corrupt input", bad)
		}
	}
}

func FuzzRecordCoder(f *testing.F) {
	for _, r := range recordSamples[:2] {
		f.Add(encodeRecord(r))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStableDecode(t, b, decodeRecord, encodeRecord) })
}

// checkStableDecode checks, for a fuzzed input b, that whatever decode
// accepts encodes to bytes that decode to the same value.
func checkStableDecode[T any](t *testing.T, b []byte, decode func([]byte) (T, error), encode func(T) []byte) {
	v, err := decode(b)
	if err != nil {
		return
	}
	again, err := decode(encode(v))
	if err != nil {
		t.Fatalf("re-decode: %v", err)
	}
	if diff := cmp.Diff(v, again); diff != "" {
		t.Fatalf("unstable round trip:\n%s", diff)
	}
}

func TestStartSpecResolve(t *testing.T) {
	now := time.UnixMilli(5000)
	spec := startSpec{Default: restriction.Position{Kind: restriction.Latest}, Shards: map[string]restriction.Position{"a": AtSequenceNumber("10").p, "b": AfterSequenceNumber("20").p}}
	for shard, want := range map[string]string{"a": "AT_SEQUENCE_NUMBER(10)", "b": "AFTER_SEQUENCE_NUMBER(20)", "c": "AT_TIMESTAMP(1970-01-01T00:00:05Z)"} {
		if got := spec.resolve(shard, now).String(); got != want {
			t.Errorf("shard %s starts at %s, want %s", shard, got, want)
		}
	}
	if got := (startSpec{Default: restriction.Position{Kind: restriction.TrimHorizon}}).resolve("x", now).String(); got != "TRIM_HORIZON" {
		t.Errorf("TrimHorizon resolves to %s", got)
	}
	if got := (startSpec{Default: restriction.Position{Kind: restriction.AtTimestamp, Millis: 42}}).resolve("x", now).Millis; got != 42 {
		t.Errorf("AtTimestamp resolves to %d ms", got)
	}
}
