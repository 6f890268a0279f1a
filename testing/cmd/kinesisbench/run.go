package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// figures in the order they run. Each but scale (a server per case) gets
// a new in-process server, quotas off (the read figure sets them per run),
// and a client of it.
var figures = []struct {
	name   string
	server bool
	run    func(*benchRun, context.Context, *fakekinesis.Server, *kinesis.Client) error
}{
	{"read", true, (*benchRun).figRead},
	{"cpu", true, (*benchRun).figCPU},
	{"latency", true, (*benchRun).figLatency},
	{"startup", true, (*benchRun).figStartup},
	{"scale", false, (*benchRun).figScale},
	{"write", true, (*benchRun).figWrite},
}

// runFigure runs figure i.
func (b *benchRun) runFigure(ctx context.Context, i int) error {
	if !figures[i].server {
		return figures[i].run(b, ctx, nil, nil)
	}
	srv, client, err := newServerClient(false)
	if err != nil {
		return err
	}
	defer srv.Close()
	return figures[i].run(b, ctx, srv, client)
}

// figureNames are the names of the figures, in order.
var figureNames = func() (names []string) {
	for _, f := range figures {
		names = append(names, f.name)
	}
	return names
}()

// usageError is a bad command line.
type usageError struct{ error }

// config is the parsed command line.
type config struct {
	only       map[string]bool
	smoke      bool
	markdown   bool
	cpuProfile string
	memProfile string
	logLevel   string
	verbose    bool
	// unfusedSink gives the counting DoFn an unused output in another
	// stage, so that the Read's stage is not terminal (see addSink).
	unfusedSink bool
	// fanOut also runs the read, latency and scale cases with enhanced
	// fan-out (a consumer per run), next to polling.
	fanOut bool

	// 1. read
	sizes             []int
	shards            []int
	readBytesPerShard int64
	pacedBaseline     bool
	readBound         string
	readQuotas        bool
	unpacedRead       bool

	// 2. cpu
	cpuSize, cpuShards, cpuRecords, topN int

	// 3. latency
	latencyRates    []int
	latencyDuration time.Duration
	latencyShards   int
	latencySize     int

	// 4. startup
	startupRuns, startupRecords, startupShards int

	// 5. scale
	scaleShards   []int
	scaleRate     int
	scaleDuration time.Duration
	scaleSize     int
	scaleWindow   time.Duration
	scaleWorkers  int
	scaleProfile  bool
	scaleIdle     time.Duration // idle window measured before the producer, 0 = none

	// 6. write
	writeRecords, writeSize, writeShards, writeKeys int
}

// report is what a run found. Only the goroutine running the figures
// (one at a time) uses it.
type report struct {
	Tables   []*bench.Table
	Failures []string
	// Targets holds the measured values the summary compares with the
	// performance targets, by name.
	Targets map[string]float64
}

func (r *report) fail(format string, args ...any) {
	r.Failures = append(r.Failures, fmt.Sprintf(format, args...))
}

func (r *report) target(name string, v float64) { r.Targets[name] = v }

