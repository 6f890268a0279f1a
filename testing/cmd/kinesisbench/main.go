// Command kinesisbench measures kinesisio against the in-process Kinesis
// server (testing/fakekinesis), each figure next to a baseline measured in
// the same run:
//
//  1. read:    Read throughput (records/s, MB/s) for 100 B and 10 KiB
//     records on 1, 4 and 16 shards, kinesisio.Read on Prism vs a bare
//     aws-sdk-go-v2 GetRecords loop (one goroutine per shard), whole job
//     and first to last record; also vs the same loop paced to the
//     per-shard quota;
//  2. cpu:     CPU per record of Read vs the bare loop (getrusage and a CPU
//     profile split by goroutine label and stack), top functions;
//  3. latency: PutRecords to the record leaving Read (p50/p99) while a
//     producer writes 1,000 records/s on 4 shards, polling defaults;
//  4. startup: job start to first record vs Prism's own start-up for a
//     trivial pipeline;
//  5. scale:   64 and 256 shards on one worker with quotas on and a
//     producer at 100 records/s per shard: lag, GetRecords calls per shard
//     per second, RSS per shard;
//  6. write:   kinesisio.Write vs a bare PutRecords loop (batches of 500).
//
// With --fanout (the default) figures 1, 3 and 5 also run every case with
// enhanced fan-out (WithEnhancedFanOut, a consumer of its own per run,
// registered by the job) right after polling, on the same data or
// producer, and compare the two: 1c catch-up per shard from TRIM_HORIZON
// (also against a bare SubscribeToShard loop), 3b put-to-emit latency,
// 5g CPU per record on one worker (5h and 5i: where it goes).
//
// Usage:
//
//	go run ./testing/cmd/kinesisbench [--only=read,cpu,latency,startup,scale,write]
//	    [--fanout=false] [--smoke] [--markdown] [--cpuprofile=FILE] [size and duration flags]
//
// It never asserts a timing: it exits 1 only when records are missing or
// read twice, or a pipeline fails (2 for bad flags). --smoke runs every
// figure with tiny sizes in well under a minute, for CI. --markdown also
// prints the tables as Markdown, with a description of the machine, ready
// for docs/performance.md. --cpuprofile and --memprofile keep the
// profiles; --read-quotas runs figure 1 with the server's quotas on.
//
// Prism v2.77 busy-waits (stage.Execute selects on an already closed
// channel) for the whole of every bundle of a stage without outputs, which
// the natural benchmark shape, Read fused with a terminal counting DoFn,
// is. That costs up to a core of the two the figures were first measured
// on; --unfused-sink gives the counting DoFn an output in another stage,
// which avoids most of it, to separate Prism's cost from the connector's.
//
// Everything runs in this process: the Kinesis server, Prism (LOOPBACK),
// the bare loops and the producers. When AWS_ACCESS_KEY_ID and
// AWS_SECRET_ACCESS_KEY are both unset, it sets placeholder values for the
// connector's default credential chain (the server does not check
// signatures); credentials are never printed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	rep, err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	var usage usageError
	switch {
	case errors.Is(err, flag.ErrHelp):
		os.Exit(0)
	case errors.As(err, &usage):
		fmt.Fprintln(os.Stderr, "kinesisbench:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "kinesisbench:", err)
		os.Exit(1)
	case len(rep.Failures) > 0:
		fmt.Fprintf(os.Stderr, "kinesisbench: %d functional failure(s):\n", len(rep.Failures))
		for _, f := range rep.Failures {
			fmt.Fprintln(os.Stderr, "  -", f)
		}
		os.Exit(1)
	}
}
