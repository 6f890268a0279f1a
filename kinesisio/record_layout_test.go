package kinesisio

import (
	"encoding/hex"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
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
		"shard element": {encodeShardDesc(shardDescV1Sample),
			"020172017302016101620803313233090e01390204000000"},
		"shard element with sub-sequence and hash keys": {encodeShardDesc(shardDesc{RunID: "r", ShardID: "s", Start: restriction.Position{Kind: 3, Seq: "1", Sub: 3}, HashKeyStart: "0", HashKeyEnd: "9"}),
			"02017201730006013100000000000601300139"},
		"restriction":         {restriction.Encode(restrictionV1Samples[0]), "020101730200220239390000"},
		"closing restriction": {restriction.Encode(restrictionV1Samples[1]), "020d017304013500000000"},
		"restriction inside an aggregate": {restriction.Encode(restriction.Restriction{ShardID: "s", Start: restriction.Position{Kind: 3, Seq: "5", Sub: 2}, End: "7", EndSub: 4, Bounded: true}),
			"0201017303013500013704 08"},
		"discovery": {discovery.Encode(discovery.Restriction{Round: 3, Highest: "h", StartMillis: 5, LastListMillis: 6, Done: true, RunID: "x"}), "020601680a0c010178"},
		// Version 2 (sub-sequence number, zigzag varint, last); version 1
		// ("0101730131016b01320502") still decodes, below.
		"written": {encodeWrittenRecord(WrittenRecord{ShardID: "s", SequenceNumber: "1", SubSequenceNumber: 3, PartitionKey: "k", ExplicitHashKey: "2", Size: 5, Attempts: 2}), "0201730131016b0132050206"},
		"failed": {encodeFailedRecord(FailedRecord{Record: Record{Data: []byte("x"), ApproximateArrivalTimestamp: time.UnixMilli(5)}, ErrorCode: "c", ErrorMessage: "m", Attempts: 1}),
			"010163016d01010000000000000180ade2040178"},
	} {
		if got := hex.EncodeToString(tc.got); got != strings.ReplaceAll(tc.want, " ", "") {
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

var shardDescV1Sample = shardDesc{RunID: "r", ShardID: "s", ParentIDs: []string{"a", "b"}, Start: restriction.Position{Kind: 4, Seq: "123", Millis: -5}, TimestampMillis: 7, EndSeq: "9", StopAtMillis: 1, DeadlineMillis: 2}

var restrictionV1Samples = []restriction.Restriction{
	{ShardID: "s", Start: restriction.Position{Kind: 2, Millis: 17}, End: "99", Bounded: true},
	{ShardID: "s", Start: restriction.Position{Kind: 4, Seq: "5"}, Bounded: true, Closing: true, ShardEnded: true},
}

// TestOldCoderLayoutsDecode decodes the version 1 layouts of the shard
// element and the restriction, as a runner restoring a checkpoint of the
// release before sub-sequence positions would.
func TestOldCoderLayoutsDecode(t *testing.T) {
	b, _ := hex.DecodeString("010172017302016101620803313233090e01390204")
	d, err := decodeShardDesc(b)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(shardDescV1Sample, d); diff != "" {
		t.Errorf("shard element v1 (-want +got):\n%s", diff)
	}
	for i, h := range []string{"01010173020022023939", "010d01730401350000"} {
		b, _ := hex.DecodeString(h)
		r, err := restriction.Decode(b)
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(restrictionV1Samples[i], r); diff != "" {
			t.Errorf("restriction v1 %s (-want +got):\n%s", h, diff)
		}
	}
}
