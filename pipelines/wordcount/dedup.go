package main

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/transforms/dedup"
)

func init() {
	register.Function1x1(partitionKey)
}

// Deduplication, in both modes: records are dropped before they are
// counted when their key was seen within --dedup_horizon of event time.
var (
	dedupBy      = ownFlags.String("dedup_by", "", "drop records seen before, keyed by: partition_key (the demo's default: its producer gives every record a random key of its own, which a retried put repeats), record (the record's identity: what a run reads twice), or off (the default with --stream)")
	dedupHorizon = ownFlags.Duration("dedup_horizon", 10*time.Minute, "with --dedup_by: how much event time a key is remembered for")
)

// partitionKey keys the demo producer's records: each put has a random
// 64-bit partition key, so two records with one key are one put, written
// twice by a retry.
func partitionKey(r kinesisio.Record) string { return r.PartitionKey }

// dedupOptions returns the dedup.Records options the flags ask for, or
// nil for no deduplication; def is the mode's default of --dedup_by.
func dedupOptions(def string) ([]dedup.Option, error) {
	by := *dedupBy
	if by == "" {
		by = def
	}
	if *dedupHorizon <= 0 {
		return nil, fmt.Errorf("--dedup_horizon %v is not positive", *dedupHorizon)
	}
	opts := []dedup.Option{dedup.WithHorizon(dedup.EventTime(*dedupHorizon))}
	switch by {
	case "off":
		return nil, nil
	case "record":
		return opts, nil
	case "partition_key":
		return append(opts, dedup.WithKeyFn(partitionKey)), nil
	}
	return nil, fmt.Errorf("--dedup_by %q is not partition_key, record or off", by)
}
