package deadletter

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// TestCoderRoundTrip: the Beam coder keeps every field exactly, and
// refuses every truncation and trailing bytes.
func TestCoderRoundTrip(t *testing.T) {
	l := Letter{
		Record: kinesisio.Record{
			Stream: "s", ShardID: "shardId-1", SequenceNumber: "123", SubSequenceNumber: -2,
			PartitionKey: "k", ExplicitHashKey: "7",
			ApproximateArrivalTimestamp: time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC), // outside UnixNano's range
			Data:                        []byte{0, 1, 2},
		},
		Stage: "write", Error: "e", ErrorCode: "c", Attempts: 9,
		FailedAt: time.Date(2026, 3, 1, 12, 0, 0, 999999999, time.UTC),
	}
	for _, want := range []Letter{l, {}} {
		b := encodeLetter(want)
		got, err := decodeLetter(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("coder round trip differs (-want +got):\n%s", diff)
		}
		for i := range b {
			if _, err := decodeLetter(b[:i]); err == nil {
				t.Errorf("decoding the first %d of %d bytes succeeded", i, len(b))
			}
		}
		if _, err := decodeLetter(append(b, 0)); err == nil {
			t.Error("decoding with a trailing byte succeeded")
		}
	}
}
