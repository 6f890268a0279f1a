package kinesisio

import (
	"context"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/binenc"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/commit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/discovery"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// The discovery step of a read lists the stream's shards and emits one
// shard element (shardDesc) per shard to read. discoverFn lists once;
// watchShardsFn lists when the job starts and then every interval.

// discoveryKey is the entry of the discovery step in the watermark
// registry of a run.
const discoveryKey = "~discovery"

// wakeEvery is how often discovery wakes between listings to see whether
// a reader found the end of a shard with children (GetRecords names them
// when the service supports it), so that they are listed at once.
const wakeEvery = 200 * time.Millisecond

// listRetry is the backoff of a failed listing.
var listRetry = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// discoverFn lists the shards once, when the job starts, and emits one
// element per shard with LATEST pinned to that moment. It serves reads
// bounded at the start (WithStopAtLatest) and the direct runner, which
// cannot run the periodic watchShardsFn.
type discoverFn struct {
	Spec readSpec
	readDoFn
}

func (fn *discoverFn) Setup(ctx context.Context) error { return fn.setup(ctx, fn.Spec, false, nil) }

func (fn *discoverFn) ProcessElement(ctx context.Context, _ []byte, emit func(beam.EventTime, shardDesc)) error {
	now := time.Now()
	runID := newRunID()
	var cps []checkpoint.Checkpoint
	if fn.store != nil {
		run := readstate.Default.Run(fn.Spec.ReadID, runID)
		var err error
		if cps, err = fn.Spec.startCheckpoints(ctx, fn.store, run, runID, fn.stream.Name); err != nil {
			return err
		}
		// The run ends with its shards: the last one to close releases
		// the lease.
		defer run.DiscoveryDone.Store(true)
	}
	shards, err := fn.Spec.listAtStart(ctx, fn.client, fn.stream, fn.target, fn.Spec.firstFilter(cps))
	if err != nil {
		return err
	}
	descs, err := fn.Spec.firstRound(ctx, shards, now, runID, cps)
	if err != nil {
		return err
	}
	for _, d := range descs {
		emit(mtime.Time(d.TimestampMillis), d)
	}
	return nil
}

// watchShardsFn is the discovery step of reads that run past their start:
// a splittable DoFn that lists the stream when the job starts and then
// every interval, and emits each shard it has not emitted before (the
// children of splits and merges, new shards of UpdateShardCount and
// on-demand scaling) as its own element, so the runner can place it on any
// worker. Its restriction holds the discovery state, so a checkpoint
// neither loses nor repeats a shard.
//
// Its watermark is the time of the last successful listing less the idle
// skew; a shard found later carries the time of the listing before it, so
// no shard's first records are late. Readers in the same process also hold
// their watermark to it (the run's watermark registry), which keeps
// Prism, whose stage watermark follows the last committed bundle, correct.
type watchShardsFn struct {
	Spec readSpec
	readDoFn
}

func (fn *watchShardsFn) Setup(ctx context.Context) error { return fn.setup(ctx, fn.Spec, true, nil) }

func (fn *watchShardsFn) Teardown() { fn.teardown(fn.Spec) }

// CreateInitialRestriction starts a run of the read: each run of the
// pipeline gets a new run ID.
func (fn *watchShardsFn) CreateInitialRestriction(_ []byte) discovery.Restriction {
	return discovery.Restriction{RunID: newRunID()}
}

func (fn *watchShardsFn) SplitRestriction(_ []byte, r discovery.Restriction) []discovery.Restriction {
	return []discovery.Restriction{r}
}

func (fn *watchShardsFn) RestrictionSize(_ []byte, _ discovery.Restriction) float64 { return 1 }

func (fn *watchShardsFn) CreateTracker(r discovery.Restriction) *discovery.Tracker {
	return discovery.NewTracker(r)
}

func (fn *watchShardsFn) InitialWatermarkEstimatorState(et beam.EventTime, _ discovery.Restriction, _ []byte) int64 {
	return int64(et)
}

func (fn *watchShardsFn) CreateWatermarkEstimator(state int64) *watermark.Estimator {
	return watermark.New(state)
}

func (fn *watchShardsFn) WatermarkEstimatorState(e *watermark.Estimator) int64 { return e.State() }

func (fn *watchShardsFn) ProcessElement(ctx context.Context, we *watermark.Estimator, rt *discovery.Tracker, _ []byte, emit func(beam.EventTime, shardDesc)) (sdf.ProcessContinuation, error) {
	r := rt.Restriction()
	run := readstate.Default.Run(fn.Spec.ReadID, r.RunID)
	if r.Round > 0 {
		// The state restored from a checkpoint is committed: readers in
		// this process may not get ahead of it.
		run.Watermarks.Commit(discoveryKey, we.State())
	} else {
		run.Watermarks.Pending(discoveryKey, we.State())
	}
	now := time.Now()
	if fn.over(r, run, now) {
		rt.Finish()
		run.Watermarks.Finish(discoveryKey)
		if fn.store != nil {
			run.DiscoveryDone.Store(true)
			releaseIfOver(ctx, run)
		}
		return sdf.StopProcessing(), nil
	}
	var cps []checkpoint.Checkpoint
	if fn.store != nil {
		if r.Round == 0 {
			// Once per run in this process: the step wakes every
			// wakeEvery until its first listing succeeds.
			var err error
			if cps, err = run.Start(func() ([]checkpoint.Checkpoint, error) {
				return fn.Spec.startCheckpoints(ctx, fn.store, run, r.RunID, fn.stream.Name)
			}); err != nil {
				return sdf.StopProcessing(), err
			}
		}
		// The lease is heartbeated while the run is active here.
		if c, err := run.Committer(func() (*commit.Committer, error) { return nil, errNoCommitter }); err == nil {
			if err := c.Err(); err != nil {
				return sdf.StopProcessing(), fmt.Errorf("%w: %w", errLeaseLost, err)
			}
			c.Touch()
		}
	}
	if wait := run.Listing.Wait(now); wait > 0 {
		// The last listing failed: the next one waits for its backoff.
		return sdf.ResumeProcessingIn(min(wait, wakeEvery)), nil
	}
	if r.Round > 0 && now.Sub(time.UnixMilli(r.LastListMillis)) < fn.Spec.DiscoveryInterval && !run.TakeChildShards() {
		// Not due yet, and no reader saw its shard end with children.
		return sdf.ResumeProcessingIn(fn.wake(r, now)), nil
	}
	filter := fn.Spec.firstFilter(cps)
	if r.Round > 0 {
		filter = nil
		if r.Highest != "" {
			filter = &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(r.Highest)}
		}
	}
	shards, err := fn.Spec.listShards(ctx, fn.client, fn.stream, filter)
	if err != nil {
		// Until the first listing succeeded (round 0), Kinesis not
		// answering fails the job after StartupTimeout; later it is
		// retried with backoff, and the watermark stays where it is.
		wait, err := fn.Spec.listFailed(ctx, &run.Listing, err, fn.stream, fn.target, r.Round == 0)
		if err != nil {
			return sdf.StopProcessing(), err
		}
		return sdf.ResumeProcessingIn(max(min(wait, wakeEvery), time.Millisecond)), nil
	}
	run.Listing.Reset()
	var descs []shardDesc
	if r.Round == 0 {
		if descs, err = fn.Spec.firstRound(ctx, shards, now, r.RunID, cps); err != nil {
			return sdf.StopProcessing(), err
		}
	} else {
		descs = fn.Spec.laterRound(shards, r)
	}
	highest := ""
	if n := len(descs); n > 0 {
		highest = descs[n-1].ShardID
	}
	if !rt.TryClaim(discovery.Claim{Round: r.Round, Highest: highest, ListMillis: now.UnixMilli()}) {
		return sdf.StopProcessing(), rt.GetError()
	}
	for _, d := range descs {
		emit(mtime.Time(d.TimestampMillis), d)
	}
	// Every shard created before now has been emitted, stamped no later
	// than now less the skew and the event delay.
	we.Advance(now.Add(-fn.Spec.IdleSkew - fn.Spec.EventDelay))
	return sdf.ResumeProcessingIn(min(fn.Spec.DiscoveryInterval, wakeEvery)), nil
}

