// Command producer puts records of random words on a Kinesis data stream
// at a steady rate, for the word-count pipeline to count.
//
//	go run ./pipelines/wordcount/producer --stream words --rate 200 --words_per_record 5 --duration 30s
//	go run ./pipelines/wordcount/producer --stream words --count 1000 --kinesis_endpoint http://localhost:4567 --create_shards 4
//
// Each record holds --words_per_record words drawn from a fixed vocabulary
// of 50 common English words (the same ones for the same --seed) and has a
// random partition key, so records spread over all shards. Records are put
// in PutRecords batches every 100 ms; entries that PutRecords fails are
// retried (at most 10 tries). Progress is printed once a second; at the end
// the command prints how many times it put each word, in the pipeline's
// format, so that the pipeline's counts can be compared with it.
//
// Credentials and, unless --kinesis_region is given, the region come from
// the AWS default chain (AWS_* environment variables, shared config, SSO,
// ...). The flags are spelt as the word count's: snake_case, and the
// Kinesis connection flags prefixed kinesis_.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/cliflags"
	"github.com/kinesisio/beam-kinesis/pipelines/wordcount/words"
)

// defaultDuration is the run time when neither --duration nor --count is
// given.
const defaultDuration = 30 * time.Second

// options are the command line.
type options struct {
	stream           string
	rate             float64
	perRecord        int
	duration         time.Duration
	count            int64
	region, endpoint string
	seed             uint64
	create           int
}

// newFlagSet returns the command's flags, bound to o.
func newFlagSet(o *options) *flag.FlagSet {
	fs := flag.NewFlagSet("producer", flag.ContinueOnError)
	fs.StringVar(&o.stream, "stream", "", "stream `name or ARN` (required)")
	fs.Float64Var(&o.rate, "rate", 200, "records per second")
	fs.IntVar(&o.perRecord, "words_per_record", 5, "words in each record")
	fs.DurationVar(&o.duration, "duration", 0, "how long to produce (default 30s unless --count is given)")
	fs.Int64Var(&o.count, "count", 0, "how many records to put (0: no limit; with --duration, whichever comes first)")
	fs.StringVar(&o.region, "kinesis_region", "", "AWS `region` of the stream (default: AWS_REGION or the profile's)")
	fs.StringVar(&o.endpoint, "kinesis_endpoint", "", "Kinesis endpoint `URL`, e.g. http://localhost:4567 for kinesalite (default: the region's AWS endpoint)")
	fs.Uint64Var(&o.seed, "seed", 1, "seed of the words and partition keys")
	fs.IntVar(&o.create, "create_shards", 0, "create the stream with this many `shards` if it does not exist (0: it must exist)")
	fs.Usage = func() {
		fmt.Fprint(fs.Output(), "Usage:\n  producer --stream NAME [flags]\n\nFlags:\n")
		cliflags.PrintAll(fs.Output(), fs)
	}
	return fs
}

func main() {
	var o options
	fs := newFlagSet(&o)
	if err := fs.Parse(os.Args[1:]); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			os.Exit(0)
		}
		os.Exit(2) // the flag package printed the error and the usage
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "producer:", err)
		stop()
		os.Exit(1)
	}
}

// run puts the records o asks for.
func run(ctx context.Context, o options) error {
	stream, rate, perRecord, duration, count, seed, create := o.stream, o.rate, o.perRecord, o.duration, o.count, o.seed, o.create
	if stream == "" {
		return errors.New("--stream is required")
	}
	if duration == 0 && count == 0 {
		duration = defaultDuration
	}
	if create < 0 {
		return fmt.Errorf("--create_shards %d is negative", create)
	}
	client, err := words.NewClient(ctx, o.region, o.endpoint)
	if err != nil {
		return err
	}
	if create > 0 {
		shards, err := words.EnsureStream(ctx, client, stream, int32(create))
		if err != nil {
			return err
		}
		fmt.Printf("stream %s is active with %d open shards\n", stream, shards)
	}
	p, err := words.NewProducer(client, words.Config{
		Stream: stream, Rate: rate, WordsPerRecord: perRecord, Duration: duration, Count: count, Seed: seed,
	})
	if err != nil {
		return err
	}
	fmt.Printf("putting %d records (%v/s x %d words) on %s\n", p.Target(), rate, perRecord, stream)

	done := make(chan struct{})
	progressDone := make(chan struct{})
	go func() {
		defer close(progressDone)
		progress(p, done)
	}()
	res, err := p.Run(ctx)
	close(done)
	<-progressDone

	interrupted := err != nil && ctx.Err() != nil
	fmt.Printf("produced %d records, %d words in %.1fs (%d retried after a failed entry)\n",
		res.Records, res.TotalWords(), res.Elapsed.Seconds(), res.Retried)
	fmt.Printf("words: %s\n", formatCounts(res.Words))
	if res.Uncertain > 0 {
		fmt.Printf("uncertain: %d records of a failed or cancelled call may or may not be on the stream; they are not in the counts\n", res.Uncertain)
	}
	if interrupted {
		fmt.Println("interrupted")
		return nil
	}
	return err
}

// progress prints p's progress once a second until done is closed.
func progress(p *words.Producer, done <-chan struct{}) {
	ticker := time.NewTicker(time.Second)
	defer ticker.Stop()
	var last int64
	for {
		select {
		case <-done:
			return
		case <-ticker.C:
			s := p.Stats()
			fmt.Printf("%s  %d records (%d/s), %d words, %d retried\n",
				time.Now().Format("15:04:05"), s.Records, s.Records-last, s.Words, s.Retried)
			last = s.Records
		}
	}
}

// formatCounts lists counts by count descending, then word: "the=12 of=9".
func formatCounts(counts map[string]int64) string {
	ws := make([]string, 0, len(counts))
	for w := range counts {
		ws = append(ws, w)
	}
	sort.Slice(ws, func(i, j int) bool {
		if counts[ws[i]] != counts[ws[j]] {
			return counts[ws[i]] > counts[ws[j]]
		}
		return ws[i] < ws[j]
	})
	items := make([]string, len(ws))
	for i, w := range ws {
		items[i] = fmt.Sprintf("%s=%d", w, counts[w])
	}
	return strings.Join(items, " ")
}
