package kinesisio

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestNothingLeaksWhenPipelineEnds checks that a finished read leaves no
// fetcher running or registered in the worker process, whichever way it
// was bounded.
func TestNothingLeaksWhenPipelineEnds(t *testing.T) {
	for name, bound := range map[string]ReadOption{"at latest": WithStopAtLatest(), "record budget": WithMaxRecords(4), "read time": WithMaxReadTime(2 * time.Second)} {
		t.Run(name, func(t *testing.T) {
			emu := emulators.Require(t, emulators.Kinesalite)
			leakCase(t, emu.Endpoint, bound)
		})
		// With enhanced fan-out, every subscription is closed too: the
		// server sees none open once the pipeline ended.
		t.Run(name+" fan-out", func(t *testing.T) {
			srv, err := fakekinesis.NewServer()
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			goroutines := runtime.NumGoroutine()
			leakCase(t, srv.Endpoint(), bound, WithEnhancedFanOut("leak"))
			deadline := time.Now().Add(10 * time.Second)
			for srv.Subscriptions() > 0 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := srv.Subscriptions(); n != 0 {
				t.Errorf("%d subscriptions still open after the pipeline ended", n)
			}
			// A subscription left open pins three SDK goroutines and its
			// connection's: 4 shards would add a dozen or more.
			for runtime.NumGoroutine() > goroutines+4 && time.Now().Before(deadline) {
				time.Sleep(10 * time.Millisecond)
			}
			if n := runtime.NumGoroutine(); n > goroutines+4 {
				t.Errorf("%d goroutines after the pipeline ended, %d before", n, goroutines)
			}
		})
	}
}

func leakCase(t *testing.T, endpoint string, bound ReadOption, extra ...ReadOption) {
	// The default quiet period (1 min) is for the worst case; 2 s is
	// plenty for this pipeline.
	defer readstate.Default.SetQuiet(readstate.Default.SetQuiet(2 * time.Second))
	c := kinesistest.NewClient(endpoint)
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
	Read(s, stream, append([]ReadOption{Connection{Endpoint: endpoint, Region: kinesistest.Region}, bound}, extra...)...)
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
	// The enhanced fan-out consumer's ARN, resolved once per read in a
	// process, is dropped with the read's runs.
	for consumersHeld() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
	if n := consumersHeld(); n != 0 {
		t.Errorf("the consumer ARNs of %d reads are still held after the pipeline ended", n)
	}
}

// consumersHeld counts the reads whose consumer ARN this process holds.
func consumersHeld() int { return readstate.Default.Consumers() }
