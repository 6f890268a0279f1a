package kinesisio

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// TestAggregationSpecSurvivesSerialization: the DoFn's configuration, as
// Beam serializes it (JSON of the exported fields) for workers in other
// processes, keeps the Aggregation option and its resolved defaults.
func TestAggregationSpecSurvivesSerialization(t *testing.T) {
	spec := defaultWriteSpec()
	for _, o := range []WriteOption{WithMaxRecordSize(2 << 20), Aggregation{MaxRecords: 10}} {
		if err := o.applyWrite(&spec); err != nil {
			t.Fatal(err)
		}
	}
	if err := spec.resolve(); err != nil {
		t.Fatal(err)
	}
	b, err := json.Marshal(&writeFn{Spec: spec})
	if err != nil {
		t.Fatal(err)
	}
	var fn writeFn
	if err := json.Unmarshal(b, &fn); err != nil {
		t.Fatal(err)
	}
	want := Aggregation{MaxBytes: 2 << 20, MaxRecords: 10, MaxDelay: 500 * time.Millisecond}
	if fn.Spec.Aggregation == nil || *fn.Spec.Aggregation != want {
		t.Errorf("after JSON, Aggregation = %+v, want %+v", fn.Spec.Aggregation, want)
	}
	cfg := fn.Spec.writerConfig(awsclient.Stream{Name: "s"})
	if cfg.Aggregation == nil || cfg.Aggregation.MaxBytes != 2<<20 {
		t.Errorf("writer config %+v", cfg.Aggregation)
	}
}

// TestWriteLargeRecordStreams: WithMaxRecordSize above 1 MiB raises the
// call limit to 10 MiB (the writer's side is in internal/writer).
func TestWriteLargeRecordStreams(t *testing.T) {
	c := defaultWriteSpec()
	if c.maxBatchBytes() != 5<<20 {
		t.Errorf("default call limit %d, want 5 MiB", c.maxBatchBytes())
	}
	if err := WithMaxRecordSize(4 << 20).applyWrite(&c); err != nil || c.maxBatchBytes() != 10<<20 {
		t.Fatalf("WithMaxRecordSize(4 MiB): %v, call limit %d", err, c.maxBatchBytes())
	}
}