// wake is how long to sleep before the next check.
func (fn *watchShardsFn) wake(r discovery.Restriction, now time.Time) time.Duration {
	due := time.UnixMilli(r.LastListMillis).Add(fn.Spec.DiscoveryInterval).Sub(now)
	return max(min(due, wakeEvery), time.Millisecond)
}

// over reports that a bounded read, or one asked to stop, needs no more
// discovery.
func (fn *watchShardsFn) over(r discovery.Restriction, run *readstate.Run, now time.Time) bool {
	if r.Round == 0 {
		return false
	}
	if fn.Spec.MaxReadTime > 0 && now.UnixMilli() >= r.StartMillis+fn.Spec.MaxReadTime.Milliseconds() {
		return true
	}
	if c, err := run.Committer(func() (*commit.Committer, error) { return nil, errNoCommitter }); err == nil && c.StopRequested() {
		return true // a stop was requested (kinesischeckpoints stop)
	}
	return fn.Spec.MaxRecords > 0 && run.Emitted.Load() >= fn.Spec.MaxRecords
}

// listShards lists the shards of the stream, parents first. A permanent
// error is returned with what to fix, others as they are.
func (s readSpec) listShards(ctx context.Context, api awsclient.ShardLister, stream awsclient.Stream, filter *types.ShardFilter) ([]types.Shard, error) {
	shards, err := awsclient.ListShards(ctx, api, stream, filter, s.PageSize)
	if err != nil && awsclient.Classify(err) == awsclient.Permanent {
		return nil, explain(err, stream, s.Conn.Client, readAccess)
	}
	return shards, err
}

