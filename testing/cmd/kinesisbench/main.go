// Command kinesisbench measures kinesisio against the in-process Kinesis
// server (testing/fakekinesis), each figure next to a baseline measured in
// the same run, and draws the figures of docs/performance.md:
//
//  1. read:    catch-up from TRIM_HORIZON (100 B and 10 KiB records; 1, 4
//     and 16 shards): Read (polling, unpaced, fan-out) vs bare
//     aws-sdk-go-v2 GetRecords and SubscribeToShard loops;
//  2. cpu:     CPU per record by part, Read (unpaced) vs the bare loop;
//  3. latency: PutRecords to the record leaving Read, polling vs fan-out;
//  4. startup: beam.Run to the first record vs a trivial pipeline;
//  5. scale:   64, 256 and 1,024 shards at 10 records/s each, and 1,024
//     idle shards, quotas on: lag, CPU, calls per shard, RSS per shard;
//  6. write:   kinesisio.Write vs a bare PutRecords loop.
//
// Every figure is a set of rows of one table of scenarios (scenarios),
// each measured by one runner (runScenario); the figures only present
// the results (figures).
//
// Usage, from this directory (a module of its own):
//
//	go run . [--only=read,cpu,latency,startup,scale,write] [--plots=DIR]
//	    [--fanout=false] [--unfused-sink] [--smoke] [size flags]
//
// It prints each figure as a Markdown table, with the machine and the load
// average; --plots writes its pictures (SVG) to DIR. It never asserts a
// timing: it exits 1 only when records are missing or read twice or a
// pipeline fails (2 for bad flags). --smoke runs every figure with tiny
// sizes in about a minute; CI runs it as a test (TestSmoke).
//
// Prism v2.77 busy-waits a core during every bundle of a stage without
// outputs, which Read fused with the terminal counting DoFn is;
// --unfused-sink gives the counting DoFn an output in another stage.
//
// Everything runs in this process: the server, Prism (LOOPBACK), the bare
// loops and the producers. Without AWS credentials in the environment it
// sets placeholders (the server does not check signatures).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

// config is the command line.
type config struct {
	only                  map[string]bool
	smoke, fanOut         bool
	unfused               bool
	plots, profiles       string
	plotExt               string
	logLevel              string
	sizes, shards         []int
	readKiB, cpuRecords   int
	latencyRate, writeN   int
	scaleShards, idle     []int
	scaleRate             float64
	latencyDur, scaleDur  time.Duration
	startupRuns, startupN int
}

// scenarios is the table of every measurement, in the order they run.
func scenarios(c *config) []scenario {
	var t []scenario
	add := func(sc scenario, readers ...reader) {
		for _, r := range readers {
			if c.fanOut || (r != fanOut && r != bareSub) {
				sc.r = r
				t = append(t, sc)
			}
		}
	}
	for _, size := range c.sizes {
		for _, shards := range c.shards {
			perShard := int64(c.readKiB) << 10 * int64(1+2*min(size/1024, 1)) // 3x for records of 1 KiB and more
			add(scenario{fig: "read", shards: shards, size: size, n: perShard * int64(shards) / int64(size)}, bareGet, polling, unpaced, bareSub, fanOut)
		}
	}
	add(scenario{fig: "cpu", shards: 4, size: 100, n: int64(c.cpuRecords), profile: true, steady: true}, bareGet, unpaced)
	add(scenario{fig: "latency", shards: 4, size: 100, rate: float64(c.latencyRate) / 4, dur: c.latencyDur}, polling, fanOut)
	for range c.startupRuns {
		add(scenario{fig: "startup", shards: 4, size: 100, n: int64(c.startupN)}, trivial, polling)
	}
	for _, shards := range c.scaleShards {
		add(scenario{fig: "scale", shards: shards, size: 100, rate: c.scaleRate, dur: c.scaleDur, quotas: true, profile: true}, polling, fanOut)
	}
	for _, shards := range c.idle {
		add(scenario{fig: "scale", shards: shards, size: 100, dur: c.scaleDur, quotas: true, profile: true}, polling, fanOut)
	}
	for _, k := range []int{1, 4} {
		add(scenario{fig: "write", shards: 4, size: 100, n: int64(c.writeN), inFlight: k}, barePut, write)
	}
	return slices.DeleteFunc(t, func(sc scenario) bool { return !c.only[sc.fig] })
}

