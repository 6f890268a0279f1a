package kinesisio

import (
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestResultCodersRoundTrip(t *testing.T) {
	wr := WrittenRecord{ShardID: "shardId-000000000001", SequenceNumber: "4959", SubSequenceNumber: 4095, PartitionKey: "k", ExplicitHashKey: "12", Size: 1 << 20, Attempts: 3}
	got, err := decodeWrittenRecord(encodeWrittenRecord(wr))
	if err != nil || got != wr {
		t.Errorf("WrittenRecord round trip = %+v, %v", got, err)
	}
	// Version 1, before sub-sequence numbers, still decodes (as 0).
	v1 := []byte{1, 20}
	v1 = append(v1, "shardId-000000000001"...)
	v1 = append(v1, 4)
	v1 = append(v1, "4959"...)
	v1 = append(v1, 1, 'k', 2, '1', '2', 0x80, 0x80, 0x40, 3)
	want := wr
	want.SubSequenceNumber = 0
	if got, err := decodeWrittenRecord(v1); err != nil || got != want {
		t.Errorf("WrittenRecord version 1 = %+v, %v; want %+v", got, err, want)
	}
	if _, err := decodeWrittenRecord(append(v1, 0)); err == nil {
		t.Error("version 1 with a trailing sub-sequence number decoded")
	}
	fr := FailedRecord{Record: Record{PartitionKey: "k", ExplicitHashKey: "1", Data: []byte("data"), ApproximateArrivalTimestamp: time.Unix(5, 6).UTC()}, ErrorCode: "X", ErrorMessage: "why", Attempts: 10}
	gotF, err := decodeFailedRecord(encodeFailedRecord(fr))
	if err != nil || !cmp.Equal(gotF, fr) {
		t.Errorf("FailedRecord round trip = %+v, %v", gotF, err)
	}
	if _, err := decodeWrittenRecord([]byte{1, 200}); err == nil {
		t.Error("corrupt WrittenRecord decoded")
	}
	if _, err := decodeFailedRecord([]byte{2}); err == nil {
		t.Error("bad FailedRecord version decoded")
	}
}
