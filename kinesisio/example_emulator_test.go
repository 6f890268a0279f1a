package kinesisio_test

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// Read a stream of kinesalite, started on a loopback port, to its end on
// Prism. (Credentials come from the environment: the emulator accepts
// any.)
func Example() {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	emu, err := emulators.Start(ctx, emulators.Kinesalite)
	if err != nil {
		fmt.Println(err)
		return
	}
	defer emu.Stop()
	client := kinesistest.NewClient(emu.Endpoint)
	if _, err := kinesistest.CreateStream(ctx, client, "example", 2); err != nil {
		fmt.Println(err)
		return
	}
	if _, err := kinesistest.PutRecords(ctx, client, "example", [][]byte{[]byte("alpha"), []byte("beta"), []byte("gamma")}); err != nil {
		fmt.Println(err)
		return
	}

	p, s := beam.NewPipelineWithRoot()
	records := kinesisio.Read(s, "example",
		kinesisio.Connection{Endpoint: emu.Endpoint, Region: "us-east-1"},
		kinesisio.WithStopAtLatest())
	got := collect(s, records)
	if err := ptest.Run(p); err != nil {
		fmt.Println(err)
		return
	}
	for _, d := range sortedData(got()) {
		fmt.Println(d)
	}
	// Output:
	// alpha
	// beta
	// gamma
}
