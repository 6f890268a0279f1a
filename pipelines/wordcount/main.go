// Command wordcount counts the words of a Kinesis data stream in fixed
// event-time windows with Apache Beam and prints each window's counts when
// the window closes.
//
// With no flags it is a self-contained demo: it starts an in-process fake
// Kinesis server on loopback, creates a 4-shard stream, puts 100 records a
// second of 3 random words for 10 seconds, counts them on Prism (the
// in-process runner), prints each 2-second window and a status line once a
// second, and checks at the end that every word put was counted:
//
//	go run ./pipelines/wordcount
//
// With --stream it reads that stream, on any runner (the stream's shards
// are discovered; credentials come from the workers' AWS default chain):
//
//	go run ./pipelines/wordcount --stream words --kinesis_region eu-west-1
//	go run ./pipelines/wordcount --stream words --kinesis_endpoint http://localhost:4567
//	wordcount --stream words --runner flink --endpoint localhost:8099 ...
//
// Beam defines --endpoint (the job service) and --region (Dataflow's), so
// the Kinesis endpoint and region flags are --kinesis_endpoint and
// --kinesis_region.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/cliflags"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
	"github.com/kinesisio/beam-kinesis/transforms/dedup"
)

// ownFlags holds the command's own flags. main adds them to Beam's
// (flag.CommandLine) before parsing, and usage lists every one of them.
var ownFlags = flag.NewFlagSet("wordcount", flag.ContinueOnError)

// Flags of both modes.
var (
	windowSize = ownFlags.Duration("window", 2*time.Second, "size of the fixed event-time windows")
	output     = ownFlags.String("output", "", "append each window's counts to this file (on the worker's filesystem) instead of printing them")
	logLevel   = ownFlags.String("log_level", "", "level of Beam's and Prism's logs on stderr: debug, info, warn or error (default: warn for the demo, info with --stream)")
)

// Flags of the pipeline on a real stream.
var (
	stream      = ownFlags.String("stream", "", "Kinesis stream name or ARN to read; without it, run the self-contained demo on an in-process fake Kinesis")
	kRegion     = ownFlags.String("kinesis_region", "", "AWS region of the stream (default: from a stream ARN, else the workers' AWS_REGION or profile)")
	kEndpoint   = ownFlags.String("kinesis_endpoint", "", "Kinesis endpoint URL, e.g. http://localhost:4567 for kinesalite (default: the region's AWS endpoint)")
	start       = ownFlags.String("start", "trim_horizon", "where to start in each shard: trim_horizon, latest, or an RFC 3339 time such as 2025-06-01T12:00:00Z")
	maxRecords  = ownFlags.Int64("max_records", 0, "stop after reading this many records (0: no limit)")
	maxReadTime = ownFlags.Duration("max_read_time", 0, "stop reading this long after the job starts (0: no limit)")

	ckptApp      = ownFlags.String("checkpoint_app", "", "keep each shard's position under this application name, and resume from it when run again (needs --checkpoint_dir or --checkpoint_table)")
	ckptDir      = ownFlags.String("checkpoint_dir", "", "with --checkpoint_app: keep positions in files under this directory (one machine)")
	ckptTable    = ownFlags.String("checkpoint_table", "", "with --checkpoint_app: keep positions in this DynamoDB table, created when absent")
	ckptRegion   = ownFlags.String("checkpoint_region", "", "AWS region of --checkpoint_table (default: the workers' AWS_REGION or profile)")
	ckptEndpoint = ownFlags.String("checkpoint_endpoint", "", "DynamoDB endpoint URL of --checkpoint_table, e.g. http://localhost:4569 for dynalite")
	commitEvery  = ownFlags.Duration("commit_interval", 0, "with --checkpoint_app: how often each shard's position is written at most (0: the connector's default, 10s)")
)

// Flags of the demo (no --stream).
var (
	rate           = ownFlags.Float64("rate", 100, "demo: records put per second")
	wordsPerRecord = ownFlags.Int("words_per_record", 3, "demo: words in each record")
	duration       = ownFlags.Duration("duration", 10*time.Second, "demo: how long the producer runs")
	shardCount     = ownFlags.Int("shards", 4, "demo: shards of the in-process stream")
	seed           = ownFlags.Uint64("seed", 1, "demo: seed of the random words and partition keys")
	forever        = ownFlags.Bool("forever", false, "demo: produce and count until interrupted (Ctrl-C) instead of for --duration")
)

