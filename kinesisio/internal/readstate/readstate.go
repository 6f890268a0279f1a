// Package readstate holds what one run of a Read keeps in a worker
// process between bundles: its shards' fetchers, the watermark entries
// of its shards and discovery step, its record budget (WithMaxRecords),
// the signal that a reader saw a shard end with children, the
// discovery step's failed listings in a row and, with checkpoints, what
// its start got (the lease taken, the checkpoints loaded: once per run
// in a process, however often the step wakes before its first listing),
// and the backoffs and log limit of its readers' store calls. All of it lives
// in one Run, found by read ID and run ID, so that nothing of a read is
// kept anywhere else and a finished run is dropped whole. The one thing
// kept per read rather than per run, the ARN of its enhanced fan-out
// consumer (resolved in the readers' Setup, before any run is known), is
// held here too (ConsumerARN) and dropped with the read's runs. The log
// limit of CommitWhenDone, which knows no run, is kept per application
// and store for the life of the process (SinkLog).
//
// A run is dropped when the last DoFn instance of its read (reader or
// discovery) in this process is torn down, or, since Prism v2.77 never
// calls Teardown, by a sweeper goroutine once the run is over in this
// process: no shard (or discovery step) running there, no fetcher left,
// and no DoFn looked the run up for Quiet (1 min: longer than any pause
// between one shard of a bounded read finishing and the next one
// starting, which must keep the record budget). Shards of an abandoned
// run (a cancelled job) stop counting as running after the watermark
// registry's StaleAfter (1 min), and their fetchers stop after their idle
// timeout (2 min), so such a run is dropped soon after. The sweeper runs
// only while runs are held.
package readstate

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/commit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// Run is the state of one run of one read in this process.
type Run struct {
	// Fetchers holds the shards' background readers, by shard ID.
	Fetchers *fetcher.Registry
	// Watermarks holds the committed watermarks of the shards and of the
	// discovery step.
	Watermarks *watermark.Registry
	// Emitted counts the records emitted, for WithMaxRecords.
	Emitted atomic.Int64
	// DiscoveryDone is set when the discovery step of the run ended in
	// this process (a bounded read).
	DiscoveryDone atomic.Bool
	// Listing follows the discovery step's failed listings in a row: the
	// backoff before the next one, and the lines logged about them.
	Listing backoff.Streak
	// StoreLog bounds the lines the run's readers log about checkpoint
	// store calls that fail and are retried at a later wake (the lease
	// read, the parents asked, a shard's end written): every waiting
	// shard retries on each wake.
	StoreLog backoff.LogLimit
	// StoreRead follows the failed store reads of the run's readers: the
	// lease read of readers that build the run's committer (on a worker
	// without the discovery step), and the children's question whether
	// their parents were read to their end. One backoff for all of the
	// run's shards in the process, not a read per shard per wake; a read
	// the store answers ends it.
	StoreRead backoff.Streak

	commitMu    sync.Mutex
	committer   *commit.Committer
	startMu     sync.Mutex
	started     bool
	checkpoints []checkpoint.Checkpoint
	childShards atomic.Bool
	used        atomic.Int64 // monotonic nanoseconds (since epoch) of the last lookup
}

// epoch is the origin of Run.used, read through the monotonic clock.
var epoch = time.Now()

// SawChildShards notes that a reader saw a shard end with children.
func (r *Run) SawChildShards() { r.childShards.Store(true) }

// TakeChildShards reports, and clears, whether a reader saw a shard end
// with children since the last call.
func (r *Run) TakeChildShards() bool { return r.childShards.Swap(false) }

func (r *Run) over(quiet time.Duration) bool {
	return time.Since(epoch)-time.Duration(r.used.Load()) >= quiet && r.Watermarks.Active() == 0 && r.Fetchers.Len() == 0
}

// Committer returns the run's checkpoint committer in this process,
// made by mk on first use. An error of mk is returned and not kept: the
// next call tries again.
func (r *Run) Committer(mk func() (*commit.Committer, error)) (*commit.Committer, error) {
	r.commitMu.Lock()
	defer r.commitMu.Unlock()
	if r.committer != nil {
		return r.committer, nil
	}
	c, err := mk()
	if err != nil {
		return nil, err
	}
	r.committer = c
	return c, nil
}

// Start returns the checkpoints the discovery step of the run loaded in
// this process when it took the run's lease, got by start on the first
// call. An error of start is returned and not kept: the next call tries
// again. The step calls it on every wake until its first listing
// succeeds, which may take StartupTimeout while Kinesis does not answer:
// the lease is taken, the checkpoints loaded and a reset logged once per
// run in the process, not once per wake. A step the runner moves to
// another worker (or a process that restarts) starts there again: the
// lease is then the run's already (a retry keeps its epoch), and the
// committer that heartbeats it lives in that process.
func (r *Run) Start(start func() ([]checkpoint.Checkpoint, error)) ([]checkpoint.Checkpoint, error) {
	r.startMu.Lock()
	defer r.startMu.Unlock()
	if r.started {
		return r.checkpoints, nil
	}
	cps, err := start()
	if err != nil {
		return nil, err
	}
	r.started, r.checkpoints = true, cps
	return cps, nil
}

// closeTimeout bounds the last writes of a run's committer.
const closeTimeout = 5 * time.Second

func (r *Run) close() {
	r.Fetchers.CloseAll()
	r.commitMu.Lock()
	c := r.committer
	r.commitMu.Unlock()
	if c != nil {
		ctx, cancel := context.WithTimeout(context.Background(), closeTimeout)
		defer cancel()
		c.Close(ctx)
	}
}

