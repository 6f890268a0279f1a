package words

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

const (
	// maxBatchRecords and maxBatchBytes are PutRecords' limits on one call.
	maxBatchRecords = 500
	maxBatchBytes   = 5 << 20
	// maxRecordBytes is Kinesis' limit on one record (data plus key).
	maxRecordBytes = 1 << 20
	// tick is how often the Producer puts the records that became due.
	tick = 100 * time.Millisecond
	// DefaultMaxAttempts is Config.MaxAttempts when it is zero.
	DefaultMaxAttempts = 10
	// Zipf parameters: P(word k) is proportional to (zipfV+k)^-zipfS.
	zipfS = 1.07
	zipfV = 2
)

// retryBackoff spaces the retries of entries PutRecords failed.
var retryBackoff = backoff.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}

// PutRecordsAPI is the part of *kinesis.Client the Producer uses.
type PutRecordsAPI interface {
	PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, optFns ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
}

// Config configures a Producer.
type Config struct {
	// Stream is the stream's name or ARN.
	Stream string
	// Rate is the number of records put per second (> 0). Records that
	// became due are put every 100 ms, in PutRecords calls of at most 500
	// records.
	Rate float64
	// WordsPerRecord is the number of words in each record (>= 1).
	WordsPerRecord int
	// Duration stops the Producer after Rate*Duration records (0: no
	// limit of time).
	Duration time.Duration
	// Count stops the Producer after Count records (0: no limit of
	// count). With neither Duration nor Count, Run puts records until its
	// context is cancelled.
	Count int64
	// Seed seeds the words and the partition keys: the same seed puts the
	// same records in the same order.
	Seed uint64
	// MaxAttempts bounds the tries of a record that PutRecords keeps
	// failing (ProvisionedThroughputExceeded, InternalFailure); default
	// DefaultMaxAttempts. Failures of a whole call are retried by the AWS
	// SDK's own retryer.
	MaxAttempts int
}

// Stats is a snapshot of a running Producer.
type Stats struct {
	// Records and Words are the records and words Kinesis acknowledged.
	Records, Words int64
	// Retried is the number of records sent again after PutRecords failed
	// them individually.
	Retried int64
	// Elapsed is the time since Run started.
	Elapsed time.Duration
}

// Result is what a Producer put.
type Result struct {
	// Records is the number of records Kinesis acknowledged.
	Records int64
	// Words holds how many times each word was put, in acknowledged
	// records only: it is exact unless Uncertain > 0.
	Words map[string]int64
	// Retried is the number of records sent again after PutRecords failed
	// them individually (a failed entry is not stored, so a retry does not
	// duplicate it).
	Retried int64
	// Uncertain is the number of records of a PutRecords call that failed
	// as a whole (after the SDK's retries) or was cancelled: Kinesis may
	// or may not have stored them, and they are not in Words.
	Uncertain int64
	// Elapsed is how long Run ran.
	Elapsed time.Duration
}

// TotalWords is the number of words put: the sum of Words.
func (r Result) TotalWords() int64 {
	var n int64
	for _, c := range r.Words {
		n += c
	}
	return n
}

// Producer puts records of random words on a stream. Make one with
// NewProducer; Run it once. Stats may be called concurrently with Run.
type Producer struct {
	client PutRecordsAPI
	cfg    Config
	rng    *rand.Rand
	zipf   *rand.Zipf

	started                 atomic.Int64 // Unix ns when Run started, 0 before
	records, words, retried atomic.Int64
	runOnce                 sync.Once
	counts                  map[string]int64 // owned by Run
	uncertain               int64            // owned by Run
}

// NewProducer checks cfg and returns a Producer that puts records with
// client.
func NewProducer(client PutRecordsAPI, cfg Config) (*Producer, error) {
	switch {
	case client == nil:
		return nil, errors.New("words: nil client")
	case cfg.Stream == "":
		return nil, errors.New("words: no stream")
	case !(cfg.Rate > 0) || math.IsInf(cfg.Rate, 1):
		return nil, fmt.Errorf("words: rate %v is not a positive number of records per second", cfg.Rate)
	case cfg.WordsPerRecord < 1:
		return nil, fmt.Errorf("words: %d words per record is not positive", cfg.WordsPerRecord)
	case cfg.WordsPerRecord*(maxWordLen()+1) > maxRecordBytes-64:
		return nil, fmt.Errorf("words: %d words per record may exceed Kinesis' 1 MiB record limit", cfg.WordsPerRecord)
	case cfg.Duration < 0:
		return nil, fmt.Errorf("words: negative duration %v", cfg.Duration)
	case cfg.Count < 0:
		return nil, fmt.Errorf("words: negative count %d", cfg.Count)
	case cfg.MaxAttempts < 0:
		return nil, fmt.Errorf("words: negative MaxAttempts %d", cfg.MaxAttempts)
	}
	if cfg.MaxAttempts == 0 {
		cfg.MaxAttempts = DefaultMaxAttempts
	}
	rng := rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))
	return &Producer{
		client: client,
		cfg:    cfg,
		rng:    rng,
		zipf:   rand.NewZipf(rng, zipfS, zipfV, uint64(len(Vocabulary)-1)),
		counts: make(map[string]int64, len(Vocabulary)),
	}, nil
}

func maxWordLen() int {
	n := 0
	for _, w := range Vocabulary {
		n = max(n, len(w))
	}
	return n
}