// Which flags belong to one mode only.
var (
	streamOnlyFlags = []string{"kinesis_region", "kinesis_endpoint", "start", "max_records", "max_read_time", "checkpoint_app", "checkpoint_dir", "checkpoint_table", "checkpoint_region", "checkpoint_endpoint", "commit_interval"}
	demoOnlyFlags   = []string{"rate", "words_per_record", "duration", "shards", "seed", "forever"}
)

func main() {
	ownFlags.VisitAll(func(f *flag.Flag) { flag.CommandLine.Var(f.Value, f.Name, f.Usage) })
	flag.Usage = usage
	flag.Parse()
	// In a worker process started by a runner, Init serves the worker and
	// exits; nothing below runs there.
	beam.Init()
	if err := setLogLevel(); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(2)
	}
	quietCancelLogs()

	ctx, stop := stopOnSignal()
	defer stop()
	var err error
	if *stream == "" {
		err = runDemo(ctx)
	} else {
		err = runStream(ctx)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		stop()
		os.Exit(1)
	}
}

// stopOnSignal returns a context that is done when the job is to be
// cancelled: at the first SIGINT (Ctrl-C) or SIGTERM, or, when the job
// can stop gracefully (graceful is set: --checkpoint_app), at the second:
// the first then asks the job to stop through its checkpoint store
// (kinesisio.RequestStop), and it ends by itself with every shard's
// position written. After the cancelling signal the default action is
// restored, so that one more kills the process. release restores it
// earlier.
func stopOnSignal() (ctx context.Context, release context.CancelFunc) {
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	ctx, cancel := context.WithCancel(context.Background())
	var once sync.Once
	release = func() {
		once.Do(func() {
			signal.Stop(sigs)
			cancel()
		})
	}
	go func() {
		for first := true; ; first = false {
			select {
			case <-ctx.Done():
				return
			case <-sigs:
			}
			stop := graceful.Load()
			if !first || stop == nil {
				if !first {
					fmt.Fprintln(os.Stderr, "wordcount: cancelling the job at once")
				}
				release()
				return
			}
			fmt.Fprintln(os.Stderr, "wordcount: stopping gracefully: every shard ends with its position written under --checkpoint_app, and the job ends by itself (within a few seconds); Ctrl-C again cancels at once")
			sctx, scancel := context.WithTimeout(ctx, 30*time.Second)
			err := (*stop)(sctx)
			scancel()
			if err != nil {
				fmt.Fprintf(os.Stderr, "wordcount: the graceful stop failed (%v): cancelling the job at once\n", err)
				release()
				return
			}
			stoppedGracefully.Store(true)
		}
	}()
	return ctx, release
}

var (
	// graceful asks the running job to stop through its checkpoint store;
	// nil without --checkpoint_app.
	graceful atomic.Pointer[func(context.Context) error]
	// stoppedGracefully is set once a graceful stop was asked for.
	stoppedGracefully atomic.Bool
)

// quietCancelLogs keeps the log records of a job's cancellation out of
// the log (prismrun.QuietCancel): Ctrl-C is a clean stop, and Prism would
// log the bundles it cuts short as failures. It must run before Prism
// starts, which keeps the logger it finds.
func quietCancelLogs() {
	slog.SetDefault(slog.New(prismrun.QuietCancel(slog.Default().Handler())))
}

// setLogLevel applies --log_level to Beam's logger (which beam.Init set
// up at info level).
func setLogLevel() error {
	level := *logLevel
	switch strings.ToLower(level) {
	case "":
		if *stream != "" {
			return nil
		}
		level = "warn" // the demo's own output is the point
	case "debug", "info", "warn", "error":
	default:
		return fmt.Errorf("--log_level %q is not debug, info, warn or error", level)
	}
	beamlog.SetupLogging(strings.ToLower(level), "text")
	return nil
}

func usage() {
	w := flag.CommandLine.Output()
	fmt.Fprint(w, `Usage:
  wordcount [demo flags]                   self-contained demo on an in-process fake Kinesis
  wordcount --stream NAME [flags]          count the words of a real stream (any Beam runner)

Beam's flags such as --runner, --endpoint, --environment_type are accepted too.
`)
	only := map[string]bool{}
	for _, name := range append(append([]string{}, streamOnlyFlags...), demoOnlyFlags...) {
		only[name] = true
	}
	var both []string
	ownFlags.VisitAll(func(f *flag.Flag) {
		if !only[f.Name] {
			both = append(both, f.Name)
		}
	})
	for _, section := range []struct {
		title string
		names []string
	}{
		{"Flags of both modes", both},
		{"Flags with --stream", streamOnlyFlags},
		{"Flags of the demo (without --stream)", demoOnlyFlags},
	} {
		fmt.Fprintf(w, "\n%s:\n", section.title)
		for _, name := range section.names {
			cliflags.Print(w, ownFlags.Lookup(name))
		}
	}
}