// listAtStart is the one listing of discoverFn, when the job starts: it
// retries failures with backoff until it succeeds or listFailed gives up.
func (s readSpec) listAtStart(ctx context.Context, api awsclient.ShardLister, stream awsclient.Stream, target awsclient.Target, filter *types.ShardFilter) ([]types.Shard, error) {
	var streak backoff.Streak
	var shards []types.Shard
	err := backoff.Retry{
		Next: func(_ int, err error, _ time.Duration) (time.Duration, error) {
			return s.listFailed(ctx, &streak, err, stream, target, true)
		},
		Interrupted: func(error) error { return ctx.Err() },
	}.Do(ctx, func(ctx context.Context) (err error) {
		shards, err = s.listShards(ctx, api, stream, filter)
		return err
	})
	if err != nil {
		return nil, err
	}
	return shards, nil
}

// listFailed deals with a failed listing of the shards, one of the
// failures in a row that streak follows. It returns the error that ends
// the job: a permanent one, the context's end, or, while the job is
// starting (atStart), Kinesis failing to answer for StartupTimeout
// (throttling is an answer: it is waited out). Otherwise it logs the
// failure within the streak's log limit and returns the backoff before
// the next attempt, which at the start never goes past the bound.
func (s readSpec) listFailed(ctx context.Context, streak *backoff.Streak, err error, stream awsclient.Stream, target awsclient.Target, atStart bool) (time.Duration, error) {
	class := awsclient.Classify(err)
	if class == awsclient.Permanent || class == awsclient.Canceled {
		return 0, err
	}
	now := time.Now()
	var limit time.Time
	if atStart && class != awsclient.Throttled {
		since := streak.Since()
		if since.IsZero() {
			since = now
		}
		if limit = since.Add(s.StartupTimeout); !now.Before(limit) {
			return 0, explainUnreachable(err, stream, target, readAccess, s.StartupTimeout)
		}
	}
	n, since, wait := streak.Fail(now, listRetry, limit)
	streak.Log.Warnf(ctx, "kinesisio: listing the shards of %v failed%s, retrying in %v: %v",
		stream, backoff.InARow(n, now.Sub(since)), wait.Round(time.Millisecond), err)
	return wait, nil
}

