package kinesisio_test

import (
	"errors"
	"flag"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

// onDirectRunner runs f with --runner=direct, then restores the flag.
func onDirectRunner(t *testing.T, f func()) {
	t.Helper()
	prev := flag.Lookup("runner").Value.String()
	if err := flag.Set("runner", "direct"); err != nil {
		t.Fatal(err)
	}
	defer flag.Set("runner", prev)
	f()
}

func TestUnboundedReadIsRefusedOnDirectRunner(t *testing.T) {
	onDirectRunner(t, func() {
		_, s := beam.NewPipelineWithRoot()
		_, err := kinesisio.TryRead(s, "orders")
		if !errors.Is(err, kinesisio.ErrInvalidOption) {
			t.Fatalf("TryRead on the direct runner = %v, want ErrInvalidOption", err)
		}
		for _, want := range []string{"direct runner", "Prism", "WithStopAtLatest"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

func TestBoundedReadOnDirectRunner(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 3)
	puts := e.putPerShard(t, 100, "direct")
	onDirectRunner(t, func() {
		p, s := beam.NewPipelineWithRoot()
		got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest())...))
		run(t, p)
		checkExactlyOnce(t, got(), puts)
	})
}
