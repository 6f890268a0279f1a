package kinesisio

import (
	"encoding/hex"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/discovery"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// TestCoderLayoutsAreStable pins the bytes of every coder: runner
// checkpoints hold them, so a change must add a coder version, never
// alter a layout. (The expected bytes are those of release 0.1.0's
// layouts, checked against the code before the reshaping.)
func TestCoderLayoutsAreStable(t *testing.T) {
	for name, tc := range map[string]struct {
		got  []byte
		want string
	}{
		"record": {encodeRecord(recordSamples[1]), "01066f726465727314736861726449642d3030303030303030303030333834393539303333383237313439303235363630383535393639323533383336313537313039353932313537353938393133363538383839380b637573746f6d65722d3432273137303134313138333436303436393233313733313638373330333731353838343130353732380e0180d3f6d7c7bfce972f0568656c6c6f"},
		"shard element": {encodeShardDesc(shardDesc{RunID: "r", ShardID: "s", ParentIDs: []string{"a", "b"}, Start: restriction.Position{Kind: 4, Seq: "123", Millis: -5}, TimestampMillis: 7, EndSeq: "9", StopAtMillis: 1, DeadlineMillis: 2}),
			"010172017302016101620803313233090e01390204"},
		"restriction":         {restriction.Encode(restriction.Restriction{ShardID: "s", Start: restriction.Position{Kind: 2, Millis: 17}, End: "99", Bounded: true}), "01010173020022023939"},
		"closing restriction": {restriction.Encode(restriction.Restriction{ShardID: "s", Start: restriction.Position{Kind: 4, Seq: "5"}, Bounded: true, Closing: true, ShardEnded: true}), "010d01730401350000"},
		"discovery":           {discovery.Encode(discovery.Restriction{Round: 3, Highest: "h", StartMillis: 5, LastListMillis: 6, Done: true, RunID: "x"}), "020601680a0c010178"},
		// Version 2 (sub-sequence number, zigzag varint, last); version 1
		// ("0101730131016b01320502") still decodes, below.
		"written": {encodeWrittenRecord(WrittenRecord{ShardID: "s", SequenceNumber: "1", SubSequenceNumber: 3, PartitionKey: "k", ExplicitHashKey: "2", Size: 5, Attempts: 2}), "0201730131016b0132050206"},
		"failed": {encodeFailedRecord(FailedRecord{Record: Record{Data: []byte("x"), ApproximateArrivalTimestamp: time.UnixMilli(5)}, ErrorCode: "c", ErrorMessage: "m", Attempts: 1}),
			"010163016d01010000000000000180ade2040178"},
	} {
		if got := hex.EncodeToString(tc.got); got != tc.want {
			t.Errorf("%s coder writes %s, want %s", name, got, tc.want)
		}
	}
	// WrittenRecords of release 0.1.0's layout (version 1) still decode.
	v1, _ := hex.DecodeString("0101730131016b01320502")
	want := WrittenRecord{ShardID: "s", SequenceNumber: "1", PartitionKey: "k", ExplicitHashKey: "2", Size: 5, Attempts: 2}
	if got, err := decodeWrittenRecord(v1); err != nil || got != want {
		t.Errorf("written coder version 1 decodes to %+v, %v; want %+v", got, err, want)
	}
}