// firstRound turns the shards listed when the job starts (at now) into
// shard elements, parents first.
//
// A shard without a position of its own that descends from a shard with
// one starts at TRIM_HORIZON, as KCL starts the children of a checkpointed
// shard: its records all come after the resumed position of its ancestor.
// A shard that a shard with a position descends from is not read at all.
// The start position's default applies to the others (startSpec.lineage
// has the rules). Positions named for shards that are not listed (aged
// out of retention, or a typo) are logged with the shards that exist and
// counted in read_unknown_shard_positions. A checkpoint that cannot be
// resumed from is an error.
func (s readSpec) firstRound(ctx context.Context, shards []types.Shard, now time.Time, runID string, cps []checkpoint.Checkpoint) ([]shardDesc, error) {
	descs := make([]shardDesc, 0, len(shards))
	ids := make([]string, len(shards))
	for i, sh := range shards {
		ids[i] = aws.ToString(sh.ShardId)
	}
	unknown := s.Start.unknownShards(ids)
	start, finished, err := s.Start.withCheckpoints(cps)
	if err != nil {
		return nil, err
	}
	descendants, ancestors := start.lineage(shards, start.unknownShards(ids))
	emitted := map[string]bool{}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if ancestors[id] || finished[id] {
			continue
		}
		d := s.desc(sh, now, runID)
		d.Start = start.resolve(id, now)
		if descendants[id] {
			d.Start = restriction.Position{Kind: restriction.TrimHorizon}
		}
		d.TimestampMillis = int64(d.startEventTime(s.EventDelay))
		descs = append(descs, d)
		emitted[id] = true
	}
	if s.Checkpoints.enabled() {
		// A child waits for the parents this run reads, and only those:
		// the others were read to their end before, or are not read.
		for i := range descs {
			descs[i].ParentIDs = slices.DeleteFunc(descs[i].ParentIDs, func(p string) bool { return !emitted[p] })
		}
	}
	if len(unknown) > 0 {
		log.Warnf(ctx, "kinesisio: the start position names %d shard(s) that stream %s does not have: %v (ignored; they may have aged out of retention). Its shards: %v", len(unknown), s.Conn.Stream, unknown, ids)
		beam.NewCounter(MetricsNamespace, "read_unknown_shard_positions").Inc(ctx, int64(len(unknown)))
	}
	return descs, nil
}

// laterRound turns shards created since the last round into shard
// elements read from their start. They carry the time of the previous
// listing as their timestamp: they were created after it, so none of their
// records is older.
func (s readSpec) laterRound(shards []types.Shard, r discovery.Restriction) []shardDesc {
	var descs []shardDesc
	for _, sh := range shards {
		if !r.After(aws.ToString(sh.ShardId)) {
			continue
		}
		d := s.desc(sh, time.UnixMilli(r.StartMillis), r.RunID)
		d.Start = restriction.Position{Kind: restriction.TrimHorizon}
		d.TimestampMillis = r.LastListMillis - (s.IdleSkew + s.EventDelay).Milliseconds()
		descs = append(descs, d)
	}
	return descs
}

// firstFilter is the ShardFilter of the first listing: the start
// position's, unless checkpoints name shards, whose lineage needs every
// shard.
func (s readSpec) firstFilter(cps []checkpoint.Checkpoint) *types.ShardFilter {
	if len(cps) > 0 {
		return nil
	}
	return s.Start.filter()
}

func (s readSpec) desc(sh types.Shard, start time.Time, runID string) shardDesc {
	d := shardDesc{RunID: runID, ShardID: aws.ToString(sh.ShardId), ParentIDs: awsclient.ParentIDs(sh)}
	if sh.SequenceNumberRange != nil {
		d.EndSeq = aws.ToString(sh.SequenceNumberRange.EndingSequenceNumber)
	}
	if sh.HashKeyRange != nil {
		d.HashKeyStart, d.HashKeyEnd = aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey)
	}
	if s.StopAtLatest {
		d.StopAtMillis = start.UnixMilli()
	}
	if s.MaxReadTime > 0 {
		d.DeadlineMillis = start.Add(s.MaxReadTime).UnixMilli()
	}
	return d
}