// setFlags returns the names of the flags given on the command line.
func setFlags() map[string]bool {
	set := map[string]bool{}
	flag.Visit(func(f *flag.Flag) { set[f.Name] = true })
	return set
}

// checkFlags rejects flags of the other mode, and a window that is not
// positive.
func checkFlags(demo bool) error {
	set := setFlags()
	wrong, why := demoOnlyFlags, "only for the demo (without --stream); to put words on a real stream use go run ./pipelines/wordcount/producer"
	if demo {
		wrong, why = streamOnlyFlags, "only with --stream (the demo reads its own in-process stream)"
	}
	var bad []string
	for _, name := range wrong {
		if set[name] {
			bad = append(bad, "--"+name)
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s: %s", strings.Join(bad, ", "), why)
	}
	if *windowSize <= 0 {
		return fmt.Errorf("--window %v is not positive", *windowSize)
	}
	return nil
}

// startPosition is where --start says every shard starts: TRIM_HORIZON
// (Read's default), LATEST, or AT_TIMESTAMP of at.
type startPosition struct {
	latest bool
	at     time.Time
}

// String names the position as Kinesis names iterator types.
func (p startPosition) String() string {
	switch {
	case p.latest:
		return "LATEST"
	case !p.at.IsZero():
		return "AT_TIMESTAMP(" + p.at.UTC().Format(time.RFC3339Nano) + ")"
	}
	return "TRIM_HORIZON"
}

// options returns the Read option of the position: none for TRIM_HORIZON.
func (p startPosition) options() []kinesisio.ReadOption {
	switch {
	case p.latest:
		return []kinesisio.ReadOption{kinesisio.WithStartAtLatest()}
	case !p.at.IsZero():
		return []kinesisio.ReadOption{kinesisio.WithStartAtTimestamp(p.at)}
	}
	return nil
}

// parseStart parses --start.
func parseStart(s string) (startPosition, error) {
	switch strings.ToLower(s) {
	case "trim_horizon":
		return startPosition{}, nil
	case "latest":
		return startPosition{latest: true}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return startPosition{}, fmt.Errorf("--start %q is not trim_horizon, latest or an RFC 3339 time: %w", s, err)
	}
	return startPosition{at: t}, nil
}

// streamReadOptions are the Read options the flags of the stream mode
// ask for.
func streamReadOptions() ([]kinesisio.ReadOption, error) {
	pos, err := parseStart(*start)
	if err != nil {
		return nil, err
	}
	opts := pos.options()
	opts = append(opts, kinesisio.Connection{Region: *kRegion, Endpoint: *kEndpoint})
	if *maxRecords != 0 {
		opts = append(opts, kinesisio.WithMaxRecords(*maxRecords))
	}
	if *maxReadTime != 0 {
		opts = append(opts, kinesisio.WithMaxReadTime(*maxReadTime))
	}
	ckpt, err := checkpointOptions()
	if err != nil {
		return nil, err
	}
	return append(opts, ckpt...), nil
}

// optionFlags names the flag that each kinesisio option of the stream
// mode is built from (WithCheckpoints: see flagError).
var optionFlags = map[string]string{
	"stream":               "stream",
	"Connection":           "kinesis_region", // its region against a stream ARN's
	"WithStartAtTimestamp": "start",
	"WithMaxRecords":       "max_records",
	"WithMaxReadTime":      "max_read_time",
	"WithCommitInterval":   "commit_interval",
}

// flagError returns err, from building the stream mode's pipeline, with
// the flag at fault named instead of the kinesisio option it became.
func flagError(err error) error {
	var oe *kinesisio.OptionError
	if !errors.As(err, &oe) {
		return err
	}
	name := optionFlags[oe.Option]
	if oe.Option == "WithCheckpoints" {
		// The application name is checked before (checkpointOptions):
		// what is left is the store's.
		name = "checkpoint_table"
		if *ckptDir != "" {
			name = "checkpoint_dir"
		}
	}
	if name == "" {
		return err
	}
	return &badFlagError{flag: name, err: oe}
}

// badFlagError is an invalid flag value, found by kinesisio.
type badFlagError struct {
	flag string
	err  *kinesisio.OptionError
}

func (e *badFlagError) Error() string { return "--" + e.flag + ": " + e.err.Reason }
func (e *badFlagError) Unwrap() error { return e.err }

// checkRegions fails when the workers of this process would find no AWS
// region for the stream or the checkpoint table (the reader would fail
// with an error that names kinesisio's options, not the flags).
func checkRegions(ctx context.Context) error {
	st, err := awsclient.ParseStream(*stream)
	if err != nil {
		return fmt.Errorf("--stream: %w", err)
	}
	defaultRegion := awsclient.Region(ctx, awsclient.Settings{})
	if *kRegion == "" && st.Region == "" && defaultRegion == "" {
		return fmt.Errorf("no AWS region for stream %s: give --kinesis_region, a stream ARN, or set AWS_REGION (or AWS_PROFILE with a region)", *stream)
	}
	if *ckptTable != "" && *ckptRegion == "" && defaultRegion == "" {
		return fmt.Errorf("no AWS region for --checkpoint_table %s: give --checkpoint_region, or set AWS_REGION (or AWS_PROFILE with a region)", *ckptTable)
	}
	return nil
}

// checkpointOptions are the Read options of the --checkpoint_* flags.
func checkpointOptions() ([]kinesisio.ReadOption, error) {
	if *ckptApp == "" {
		if *ckptDir != "" || *ckptTable != "" || *commitEvery != 0 {
			return nil, fmt.Errorf("--checkpoint_dir, --checkpoint_table and --commit_interval need --checkpoint_app")
		}
		return nil, nil
	}
	if err := checkpoint.ValidateApp(*ckptApp); err != nil {
		return nil, fmt.Errorf("--checkpoint_app: %w", err)
	}
	var store kinesisio.CheckpointStore
	switch {
	case (*ckptDir == "") == (*ckptTable == ""):
		return nil, fmt.Errorf("--checkpoint_app needs one of --checkpoint_dir and --checkpoint_table")
	case *ckptDir != "":
		store = kinesisio.LocalDirectory(*ckptDir)
	default:
		store = kinesisio.DynamoDBTable(*ckptTable, kinesisio.Connection{Region: *ckptRegion, Endpoint: *ckptEndpoint})
	}
	opts := []kinesisio.ReadOption{kinesisio.WithCheckpoints(*ckptApp, store)}
	stop := func(ctx context.Context) error { return kinesisio.RequestStop(ctx, *ckptApp, store) }
	graceful.Store(&stop)
	if *commitEvery != 0 {
		opts = append(opts, kinesisio.WithCommitInterval(*commitEvery))
	}
	return opts, nil
}

// buildPipeline reads stream, drops duplicates when dd is not nil,
// counts the words per window and prints them; tap is "" except in the
// demo.
func buildPipeline(stream string, opts []kinesisio.ReadOption, dd []dedup.Option, size time.Duration, output, tap string) (*beam.Pipeline, error) {
	p, s := beam.NewPipelineWithRoot()
	records, err := kinesisio.TryRead(s, stream, opts...)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", stream, err)
	}
	if dd != nil {
		if records, err = dedup.TryRecords(s, records, dd...); err != nil {
			return nil, err
		}
	}
	counts := CountWords(s, records, size)
	beam.ParDo0(s.Scope("wordcount.Print"), &printFn{Output: output, Tap: tap}, counts)
	return p, nil
}

