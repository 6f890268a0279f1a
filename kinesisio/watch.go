package kinesisio

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/discovery"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// discoveryKey is the entry of the discovery step in the watermark
// registry of a read.
const discoveryKey = "~discovery"

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
// their watermark to it (the watermark registry), which keeps Prism, whose
// stage watermark follows the last committed bundle, correct.
type watchShardsFn struct {
	Settings       discoverySettings
	IntervalMillis int64
	IdleSkewMillis int64
	MaxRecords     int64

	stream awsclient.Stream
	client awsclient.Kinesis
}

func (fn *watchShardsFn) Setup(ctx context.Context) error {
	var err error
	fn.stream, fn.client, err = newClient(ctx, fn.Settings.Stream, fn.Settings.Client)
	return err
}

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
	readID := runScope(fn.Settings.ReadID, r.RunID)
	if r.Round > 0 {
		// The state restored from a checkpoint is committed: readers in
		// this process may not get ahead of it.
		watermark.Default.Commit(readID, discoveryKey, we.State())
	} else {
		watermark.Default.Pending(readID, discoveryKey, we.State())
	}
	now := time.Now()
	if fn.over(r, now) {
		rt.Finish()
		watermark.Default.Finish(readID, discoveryKey)
		return sdf.StopProcessing(), nil
	}
	if r.Round > 0 && now.Sub(time.UnixMilli(r.LastListMillis)) < fn.interval() && !takeChildShardsSeen(readID) {
		// Not due yet, and no reader saw its shard end with children.
		return sdf.ResumeProcessingIn(fn.wake(r, now)), nil
	}
	var filter *types.ShardFilter
	if r.Round == 0 {
		filter = fn.Settings.filter(now)
	} else {
		filter = &types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String(r.Highest)}
		if r.Highest == "" {
			filter = nil
		}
	}
	shards, err := listShards(ctx, fn.client, fn.stream, fn.Settings, filter, false)
	if err != nil {
		if awsclient.Classify(err) == awsclient.Permanent {
			return sdf.StopProcessing(), err
		}
		// Try again soon; the watermark stays where it is.
		log.Warnf(ctx, "kinesisio: listing shards of %v failed, retrying: %v", fn.stream, err)
		return sdf.ResumeProcessingIn(min(fn.interval(), wakeEvery)), nil
	}
	var descs []shardDesc
	if r.Round == 0 {
		descs = fn.Settings.firstRound(ctx, shards, now, r.RunID)
	} else {
		descs = fn.Settings.laterRound(shards, r, time.Duration(fn.IdleSkewMillis)*time.Millisecond)
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
	we.Advance(now.Add(-time.Duration(fn.IdleSkewMillis)*time.Millisecond - fn.Settings.EventDelay))
	if fn.Settings.StopAtLatest {
		rt.Finish()
		watermark.Default.Finish(readID, discoveryKey)
		return sdf.StopProcessing(), nil
	}
	return sdf.ResumeProcessingIn(min(fn.interval(), wakeEvery)), nil
}

// wakeEvery is how often discovery wakes between listings to see whether
// a reader found the end of a shard with children (GetRecords names them
// when the service supports it), so that they are listed at once.
const wakeEvery = 200 * time.Millisecond

func (fn *watchShardsFn) interval() time.Duration {
	return time.Duration(fn.IntervalMillis) * time.Millisecond
}

// wake is how long to sleep before the next check.
func (fn *watchShardsFn) wake(r discovery.Restriction, now time.Time) time.Duration {
	due := time.UnixMilli(r.LastListMillis).Add(fn.interval()).Sub(now)
	return max(min(due, wakeEvery), time.Millisecond)
}

// childSignals holds, per read, whether a reader in this process saw a
// shard end with ChildShards since discovery last looked.
var childSignals sync.Map // readID -> *atomic.Bool

func childShardsSeen(readID string) {
	v, _ := childSignals.LoadOrStore(readID, new(atomic.Bool))
	v.(*atomic.Bool).Store(true)
}

func takeChildShardsSeen(readID string) bool {
	v, ok := childSignals.Load(readID)
	return ok && v.(*atomic.Bool).Swap(false)
}

// over reports that a bounded read needs no more discovery.
func (fn *watchShardsFn) over(r discovery.Restriction, now time.Time) bool {
	if r.Round == 0 {
		return false
	}
	if fn.Settings.MaxReadTimeMillis > 0 && now.UnixMilli() >= r.StartMillis+fn.Settings.MaxReadTimeMillis {
		return true
	}
	if fn.MaxRecords > 0 {
		if budgetOf(runScope(fn.Settings.ReadID, r.RunID)).Load() >= fn.MaxRecords {
			return true
		}
	}
	return false
}