// shardDesc is the element the discovery step emits for each shard to
// read: everything the read of that shard needs that was decided when the
// job started or the shard was found.
type shardDesc struct {
	// RunID names the run of the read that found the shard (see
	// discovery.Restriction.RunID).
	RunID     string
	ShardID   string
	ParentIDs []string
	// Start is where the shard's read starts (LATEST already pinned).
	Start restriction.Position
	// TimestampMillis is the element's timestamp: no record of the shard
	// is older, so the shard's watermark starts there.
	TimestampMillis int64
	// EndSeq is a closed shard's ending sequence number, "" when open.
	EndSeq string
	// StopAtMillis > 0 bounds the read at the tip seen at this time.
	StopAtMillis int64
	// DeadlineMillis > 0 ends the read at this time.
	DeadlineMillis int64
	// HashKeyStart and HashKeyEnd are the shard's hash key range
	// (decimal), "" when unknown: user records of KPL aggregates outside
	// it are counted (and delivered).
	HashKeyStart, HashKeyEnd string
}

// newRunID returns a random run ID. Tests replace it to follow a run's
// watermarks.
var newRunID = randomID

// startEventTime is the oldest event time a shard read from its start
// position can have: its AT_TIMESTAMP (less delay, how far event times
// may trail arrival times), else the beginning of time.
func (d shardDesc) startEventTime(delay time.Duration) mtime.Time {
	if d.Start.Kind == restriction.AtTimestamp {
		return mtime.FromMilliseconds(d.Start.Millis - delay.Milliseconds())
	}
	return mtime.MinTimestamp
}

// The shard element's coder is a versioned binary layout, like Record's,
// so that a later release adding a field still decodes the elements in
// this one's checkpoints (Beam's schema coder refuses a struct whose
// field count changed). Version 2 appends the start's sub-sequence
// number and the hash key range; version 1 decodes with them zero.
const shardDescCoderVersion = 2

func encodeShardDesc(d shardDesc) []byte {
	b := []byte{shardDescCoderVersion}
	b = binenc.AppendString(b, d.RunID)
	b = binenc.AppendString(b, d.ShardID)
	b = binary.AppendUvarint(b, uint64(len(d.ParentIDs)))
	for _, p := range d.ParentIDs {
		b = binenc.AppendString(b, p)
	}
	b = binary.AppendVarint(b, int64(d.Start.Kind))
	b = binenc.AppendString(b, d.Start.Seq)
	b = binary.AppendVarint(b, d.Start.Millis)
	b = binary.AppendVarint(b, d.TimestampMillis)
	b = binenc.AppendString(b, d.EndSeq)
	b = binary.AppendVarint(b, d.StopAtMillis)
	b = binary.AppendVarint(b, d.DeadlineMillis)
	b = binary.AppendVarint(b, d.Start.Sub)
	b = binenc.AppendString(b, d.HashKeyStart)
	return binenc.AppendString(b, d.HashKeyEnd)
}

func decodeShardDesc(b []byte) (shardDesc, error) {
	var d shardDesc
	if len(b) < 1 || b[0] < 1 || b[0] > shardDescCoderVersion {
		return d, fmt.Errorf("%w: bad shard element version", errCorruptRecord)
	}
	version := b[0]
	r := binenc.NewDecoder(b[1:], errCorruptRecord)
	d.RunID = r.String("run ID")
	d.ShardID = r.String("shard ID")
	parents := r.Int("parent count")
	if parents > 2 {
		return d, fmt.Errorf("%w: %d parents", errCorruptRecord, parents)
	}
	for range parents {
		d.ParentIDs = append(d.ParentIDs, r.String("parent ID"))
	}
	kind := r.Varint("start kind")
	if kind < 0 || kind > 255 {
		return d, fmt.Errorf("%w: start kind %d", errCorruptRecord, kind)
	}
	d.Start.Kind = restriction.Kind(kind)
	d.Start.Seq = r.String("start sequence number")
	d.Start.Millis = r.Varint("start timestamp")
	d.TimestampMillis = r.Varint("timestamp")
	d.EndSeq = r.String("end sequence number")
	d.StopAtMillis = r.Varint("stop time")
	d.DeadlineMillis = r.Varint("deadline")
	if version >= 2 {
		d.Start.Sub = r.Varint("start sub-sequence number")
		d.HashKeyStart = r.String("hash key range start")
		d.HashKeyEnd = r.String("hash key range end")
	}
	return d, r.Err()
}
