package dedup_test

import (
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func init() {
	register.Function1x1(toRecord)
	register.Function1x1(recordName)
	register.Function1x1(orderID)
}

// toRecord makes a record out of "name" or "name|payload": name is its
// sequence number (its identity) and the whole string its data.
func toRecord(s string) kinesisio.Record {
	name, _, _ := strings.Cut(s, "|")
	return kinesisio.Record{Stream: "test", ShardID: "shardId-000000000000", SequenceNumber: name, PartitionKey: "pk", Data: []byte(s)}
}

// recordName is the data of a record, for passert.
func recordName(r kinesisio.Record) string { return string(r.Data) }

// orderID keys "name|order" records by order.
func orderID(r kinesisio.Record) string {
	_, order, _ := strings.Cut(string(r.Data), "|")
	return order
}

func names(s beam.Scope, records beam.PCollection) beam.PCollection {
	return beam.ParDo(s, recordName, records)
}