// runStream runs the pipeline on --stream, on the runner --runner names.
func runStream(ctx context.Context) error {
	if err := checkFlags(false); err != nil {
		return err
	}
	opts, err := streamReadOptions()
	if err != nil {
		return err
	}
	if err := resetOutput(*output); err != nil {
		return err
	}
	dd, err := dedupOptions("off")
	if err != nil {
		return err
	}
	p, err := buildPipeline(*stream, opts, dd, *windowSize, *output, "")
	if err != nil {
		return flagError(err)
	}
	local := prismrun.InProcess()
	if local {
		if err := checkRegions(ctx); err != nil {
			return err
		}
	}
	err = runPipeline(ctx, p)
	switch {
	case ctx.Err() == nil && err == nil && stoppedGracefully.Load():
		fmt.Fprintf(os.Stderr, "wordcount: stopped gracefully: positions saved under --checkpoint_app %s; run again to resume\n", *ckptApp)
		return nil
	case ctx.Err() != nil && err == nil && local:
		// The way to end an unbounded read on Prism.
		fmt.Fprintln(os.Stderr, "wordcount: interrupted: the job was cancelled")
		return nil
	case ctx.Err() != nil && !local:
		return interrupted(ctx, fmt.Errorf("stopped waiting for the job, which may still run on the runner: %w", err))
	case ctx.Err() != nil:
		return interrupted(ctx, err)
	case err != nil:
		return fmt.Errorf("pipeline: %w", err)
	}
	return nil
}

// resetOutput empties the --output file, if any, so that it holds this
// run's windows only (workers on this machine append to it), and checks
// that it can be written.
func resetOutput(path string) error {
	if path == "" {
		return nil
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}