// intsFlag is a comma-separated list of positive integers.
type intsFlag struct{ p *[]int }

func (f intsFlag) String() string {
	if f.p == nil {
		return ""
	}
	return strings.Trim(strings.Join(strings.Fields(fmt.Sprint(*f.p)), ","), "[]")
}

func (f intsFlag) Set(s string) error {
	*f.p = nil
	for field := range strings.SplitSeq(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(field))
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", field)
		}
		*f.p = append(*f.p, n)
	}
	return nil
}

// usageError is a bad command line.
type usageError struct{ error }

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{sizes: []int{100, 10240}, shards: []int{1, 4, 16}, scaleShards: []int{64, 256, 1024}, idle: []int{1024}}
	fs := flag.NewFlagSet("kinesisbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(figureNames(), ","), "figures to run, comma-separated")
	fs.BoolVar(&c.smoke, "smoke", false, "tiny sizes and durations, for CI; explicit flags still win")
	fs.BoolVar(&c.fanOut, "fanout", true, "also run read, latency and scale with enhanced fan-out (a consumer per run)")
	fs.BoolVar(&c.unfused, "unfused-sink", false, "give the counting DoFn an output consumed in another stage (no Prism busy loop)")
	fs.StringVar(&c.plots, "plots", "", "write the figures' pictures (SVG) to this directory")
	fs.StringVar(&c.plotExt, "plot-format", "svg", "format of the pictures: svg, png or pdf")
	fs.StringVar(&c.profiles, "cpuprofiles", "", "write the CPU profiles of the cpu and scale runs to this directory (go tool pprof)")
	fs.StringVar(&c.logLevel, "log_level", "error", "Beam's and Prism's log level: debug, info, warn or error")
	fs.Var(intsFlag{&c.sizes}, "sizes", "read: record sizes, bytes")
	fs.Var(intsFlag{&c.shards}, "shards", "read: shard counts")
	fs.IntVar(&c.readKiB, "read-kib", 8192, "read: KiB of records per shard (x3 for records of 1 KiB and more)")
	fs.IntVar(&c.cpuRecords, "cpu-records", 2000000, "cpu: records on 4 shards (CPU measured while the server returns the 20% to 80% of them: the steady state)")
	fs.IntVar(&c.latencyRate, "latency-rate", 1000, "latency: producer records/s on 4 shards")
	fs.DurationVar(&c.latencyDur, "latency-duration", 10*time.Second, "latency: how long the producer runs")
	fs.IntVar(&c.startupRuns, "startup-runs", 3, "startup: runs of each pipeline")
	fs.IntVar(&c.startupN, "startup-records", 1000, "startup: records in the stream")
	fs.Var(intsFlag{&c.scaleShards}, "scale-shards", "scale: shard counts with a producer")
	fs.Var(intsFlag{&c.idle}, "idle-shards", "scale: shard counts left idle")
	fs.Float64Var(&c.scaleRate, "scale-rate", 10, "scale: producer records/s per shard")
	fs.DurationVar(&c.scaleDur, "scale-duration", 20*time.Second, "scale: how long the producer runs")
	fs.IntVar(&c.writeN, "write-records", 1000000, "write: records")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Errorf("unexpected arguments %q", fs.Args())}
	}
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	smoke := map[string]string{"shards": "1,4", "read-kib": "200", "cpu-records": "20000", "latency-duration": "2s", "latency-rate": "200",
		"startup-runs": "1", "startup-records": "100", "scale-shards": "16", "idle-shards": "16", "scale-duration": "3s", "write-records": "5000"}
	for name, v := range smoke {
		if c.smoke && !set[name] {
			if err := fs.Set(name, v); err != nil {
				return nil, err
			}
		}
	}
	c.only = map[string]bool{}
	for _, f := range strings.Split(*only, ",") {
		if !slices.Contains(figureNames(), f) {
			return nil, usageError{fmt.Errorf("--only: unknown figure %q (figures: %s)", f, strings.Join(figureNames(), ", "))}
		}
		c.only[f] = true
	}
	for _, s := range append([]int{c.readKiB, c.cpuRecords, c.latencyRate, c.writeN, c.startupN, c.startupRuns}, c.sizes...) {
		if s <= 0 {
			return nil, usageError{fmt.Errorf("sizes and counts must be positive")}
		}
	}
	if slices.ContainsFunc(c.sizes, func(s int) bool { return s < headerLen || s > 1<<20-64 }) {
		return nil, usageError{fmt.Errorf("record sizes must be between %d B and 1 MiB - 64 B", headerLen)}
	}
	if c.latencyDur <= 0 || c.scaleDur <= 0 || c.scaleRate < 0 {
		return nil, usageError{fmt.Errorf("durations and rates must be positive")}
	}
	return c, nil
}

