package kinesisio

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestNothingLeaksWhenPipelineEnds checks that a finished read leaves no
// fetcher running or registered in the worker process, whichever way it
// was bounded.
func TestNothingLeaksWhenPipelineEnds(t *testing.T) {
	for name, bound := range map[string]ReadOption{"at latest": WithStopAtLatest(), "record budget": WithMaxRecords(4), "read time": WithMaxReadTime(2 * time.Second)} {
		t.Run(name, func(t *testing.T) { leakCase(t, bound) })
	}
}

func leakCase(t *testing.T, bound ReadOption) {
	// The default quiet period (1 min) is for the worst case; 2 s is
	// plenty for this pipeline.
	defer readstate.Default.SetQuiet(readstate.Default.SetQuiet(2 * time.Second))
	emu := emulators.Require(t, emulators.Kinesalite)
	c := kinesistest.NewClient(emu.Endpoint)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	stream := kinesistest.StreamName(t)
	if _, err := kinesistest.CreateStream(ctx, c, stream, 4); err != nil {
		t.Fatal(err)
	}
	if _, err := kinesistest.PutRecords(ctx, c, stream, [][]byte{[]byte("a"), []byte("b"), []byte("c"), []byte("d")}); err != nil {
		t.Fatal(err)
	}
	before := fetcher.Running()
	p, s := beam.NewPipelineWithRoot()
	Read(s, stream, WithEndpoint(emu.Endpoint), WithRegion(kinesistest.Region), bound)
	if err := ptest.Run(p); err != nil {
		t.Fatal(err)
	}
	// Fetchers stop as their shards finish; give the last ones a moment
	// (far less than the 2-minute idle timeout that stops abandoned ones).
	deadline := time.Now().Add(10 * time.Second)
	for fetcher.Running() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := fetcher.Running() - before; n > 0 {
		t.Errorf("%d fetchers still running after the pipeline ended", n)
	}
	// The run's state (its fetcher registry, watermark entries, record
	// budget) is dropped once the run is over and quiet; Prism never
	// calls Teardown, so the sweeper does it.
	deadline = time.Now().Add(15 * time.Second)
	for readstate.Default.Len() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := readstate.Default.Len(); n != 0 {
		t.Errorf("the state of %d runs is still held after the pipeline ended", n)
	}
}
