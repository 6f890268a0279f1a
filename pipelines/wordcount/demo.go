package main

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/pipelines/wordcount/words"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

const (
	// demoStream and demoRegion name the in-process stream.
	demoStream = "words"
	demoRegion = "us-east-1"
	// readSafetyMargin is how much longer than the producer the demo's
	// read may run before it gives up (WithMaxReadTime).
	readSafetyMargin = time.Minute
	// demoIdleSkew is the read's idle watermark skew in the demo: the fake
	// server stamps arrival times with this machine's clock, so the
	// default second of allowance for clock skew is not needed.
	demoIdleSkew = 100 * time.Millisecond
	// demoDiscoveryInterval is how often the demo's read lists shards: the
	// watermark waits for each listing.
	demoDiscoveryInterval = 250 * time.Millisecond
	// statusInterval is how often the demo prints its status line.
	statusInterval = time.Second
	// producerGrace is how long the demo waits for the producer once the
	// read has ended.
	producerGrace = 5 * time.Second
)

// processStart is when this process started, for the demo's timing line.
var processStart = time.Now()

// demoCredentials are the placeholder credentials the demo puts in its own
// environment when none are set: the SDK signs requests, and the fake
// server ignores signatures.
var demoCredentials = map[string]string{
	"AWS_ACCESS_KEY_ID":     "demo",
	"AWS_SECRET_ACCESS_KEY": "demo",
}

// runDemo is the self-contained demo: fake Kinesis in this process,
// producer in the background, pipeline on in-process Prism, verification.
func runDemo(ctx context.Context) error {
	began := processStart
	if err := checkFlags(true); err != nil {
		return err
	}
	if err := checkDemoRunner(); err != nil {
		return err
	}
	if *forever && setFlags()["duration"] {
		return errors.New("--duration and --forever exclude each other")
	}
	if err := resetOutput(*output); err != nil {
		return err
	}
	setDemoCredentials()

	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true), fakekinesis.WithRegion(demoRegion))
	if err != nil {
		return fmt.Errorf("start the in-process Kinesis server: %w", err)
	}
	defer srv.Close()
	client, err := words.NewClient(ctx, demoRegion, srv.Endpoint())
	if err != nil {
		return err
	}
	shards, err := words.EnsureStream(ctx, client, demoStream, int32(*shardCount))
	if err != nil {
		return err
	}
	cfg := words.Config{Stream: demoStream, Rate: *rate, WordsPerRecord: *wordsPerRecord, Seed: *seed}
	if !*forever {
		cfg.Count = int64(math.Floor(*rate * duration.Seconds()))
		if cfg.Count < 1 {
			return fmt.Errorf("--rate %v for --duration %v puts no record", *rate, *duration)
		}
	}
	producer, err := words.NewProducer(client, cfg)
	if err != nil {
		return err
	}

	t := newTap()
	defer t.unregister()
	opts := []kinesisio.ReadOption{
		kinesisio.Connection{Endpoint: srv.Endpoint(), Region: demoRegion},
		kinesisio.WithIdleWatermarkSkew(demoIdleSkew),
		kinesisio.WithShardDiscoveryInterval(demoDiscoveryInterval),
	}
	if !*forever {
		// Stop after exactly the records the producer puts; the time bound
		// only ends a run that would otherwise never finish.
		opts = append(opts,
			kinesisio.WithMaxRecords(cfg.Count),
			kinesisio.WithMaxReadTime(time.Duration(float64(cfg.Count) / *rate * float64(time.Second))+readSafetyMargin))
	}
	dd, err := dedupOptions("partition_key")
	if err != nil {
		return err
	}
	p, err := buildPipeline(demoStream, opts, dd, *windowSize, *output, t.name)
	if err != nil {
		return err
	}

	plan := fmt.Sprintf("%d records (%v/s x %d words) in %v", cfg.Count, *rate, *wordsPerRecord, *duration)
	if *forever {
		plan = fmt.Sprintf("%v records/s x %d words until Ctrl-C", *rate, *wordsPerRecord)
	}
	say("demo: in-process Kinesis at %s, stream %q with %d shards; producing %s; %v windows on Prism",
		srv.Endpoint(), demoStream, shards, plan, *windowSize)

	// The producer stops by itself, or on Ctrl-C, or when the pipeline
	// failed. The pipeline stops by itself (its record budget), or is
	// cancelled once the producer stopped early, since the read would wait
	// for records that never come: runPipeline then cancels the job
	// through Prism's job service, which ends it cleanly.
	prodCtx, cancelProducer := context.WithCancel(ctx)
	defer cancelProducer()
	stop, stopPipeline := context.WithCancel(context.Background())
	defer stopPipeline()
	pipelineDone := make(chan error, 1)
	go func() { pipelineDone <- runPipeline(stop, p) }()
	producerDone := make(chan produced, 1)
	go func() {
		res, err := producer.Run(prodCtx)
		producerDone <- produced{res, err}
	}()

	ticker := time.NewTicker(statusInterval)
	defer ticker.Stop()
	var (
		prod        *produced
		pipelineErr error
		shown       status
	)