type key struct{ read, run string }

// Registry holds the runs of this process.
type Registry struct {
	// SweepEvery is how often the sweeper looks.
	SweepEvery time.Duration

	mu        sync.Mutex
	quiet     time.Duration // how long a run must go without a lookup before the sweeper may drop it
	runs      map[key]*Run
	instances map[string]int       // live DoFn instances per read ID
	consumers map[string]*consumer // the fan-out consumer per read ID
	sinkLogs  map[string]*backoff.LogLimit
	sweeping  bool
}

// consumer is the enhanced fan-out consumer of a read in this process.
type consumer struct {
	arn  string
	used time.Duration // since epoch, of the last lookup
}

// Default is the registry of this process.
var Default = NewRegistry()

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{quiet: time.Minute, SweepEvery: time.Second, runs: map[key]*Run{}, instances: map[string]int{}, consumers: map[string]*consumer{}, sinkLogs: map[string]*backoff.LogLimit{}}
}

// SetQuiet sets how long a run must go without a lookup before the
// sweeper may drop it, and returns the previous value. For tests.
func (r *Registry) SetQuiet(d time.Duration) time.Duration {
	r.mu.Lock()
	defer r.mu.Unlock()
	prev := r.quiet
	r.quiet = d
	return prev
}

// Run returns the state of run runID of read readID, creating it on first
// use.
func (r *Registry) Run(readID, runID string) *Run {
	r.mu.Lock()
	defer r.mu.Unlock()
	k := key{readID, runID}
	run := r.runs[k]
	if run == nil {
		run = &Run{Fetchers: fetcher.NewRegistry(), Watermarks: watermark.NewRegistry()}
		r.runs[k] = run
		r.startSweeper()
	}
	run.used.Store(int64(time.Since(epoch)))
	return run
}

// startSweeper starts the sweeper unless it runs. r.mu is held.
func (r *Registry) startSweeper() {
	if !r.sweeping {
		r.sweeping = true
		go r.sweep()
	}
}

// ConsumerARN returns the ARN of the enhanced fan-out consumer of read
// readID in this process, resolved by resolve on first use (outside the
// registry's lock: it may take seconds; an error is returned, not kept).
// It is dropped with the read: when its last DoFn instance is torn down,
// or by the sweeper once no run of the read is held and it went unused
// for the quiet period.
func (r *Registry) ConsumerARN(readID string, resolve func() (string, error)) (string, error) {
	r.mu.Lock()
	if c, ok := r.consumers[readID]; ok {
		c.used = time.Since(epoch)
		r.mu.Unlock()
		return c.arn, nil
	}
	r.mu.Unlock()
	arn, err := resolve()
	if err != nil {
		return "", err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.consumers[readID] = &consumer{arn: arn, used: time.Since(epoch)}
	r.startSweeper()
	return arn, nil
}

// SinkLog returns the log limit of the CommitWhenDone transforms named
// by key (the application and store they commit to) in this process,
// shared by all their DoFn instances: a runner may make one per bundle,
// and a limit per instance would let each log its first line. A
// CommitWhenDone knows no run of a Read, so its limit is not dropped with
// one: it is kept for the life of the process, one small value per
// distinct application and store, and spans the jobs that use that name
// one after the other (only one at a time may).
func (r *Registry) SinkLog(key string) *backoff.LogLimit {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.sinkLogs[key]
	if l == nil {
		l = &backoff.LogLimit{}
		r.sinkLogs[key] = l
	}
	return l
}

// Consumers returns the number of reads whose consumer ARN is held.
func (r *Registry) Consumers() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.consumers)
}

// Lookup returns the state of a run if it is held, without creating it.
func (r *Registry) Lookup(readID, runID string) (*Run, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	run, ok := r.runs[key{readID, runID}]
	return run, ok
}

// Len returns the number of runs held.
func (r *Registry) Len() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.runs)
}

// Started counts a DoFn instance of read readID set up.
func (r *Registry) Started(readID string) {
	r.mu.Lock()
	r.instances[readID]++
	r.mu.Unlock()
}

// Stopped counts a DoFn instance of read readID torn down; the last one
// drops every run of the read.
func (r *Registry) Stopped(readID string) {
	r.mu.Lock()
	var drop []*Run
	if r.instances[readID]--; r.instances[readID] <= 0 {
		delete(r.instances, readID)
		delete(r.consumers, readID)
		for k, run := range r.runs {
			if k.read == readID {
				drop = append(drop, run)
				delete(r.runs, k)
			}
		}
	}
	r.mu.Unlock()
	for _, run := range drop {
		run.close()
	}
}

// sweep drops the runs that are over and the consumers of reads without
// runs, and ends when none is held.
func (r *Registry) sweep() {
	t := time.NewTicker(r.SweepEvery)
	defer t.Stop()
	for range t.C {
		r.mu.Lock()
		var drop []*Run
		reading := map[string]bool{}
		for k, run := range r.runs {
			if run.over(r.quiet) {
				drop = append(drop, run)
				delete(r.runs, k)
			} else {
				reading[k.read] = true
			}
		}
		for id, c := range r.consumers {
			if !reading[id] && time.Since(epoch)-c.used >= r.quiet {
				delete(r.consumers, id)
			}
		}
		idle := len(r.runs) == 0 && len(r.consumers) == 0
		if idle {
			r.sweeping = false
		}
		r.mu.Unlock()
		for _, run := range drop {
			run.close()
		}
		if idle {
			return
		}
	}
}