// Target is the number of records Run puts before it stops by itself:
// Count, Rate*Duration (rounded down), the smaller of the two when both
// are set, or -1 when neither is (Run then stops only when cancelled).
func (p *Producer) Target() int64 {
	target := int64(-1)
	if p.cfg.Duration > 0 {
		target = int64(math.Floor(p.cfg.Rate * p.cfg.Duration.Seconds()))
	}
	if p.cfg.Count > 0 && (target < 0 || p.cfg.Count < target) {
		target = p.cfg.Count
	}
	return target
}

// Stats returns how far Run got. It is safe to call at any time.
func (p *Producer) Stats() Stats {
	s := Stats{Records: p.records.Load(), Words: p.words.Load(), Retried: p.retried.Load()}
	if ns := p.started.Load(); ns != 0 {
		s.Elapsed = time.Since(time.Unix(0, ns))
	}
	return s
}

// Run puts Rate records a second until Target records are put or ctx is
// done, and returns what it put. Its error is nil when the target was
// reached, wraps ctx.Err() when it was cancelled first, and otherwise
// says which call failed; the Result is valid in every case. Run may be
// called once.
func (p *Producer) Run(ctx context.Context) (Result, error) {
	first := false
	p.runOnce.Do(func() { first = true })
	if !first {
		return Result{}, errors.New("words: Producer.Run called twice")
	}
	start := time.Now()
	p.started.Store(start.UnixNano())
	err := p.run(ctx, start)
	return Result{
		Records:   p.records.Load(),
		Words:     p.counts,
		Retried:   p.retried.Load(),
		Uncertain: p.uncertain,
		Elapsed:   time.Since(start),
	}, err
}

func (p *Producer) run(ctx context.Context, start time.Time) error {
	target := p.Target()
	ticker := time.NewTicker(tick)
	defer ticker.Stop()
	var sent int64 // records acknowledged
	for {
		due := int64(math.Floor(p.cfg.Rate * time.Since(start).Seconds()))
		if target >= 0 {
			due = min(due, target)
		}
		for sent < due {
			n, err := p.putBatch(ctx, due-sent)
			sent += n
			if err != nil {
				return err
			}
		}
		if target >= 0 && sent >= target {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("words: stopped after %d records: %w", sent, ctx.Err())
		case <-ticker.C:
		}
	}
}

// entry is one record to put, with its words.
type entry struct {
	words []string
	data  []byte
	key   string
}

// putBatch makes up to want new records (at most one PutRecords call's
// worth), puts them, retrying the entries that fail, and returns how many
// were acknowledged.
func (p *Producer) putBatch(ctx context.Context, want int64) (int64, error) {
	var entries []entry
	size := 0
	for int64(len(entries)) < min(want, maxBatchRecords) {
		ws := make([]string, p.cfg.WordsPerRecord)
		for i := range ws {
			ws[i] = Vocabulary[p.zipf.Uint64()]
		}
		e := entry{words: ws, data: Join(ws), key: fmt.Sprintf("%016x", p.rng.Uint64())}
		size += len(e.data) + len(e.key)
		entries = append(entries, e)
		if size > maxBatchBytes-maxRecordBytes {
			break
		}
	}
	pending := entries
	var acked int64
	var lastFailure string
	err := backoff.Retry{
		Policy: retryBackoff,
		Next: func(attempt int, _ error, wait time.Duration) (time.Duration, error) {
			if attempt >= p.cfg.MaxAttempts {
				return 0, fmt.Errorf("words: %d records still failed on %s after %d attempts (last: %s)", len(pending), p.cfg.Stream, attempt, lastFailure)
			}
			p.retried.Add(int64(len(pending)))
			return wait, nil
		},
		Interrupted: func(error) error {
			return fmt.Errorf("words: retry %d failed records on %s (last: %s): %w", len(pending), p.cfg.Stream, lastFailure, ctx.Err())
		},
	}.Do(ctx, func(ctx context.Context) error {
		in := &kinesis.PutRecordsInput{StreamName: aws.String(p.cfg.Stream), Records: make([]types.PutRecordsRequestEntry, len(pending))}
		if arnLike(p.cfg.Stream) {
			in.StreamName, in.StreamARN = nil, aws.String(p.cfg.Stream)
		}
		for i, e := range pending {
			in.Records[i] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.key)}
		}
		out, err := p.client.PutRecords(ctx, in)
		if err != nil {
			p.uncertain += int64(len(pending))
			return backoff.Stop(fmt.Errorf("words: put %d records on %s: %w", len(pending), p.cfg.Stream, err))
		}
		if len(out.Records) != len(pending) {
			p.uncertain += int64(len(pending))
			return backoff.Stop(fmt.Errorf("words: put %d records on %s: got %d results", len(pending), p.cfg.Stream, len(out.Records)))
		}
		var failed []entry
		for i, r := range out.Records {
			if r.ErrorCode != nil {
				failed = append(failed, pending[i])
				lastFailure = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				continue
			}
			p.ack(pending[i])
			acked++
		}
		pending = failed
		if len(failed) > 0 {
			return errSomeFailed
		}
		return nil
	})
	return acked, err
}

// errSomeFailed is what one PutRecords attempt of putBatch returns to
// backoff.Retry when some of its entries failed: they are retried.
var errSomeFailed = errors.New("words: some records failed")

// ack counts an acknowledged record.
func (p *Producer) ack(e entry) {
	for _, w := range e.words {
		p.counts[w]++
	}
	p.words.Add(int64(len(e.words)))
	p.records.Add(1)
}

// arnLike reports whether stream is a stream ARN rather than a name.
func arnLike(stream string) bool {
	return len(stream) > 4 && stream[:4] == "arn:"
}