wait:
	for {
		select {
		case pr := <-producerDone:
			prod = &pr
			if pr.err != nil {
				stopPipeline()
			}
		case pipelineErr = <-pipelineDone: // bounded by runPipeline once stopped
			break wait
		case <-ticker.C:
			shown = printStatus(producer.Stats(), t, shown)
		}
	}
	readEndedFirst := false
	if prod == nil {
		if pipelineErr != nil {
			cancelProducer()
		}
		// The read ends when it has read every record, which can be just
		// before the producer gets the answer to its last PutRecords call;
		// or at its time bound, when the producer is far behind.
		select {
		case pr := <-producerDone:
			prod = &pr
		case <-time.After(producerGrace):
			readEndedFirst = true
			cancelProducer()
			pr := <-producerDone // Run returns at once when cancelled
			prod = &pr
		}
	}
	windows, _ := t.snapshot()
	if len(windows) > 0 {
		say("timing: first window printed %.1fs after start; total %.1fs", windows[0].printed.Sub(began).Seconds(), time.Since(began).Seconds())
	}
	switch {
	case ctx.Err() != nil:
		_, n := countWords(windows)
		say("stopped: %d words produced, %d words counted in %s (windows still open when interrupted are not printed)",
			prod.res.TotalWords(), n, plural(len(windows), "window"))
		if *forever {
			return nil
		}
		return errors.New("interrupted")
	case pipelineErr != nil:
		return fmt.Errorf("pipeline: %w", pipelineErr)
	case readEndedFirst:
		_ = verify(prod.res, windows)
		return fmt.Errorf("the read reached its time bound before the producer finished (%d of %d records put)", prod.res.Records, cfg.Count)
	case prod.err != nil:
		return fmt.Errorf("producer: %w", prod.err)
	}
	return verify(prod.res, windows)
}

// produced is the outcome of the producer.
type produced struct {
	res words.Result
	err error
}

// countWords sums the windows' counts per word, and in all.
func countWords(windows []printedWindow) (map[string]int64, int64) {
	counts := map[string]int64{}
	var total int64
	for _, w := range windows {
		for _, c := range w.counts.Counts {
			counts[c.Word] += int64(c.Count)
			total += int64(c.Count)
		}
	}
	return counts, total
}

// verify checks that the windows printed hold exactly the words produced:
// no record lost or dropped as late, none counted twice.
func verify(res words.Result, windows []printedWindow) error {
	counted, total := countWords(windows)
	produced := res.TotalWords()
	var problems []string
	seen := map[int64]bool{}
	for _, w := range windows {
		if seen[w.counts.Start] {
			problems = append(problems, fmt.Sprintf("window %s printed twice", time.UnixMilli(w.counts.Start).Format("15:04:05.000")))
		}
		seen[w.counts.Start] = true
	}
	var all []string
	for w := range res.Words {
		all = append(all, w)
	}
	for w := range counted {
		if _, ok := res.Words[w]; !ok {
			all = append(all, w)
		}
	}
	sort.Strings(all)
	for _, w := range all {
		if res.Words[w] != counted[w] {
			problems = append(problems, fmt.Sprintf("%s: produced %d, counted %d", w, res.Words[w], counted[w]))
		}
	}
	if len(problems) == 0 {
		say("verified: %d words produced, %d words counted in %s", produced, total, plural(len(windows), "window"))
		return nil
	}
	const shown = 10
	if len(problems) > shown {
		problems = append(problems[:shown], fmt.Sprintf("... %d more", len(problems)-shown))
	}
	say("MISMATCH: %d words produced, %d words counted in %s (%d missing: not read, or dropped as late)\n  %s",
		produced, total, plural(len(windows), "window"), produced-total, strings.Join(problems, "\n  "))
	return errors.New("verification failed: the counts do not match the words produced")
}

// status is what the previous status line showed.
type status struct {
	at      time.Time
	records int64
}

// printStatus prints one status line and returns what it showed.
func printStatus(ps words.Stats, t *tap, prev status) status {
	now := time.Now()
	windows, counted := t.snapshot()
	var recRate float64
	switch {
	case !prev.at.IsZero():
		recRate = float64(ps.Records-prev.records) / now.Sub(prev.at).Seconds()
	case ps.Elapsed > 0:
		recRate = float64(ps.Records) / ps.Elapsed.Seconds()
	}
	lag := ""
	if n := len(windows); n > 0 {
		last := windows[n-1]
		lag = fmt.Sprintf(", last window printed %.2fs after its end", last.printed.Sub(time.UnixMilli(last.counts.End)).Seconds())
	}
	say("status: produced %d records (%.0f/s), %d words | counted %d words in %s | lag %d words%s",
		ps.Records, recRate, ps.Words, counted, plural(len(windows), "window"), ps.Words-counted, lag)
	return status{at: now, records: ps.Records}
}

// plural is "1 window", "2 windows".
func plural(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// say prints a line on standard output, between window blocks.
func say(format string, args ...any) {
	consoleMu.Lock()
	defer consoleMu.Unlock()
	fmt.Fprintf(os.Stdout, format+"\n", args...)
}

// checkDemoRunner refuses the runners and environments on which the demo
// cannot work: its Kinesis server and its tap live in this process, so
// the worker must too.
func checkDemoRunner() error {
	r := strings.ToLower(*runners.Runner)
	if r != "" && r != "prism" {
		return fmt.Errorf("the demo runs only on in-process Prism (its Kinesis server lives in this process), not --runner=%s: pass --stream to read a real stream", *runners.Runner)
	}
	if *jobopts.Endpoint != "" {
		return errors.New("the demo runs only on in-process Prism, not on a job service (--endpoint): pass --stream to read a real stream")
	}
	if env := strings.ToLower(*jobopts.EnvironmentType); env != "" && env != "loopback" {
		return fmt.Errorf("the demo runs only with the LOOPBACK environment (its worker must be this process), not --environment_type=%s", *jobopts.EnvironmentType)
	}
	return nil
}

// setDemoCredentials gives this process placeholder AWS credentials when
// its environment has none, for the SDK to sign the fake server's
// requests with. Credentials already set are kept (and never printed).
func setDemoCredentials() {
	if os.Getenv("AWS_ACCESS_KEY_ID") != "" || os.Getenv("AWS_SECRET_ACCESS_KEY") != "" {
		return
	}
	for k, v := range demoCredentials {
		os.Setenv(k, v)
	}
}