// benchRun is one run of the command.
type benchRun struct {
	c       *config
	jobs    jobpb.JobServiceClient
	seq     atomic.Int64
	fx      *fixture // the last catch-up scenario's server and stream
	results []*result
	stderr  io.Writer
}

var prismJobs = struct {
	once sync.Once
	jobs jobpb.JobServiceClient
	err  error
}{}

// run runs the selected scenarios and prints the figures; failures of
// scenarios are returned, joined, after every figure is printed.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	prismJobs.once.Do(func() {
		if os.Getenv("AWS_ACCESS_KEY_ID") == "" && os.Getenv("AWS_SECRET_ACCESS_KEY") == "" {
			os.Setenv("AWS_ACCESS_KEY_ID", "kinesisbench")
			os.Setenv("AWS_SECRET_ACCESS_KEY", "kinesisbench")
		}
		if os.Getenv("AWS_EC2_METADATA_DISABLED") == "" {
			os.Setenv("AWS_EC2_METADATA_DISABLED", "true")
		}
		if !beam.Initialized() {
			beam.Init()
		}
		beamlog.SetupLogging(strings.ToLower(c.logLevel), "text")
		prismJobs.jobs, prismJobs.err = prismrun.Start(ctx)
	})
	if prismJobs.err != nil {
		return prismJobs.err
	}
	b := &benchRun{c: c, jobs: prismJobs.jobs, stderr: stderr}
	defer func() { b.fx.close() }()
	fmt.Fprintf(stdout, "kinesisbench %s\n\nMachine: %s. Load average at the start: %s.\n\n", strings.Join(args, " "), machine(), loadAvg())
	var failures []error
	start := time.Now()
	for _, sc := range scenarios(c) {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		t0 := time.Now()
		res, err := b.runScenario(ctx, sc)
		if err != nil {
			failures = append(failures, fmt.Errorf("%v: %w", sc, err))
			fmt.Fprintf(stderr, "[%s] %v: FAILED: %v\n", time.Now().Format(time.TimeOnly), sc, err)
			continue
		}
		b.results = append(b.results, res)
		steady := ""
		if res.counted > 0 {
			steady = fmt.Sprintf("; steady window %v: %d records received, %d fetched", res.window.Round(time.Millisecond), res.counted, res.fetched)
		}
		fmt.Fprintf(stderr, "[%s] %v: %v (load %s)%s\n", time.Now().Format(time.TimeOnly), sc, time.Since(t0).Round(time.Millisecond), loadAvg(), steady)
	}
	fmt.Fprintf(stderr, "all scenarios done in %v; load average %s\n", time.Since(start).Round(time.Second), loadAvg())
	if err := b.report(stdout); err != nil {
		failures = append(failures, err)
	}
	return errors.Join(failures...)
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	switch {
	case errors.Is(err, flag.ErrHelp):
	case errors.As(err, new(usageError)):
		fmt.Fprintln(os.Stderr, "kinesisbench:", err)
		os.Exit(2)
	case err != nil:
		fmt.Fprintln(os.Stderr, "kinesisbench:", err)
		os.Exit(1)
	}
}
