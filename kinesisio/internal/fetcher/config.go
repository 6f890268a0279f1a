// Package fetcher reads one shard in the background: it keeps a GetRecords
// loop (polling.go) running ahead of the splittable DoFn, within the
// shard's read quota, or one SubscribeToShard stream at a time (enhanced
// fan-out, fanout.go), and holds what it fetched in a buffer bounded by
// bytes until ProcessElement claims it.
//
// Prism runs all shard restrictions of a bundle one after another, so a
// blocking GetRecords per ProcessElement would serialize every shard behind
// one network call. Here each shard has its own goroutine; ProcessElement
// only drains what is ready and self-checkpoints.
//
// Fetchers live in the Registry of their read's run in this process
// (package readstate), keyed by shard, because a restriction resumes in a new bundle (and possibly a new DoFn instance)
// after every checkpoint. A fetcher is reused only when its buffer starts
// exactly where the resumed restriction starts; anything else (a runner
// retry replaying an older checkpoint, a restriction moved here from
// another worker) starts a fresh fetcher at the restriction's start.
package fetcher

import (
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// Kinesis limits per shard for polling consumers.
const (
	MaxCallsPerSecond = 5
	MaxBytesPerSecond = 2 << 20
	MaxRecordsPerCall = 10000
)

// DefaultIdlePoll is the default of Config.IdlePoll: a shard with nothing
// to read is polled about every 1.5 s, so a record arriving on it is
// fetched at most 1.5 s plus one call's duration after it arrived. It is
// KCL 2.x's default wait between calls on an idle shard. At 1 s, 1,024
// idle shards cost the fetchers 0.137 cores on a quiet machine, nearly
// all of it the SDK's and net/http's per-call work; at 1.5 s they make
// two thirds of the calls.
const DefaultIdlePoll = 1500 * time.Millisecond

// Config says what a fetcher reads and how fast.
type Config struct {
	Stream  awsclient.Stream
	ShardID string
	Start   restriction.Position
	// HashKeyStart and HashKeyEnd are the shard's hash key range (decimal),
	// to count the user records of aggregates outside it; "" = unknown.
	HashKeyStart, HashKeyEnd string

	// ConsumerARN, when set, reads with enhanced fan-out (SubscribeToShard)
	// as this registered consumer instead of polling.
	ConsumerARN string

	MaxBufferedBytes int64   // fetch only while less than this is buffered
	RecordsPerCall   int32   // GetRecords Limit
	CallsPerSecond   float64 // GetRecords calls per second at most
	BytesPerSecond   float64 // bytes per second at most, averaged over calls
	Unpaced          bool    // no client-side pacing: call again at once after records
	// IdlePoll is the longest gap between the starts of two calls on a
	// caught-up shard, quiet (calls return nothing) or near-idle (its
	// rate over the latest calls brings fewer than fewRecords per quota
	// interval): a record arriving on such a shard is fetched at most
	// IdlePoll plus one call's duration after it arrived (pacer,
	// polling.go). Its consumer resumes about once per gap (ResumeIn).
	IdlePoll    time.Duration
	CallTimeout time.Duration // bound on one call
	BackoffBase time.Duration // first retry delay (before jitter)
	BackoffMax  time.Duration // largest retry delay
	IdleTimeout time.Duration // stop when nobody consumed for this long

	SubscribeSpacing time.Duration // least time between subscriptions (EFO)
	EventTimeout     time.Duration // resubscribe after this long without an event (EFO)
	EndCheckInterval time.Duration // least time between two checks of a quiet shard's end with GetRecords (EFO)

	// Log bounds the lines logged about retries; nil = a limit of the
	// fetcher's own (a Registry shares one among its fetchers).
	Log *backoff.LogLimit
}

// WithDefaults fills unset fields with the defaults: the full per-shard
// quota, an 8 MiB buffer, quiet shards polled at least every 1.5 s.
func (c Config) WithDefaults() Config {
	if c.MaxBufferedBytes <= 0 {
		c.MaxBufferedBytes = 8 << 20
	}
	if c.RecordsPerCall <= 0 || c.RecordsPerCall > MaxRecordsPerCall {
		c.RecordsPerCall = MaxRecordsPerCall
	}
	if c.CallsPerSecond <= 0 || c.CallsPerSecond > MaxCallsPerSecond {
		c.CallsPerSecond = MaxCallsPerSecond
	}
	if c.BytesPerSecond <= 0 || c.BytesPerSecond > MaxBytesPerSecond {
		c.BytesPerSecond = MaxBytesPerSecond
	}
	if c.IdlePoll <= 0 {
		c.IdlePoll = DefaultIdlePoll
	}
	if c.CallTimeout <= 0 {
		c.CallTimeout = 10 * time.Second
	}
	if c.BackoffBase <= 0 {
		c.BackoffBase = 100 * time.Millisecond
	}
	if c.BackoffMax <= 0 {
		c.BackoffMax = 5 * time.Second
	}
	if c.SubscribeSpacing <= 0 {
		c.SubscribeSpacing = SubscribeSpacing
	}
	if c.EventTimeout <= 0 {
		c.EventTimeout = 30 * time.Second
	}
	if c.EndCheckInterval <= 0 {
		c.EndCheckInterval = EndCheckInterval
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = 2 * time.Minute
	}
	if c.Log == nil {
		c.Log = new(backoff.LogLimit)
	}
	return c
}