// parseSize reads an integer with an optional k/K (x1000), KiB (x1024),
// M (x1e6) or MiB suffix.
func parseSize(s string) (int64, error) {
	mult := int64(1)
	for _, suf := range []struct {
		s string
		m int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"k", 1000}, {"K", 1000}, {"M", 1000000}} {
		if rest, ok := strings.CutSuffix(s, suf.s); ok {
			s, mult = rest, suf.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n * mult, err
}

// sizesFlag is a flag of comma-separated positive integers, each with
// parseSize's suffixes: a list, or with one set, a single value.
type sizesFlag struct {
	list *[]int
	one  *int64
}

func (f sizesFlag) String() string {
	if f.one != nil && *f.one != 0 {
		return strconv.FormatInt(*f.one, 10)
	}
	var s []string
	if f.list != nil {
		for _, n := range *f.list {
			s = append(s, strconv.Itoa(n))
		}
	}
	return strings.Join(s, ",")
}

func (f sizesFlag) Set(s string) error {
	var out []int
	for field := range strings.SplitSeq(s, ",") {
		if field = strings.TrimSpace(field); field == "" {
			continue
		}
		n, err := parseSize(field)
		if err != nil || n <= 0 {
			return fmt.Errorf("%q is not a positive integer", field)
		}
		out = append(out, int(n))
	}
	switch {
	case len(out) == 0:
		return fmt.Errorf("empty list")
	case f.one == nil:
		*f.list = out
	case len(out) > 1:
		return fmt.Errorf("%q is not one size", s)
	default:
		*f.one = int64(out[0])
	}
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*config, error) {
	c := &config{
		sizes:             []int{100, 10240},
		shards:            []int{1, 4, 16},
		readBytesPerShard: 0, // auto: see readBytes
		latencyRates:      []int{1000, 40},
		scaleShards:       []int{64, 256},
	}
	fs := flag.NewFlagSet("kinesisbench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	only := fs.String("only", strings.Join(figureNames, ","), "figures to run, comma-separated: "+strings.Join(figureNames, ", "))
	fs.BoolVar(&c.smoke, "smoke", false, "tiny sizes and durations (under a minute), for CI; explicit flags still win")
	fs.BoolVar(&c.markdown, "markdown", false, "also print the tables as Markdown, with the machine described, for docs/performance.md")
	fs.StringVar(&c.cpuProfile, "cpuprofile", "", "write CPU profiles: the cpu figure's Read run to FILE, its bare loop to FILE.bare, the scale figure's producer windows to FILE.scale-SHARDS (idle windows to FILE.scale-SHARDS-idle), the default Write run to FILE.write")
	fs.StringVar(&c.memProfile, "memprofile", "", "scale figure: write the heap profile taken while reading to FILE.scale-SHARDS")
	fs.StringVar(&c.logLevel, "log_level", "error", "level of Beam's and Prism's logs on stderr: debug, info, warn or error")
	fs.BoolVar(&c.verbose, "v", false, "print progress details on stderr")
	fs.BoolVar(&c.unfusedSink, "unfused-sink", false, "give the counting DoFn after Read an output (never used) consumed in another stage: Prism v2.77 busy-waits a core during every bundle of a stage without outputs, which the default shape (Read fused with a terminal counting DoFn) triggers")

	fs.BoolVar(&c.fanOut, "fanout", true, "read, latency, scale: also run every case with enhanced fan-out (WithEnhancedFanOut(ConsumerName(...)), a consumer per run, registered by the job) right after polling, and compare the two")

	fs.Var(sizesFlag{list: &c.sizes}, "sizes", "read: record sizes in bytes (suffixes k, KiB)")
	fs.Var(sizesFlag{list: &c.shards}, "shards", "read: shard counts")
	fs.Var(sizesFlag{one: &c.readBytesPerShard}, "read-bytes-per-shard", "read: bytes of records put on each shard (suffixes k, KiB, M, MiB; default 8 MiB for records under 1 KiB, else 24 MiB: at least 3 calls of 10 MiB per shard)")
	fs.BoolVar(&c.pacedBaseline, "paced-baseline", true, "read: also run the bare loop paced as the connector paces itself (5 calls/s and 2 MiB/s per shard)")
	fs.BoolVar(&c.unpacedRead, "unpaced-read", true, "read: also run Read with WithQuotaPacing(0), like for like with the free-running bare loop")
	fs.BoolVar(&c.readQuotas, "read-quotas", false, "read: the server enforces the per-shard quotas (5 GetRecords/s, 2 MiB/s); the bare loop backs off 200 ms when throttled")
	fs.StringVar(&c.readBound, "read-bound", "stop", "read: how the Read is bounded: stop (WithStopAtLatest) or max (WithMaxRecords)")

	fs.IntVar(&c.cpuSize, "cpu-size", 100, "cpu: record size in bytes")
	fs.IntVar(&c.cpuShards, "cpu-shards", 4, "cpu: shards")
	fs.IntVar(&c.cpuRecords, "cpu-records", 400000, "cpu: records")
	fs.IntVar(&c.topN, "top", 20, "cpu, scale, write: functions listed in the profile tables")

	fs.Var(sizesFlag{list: &c.latencyRates}, "latency-rates", "latency: producer rates in records/s (all shards together), one run each")
	fs.DurationVar(&c.latencyDuration, "latency-duration", 10*time.Second, "latency: how long the producer writes")
	fs.IntVar(&c.latencyShards, "latency-shards", 4, "latency: shards")
	fs.IntVar(&c.latencySize, "latency-size", 100, "latency: record size in bytes")

	fs.IntVar(&c.startupRuns, "startup-runs", 3, "startup: runs of each pipeline")
	fs.IntVar(&c.startupRecords, "startup-records", 1000, "startup: records in the stream before the job starts")
	fs.IntVar(&c.startupShards, "startup-shards", 4, "startup: shards")

	fs.Var(sizesFlag{list: &c.scaleShards}, "scale-shards", "scale: shard counts (quotas on)")
	fs.IntVar(&c.scaleRate, "scale-rate", 100, "scale: producer records/s per shard")
	fs.DurationVar(&c.scaleDuration, "scale-duration", 20*time.Second, "scale: how long the producer writes")
	fs.IntVar(&c.scaleSize, "scale-size", 100, "scale: record size in bytes")
	fs.DurationVar(&c.scaleWindow, "scale-window", 5*time.Second, "scale: width of the lag windows")
	fs.IntVar(&c.scaleWorkers, "scale-producers", 8, "scale: PutRecords calls the producer keeps in flight")
	fs.BoolVar(&c.scaleProfile, "scale-profile", true, "scale: profile the CPU while the producer runs and print where it goes")
	fs.DurationVar(&c.scaleIdle, "scale-idle", 0, "scale: also measure the idle stream (no producer) for this long, after 5 s of settling, before the producer starts (table 5j); 0 = off")

	fs.IntVar(&c.writeRecords, "write-records", 1000000, "write: records (a million: a run of a few seconds, so that the job's start is a small part of it)")
	fs.IntVar(&c.writeSize, "write-size", 100, "write: record size in bytes")
	fs.IntVar(&c.writeShards, "write-shards", 4, "write: shards")
	fs.IntVar(&c.writeKeys, "write-keys", 1024, "write: distinct partition keys")

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
	if c.smoke {
		smoke := map[string]string{
			"sizes": "100,10240", "shards": "1,4", "read-bytes-per-shard": "200000",
			"cpu-records": "20000", "top": "10",
			"latency-rates": "200", "latency-duration": "2s",
			"startup-runs": "1", "startup-records": "100",
			"scale-shards": "16", "scale-rate": "50", "scale-duration": "3s", "scale-window": "1s",
			"write-records": "5000",
		}
		for name, v := range smoke {
			if !set[name] {
				if err := fs.Set(name, v); err != nil {
					return nil, err
				}
			}
		}
	}
	c.only = map[string]bool{}
	for f := range strings.SplitSeq(*only, ",") {
		switch f = strings.TrimSpace(f); {
		case f == "":
		case f == "all":
			for _, n := range figureNames {
				c.only[n] = true
			}
		case slices.Contains(figureNames, f):
			c.only[f] = true
		default:
			return nil, usageError{fmt.Errorf("--only: unknown figure %q (figures: %s)", f, strings.Join(figureNames, ", "))}
		}
	}
	if len(c.only) == 0 {
		return nil, usageError{fmt.Errorf("--only selects no figure")}
	}
	if c.readBound != "stop" && c.readBound != "max" {
		return nil, usageError{fmt.Errorf("--read-bound must be stop or max, not %q", c.readBound)}
	}
	for _, s := range append([]int{c.cpuSize, c.latencySize, c.scaleSize, c.writeSize}, c.sizes...) {
		if s < headerLen || s > 1<<20-64 {
			return nil, usageError{fmt.Errorf("record sizes must be between %d B and 1 MiB - 64 B, not %d", headerLen, s)}
		}
	}
	for _, n := range []int{c.cpuShards, c.cpuRecords, c.topN, c.latencyShards, c.startupRuns, c.startupRecords, c.startupShards, c.scaleRate, c.scaleWorkers, c.writeRecords, c.writeShards, c.writeKeys} {
		if n <= 0 {
			return nil, usageError{fmt.Errorf("counts must be positive")}
		}
	}
	for _, d := range []time.Duration{c.latencyDuration, c.scaleDuration, c.scaleWindow} {
		if d <= 0 || d > time.Hour {
			return nil, usageError{fmt.Errorf("durations must be in (0, 1h]")}
		}
	}
	switch strings.ToLower(c.logLevel) {
	case "debug", "info", "warn", "error":
	default:
		return nil, usageError{fmt.Errorf("--log_level %q is not debug, info, warn or error", c.logLevel)}
	}
	return c, nil
}

// readBytes is how many bytes of records of size the read figure puts on
// each shard.
func (c *config) readBytes(size int) int64 {
	switch {
	case c.readBytesPerShard > 0:
		return c.readBytesPerShard
	case size < 1024:
		return 8 << 20
	}
	return 24 << 20
}

// run runs the selected figures, printing each table on stdout as it is
// done (and all of them again as Markdown at the end with --markdown) and
// progress on stderr. It returns an error when it could not measure at
// all; missing or duplicated records and failed pipelines are in the
// report's Failures.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) (*report, error) {
	c, err := parseFlags(args, stderr)
	if err != nil {
		return nil, err
	}
	b, err := newBench(ctx, c, stdout, stderr)
	if err != nil {
		return nil, err
	}
	machine := bench.Machine("github.com/apache/beam/sdks/v2", "github.com/aws/aws-sdk-go-v2/service/kinesis")
	shape := "Read fused with a terminal counting DoFn (Prism v2.77 busy-waits a core during each bundle of such a stage; --unfused-sink avoids it)"
	if c.unfusedSink {
		shape = "--unfused-sink: the counting DoFn after Read has an unused output consumed in another stage, so Prism does not busy-wait during the Read's bundles"
	}
	fmt.Fprintf(stdout, "kinesisbench %s\nMachine: %s\nPipeline shape: %s\n\n", strings.Join(args, " "), machine, shape)
	start := time.Now()
	for i, s := range figures {
		if !c.only[s.name] {
			continue
		}
		if err := ctx.Err(); err != nil {
			return b.rep, err
		}
		t0 := time.Now()
		b.progress("== figure %s", s.name)
		if err := b.runFigure(ctx, i); err != nil {
			b.rep.fail("figure %s: %v", s.name, err)
			b.progress("figure %s failed: %v", s.name, err)
		}
		b.progress("== figure %s done in %v", s.name, time.Since(t0).Round(time.Millisecond))
	}
	if t := b.targetsTable(); t != nil {
		b.emit(t)
	}
	b.progress("all figures done in %v", time.Since(start).Round(time.Millisecond))
	if c.markdown {
		fmt.Fprintf(stdout, "---- Markdown ----\n\n")
		fmt.Fprintf(stdout, "Machine: %s. Command: `go run ./testing/cmd/kinesisbench %s`. Against the in-process server (`testing/fakekinesis`); every ratio is against a baseline measured in the same run. Pipeline shape: %s.\n\n",
			machine, strings.Join(args, " "), shape)
		for _, t := range b.rep.Tables {
			t.WriteMarkdown(stdout)
		}
	}
	if len(b.rep.Failures) > 0 {
		fmt.Fprintf(stdout, "FUNCTIONAL FAILURES (%d):\n", len(b.rep.Failures))
		for _, f := range b.rep.Failures {
			fmt.Fprintf(stdout, "  - %s\n", f)
		}
	}
	return b.rep, nil
}
