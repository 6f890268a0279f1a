package writer

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
)

// shardMapMaxAge is how long a shard map is used before it is listed
// again; shardMapMinAge (in nanoseconds, atomic: tests change it while
// workers in this process read it) is the least time between two
// listings, also when records land on unexpected shards or a listing
// failed.
const shardMapMaxAge = time.Minute

var shardMapMinAge = func() *atomic.Int64 {
	var v atomic.Int64
	v.Store(int64(5 * time.Second))
	return &v
}()

func minShardMapAge() time.Duration { return time.Duration(shardMapMinAge.Load()) }

// streamShards is the shard map of one stream in this worker process,
// shared by every Writer that writes the stream and needs it
// (WithShardRateLimit, Aggregation): one listing, one staleness
// signal, one refresh.
type streamShards struct {
	stream awsclient.Stream

	mu       sync.Mutex // guards the fields below; held while listing
	m        *hashkey.ShardMap
	listedAt time.Time // last listing tried
	stale    bool      // a record landed where the map did not say
}

// shared holds, per endpoint, region, credentials and stream, the state
// the Writers of this process that write the stream share; each entry
// counts the bundles that hold it and is dropped sharedGrace after the
// last one ended, unless another started meanwhile. (Runners do not call
// Teardown, so the end of a bundle is what frees it; the grace keeps the
// map, which is listed again after shardMapMaxAge anyway, from being
// listed for every bundle.)
var shared = struct {
	sync.Mutex
	m map[string]*sharedState
}{m: map[string]*sharedState{}}

// sharedState is one stream's shared state: its shard map and, once a
// Writer with a rate limit joined, its rate limit.
type sharedState struct {
	shards *streamShards
	limits *shardLimits // nil until a Writer with a rate limit joins
	refs   int
	idle   *time.Timer // drops the entry, while refs is 0
}

// sharedGrace is how long shared state outlives the last bundle that held
// it (in nanoseconds, atomic: tests change it).
var sharedGrace = func() *atomic.Int64 {
	var v atomic.Int64
	v.Store(int64(shardMapMaxAge))
	return &v
}()

func streamKey(stream awsclient.Stream, s awsclient.Settings) string {
	return s.Endpoint + "|" + s.Region + "|" + s.Profile + "|" + s.RoleARN + "|" + stream.String()
}

// acquire joins the shared state of stream (creating it, and its rate
// limit if rateLimit) and returns it with the function that leaves it.
func acquire(stream awsclient.Stream, s awsclient.Settings, rateLimit bool) (*sharedState, func()) {
	key := streamKey(stream, s)
	shared.Lock()
	defer shared.Unlock()
	e := shared.m[key]
	if e == nil {
		e = &sharedState{shards: &streamShards{stream: stream}}
		shared.m[key] = e
	}
	if e.idle != nil {
		e.idle.Stop()
		e.idle = nil
	}
	if rateLimit && e.limits == nil {
		e.limits = &shardLimits{
			shards: e.shards,
			lim:    ratelimit.NewLimiter(ratelimit.ShardRecordsPerSecond, ratelimit.ShardBytesPerSecond),
		}
	}
	e.refs++
	var once sync.Once
	return e, func() {
		once.Do(func() {
			shared.Lock()
			defer shared.Unlock()
			if e.refs--; e.refs > 0 || shared.m[key] != e {
				return
			}
			grace := time.Duration(sharedGrace.Load())
			if grace <= 0 {
				delete(shared.m, key)
				return
			}
			e.idle = time.AfterFunc(grace, func() {
				shared.Lock()
				defer shared.Unlock()
				if e.refs == 0 && shared.m[key] == e {
					delete(shared.m, key)
				}
			})
		})
	}
}

// Shared returns how many streams this process holds shared state of:
// the streams a bundle of a Writer with a rate limit or aggregation
// writes, or wrote less than the grace (a minute) ago.
func Shared() int {
	shared.Lock()
	defer shared.Unlock()
	return len(shared.m)
}

// SetSharedGrace sets how long shared state outlives the last bundle that
// held it (a minute; 0 frees it at once), for tests, and returns a
// function that restores it.
func SetSharedGrace(d time.Duration) (restore func()) {
	prev := sharedGrace.Swap(int64(d))
	return func() { sharedGrace.Store(prev) }
}

// SetShardMapMinAge sets the least time between two listings of a shard
// map (5 s), for tests of resharding, and returns a function that
// restores it.
func SetShardMapMinAge(d time.Duration) (restore func()) {
	prev := shardMapMinAge.Swap(int64(d))
	return func() { shardMapMinAge.Store(prev) }
}

// get returns the current shard map, listing the shards if it is missing,
// older than shardMapMaxAge, or stale and older than shardMapMinAge. A
// listing that finds the same shards keeps the map it had (so callers can
// tell a change by the pointer). It returns nil without an error when a
// listing failed less than shardMapMinAge ago and there is no map yet; an
// error when a listing failed permanently, or transiently with no map to
// fall back on. Later transient failures keep the old map.
func (l *streamShards) get(ctx context.Context, api API) (*hashkey.ShardMap, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := time.Since(l.listedAt)
	minAge := minShardMapAge()
	if l.m != nil && since < shardMapMaxAge && !(l.stale && since >= minAge) {
		return l.m, nil
	}
	if l.m == nil && !l.listedAt.IsZero() && since < minAge {
		return nil, nil // the last listing failed just now
	}
	l.listedAt = time.Now()
	m, err := listOpenShards(ctx, api, l.stream)
	if err != nil {
		if l.m != nil && awsclient.Classify(err) != awsclient.Permanent {
			return l.m, nil
		}
		return nil, err
	}
	l.stale = false
	if !m.Equal(l.m) {
		l.m = m
	}
	return l.m, nil
}

// observe notes where a record landed; a record that did not land where
// the map said marks the map stale (the stream was resharded).
func (l *streamShards) observe(predicted, actual string) {
	if predicted != "" && predicted != actual {
		l.markStale()
	}
}

func (l *streamShards) markStale() {
	l.mu.Lock()
	l.stale = true
	l.mu.Unlock()
}

// isStale reports whether the map is marked stale (for tests).
func (l *streamShards) isStale() bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.stale
}

// shardLimits is the client-side write rate limit of one stream in this
// worker process, shared by all Writers that write it: a
// pair of token buckets per shard of the stream's shard map.
type shardLimits struct {
	shards *streamShards
	lim    *ratelimit.Limiter

	mu   sync.Mutex
	seen *hashkey.ShardMap // the map the buckets were last pruned for
}

// reserve maps each record of todo to its shard, takes their share of the
// shards' quotas, and returns how long to wait before sending them. An
// error means the shards could not be listed (see streamShards.get).
func (l *shardLimits) reserve(ctx context.Context, api API, todo []*pending) (time.Duration, error) {
	m, err := l.shards.get(ctx, api)
	if err != nil || m == nil {
		return 0, err
	}
	l.mu.Lock()
	if l.seen != m {
		l.seen = m
		l.lim.Forget(func(id string) bool { return m.Has(id) })
	}
	l.mu.Unlock()
	demand := map[string]ratelimit.Demand{}
	for _, p := range todo {
		shard, ok := m.Lookup(p.hashKey())
		if !ok {
			p.shard = ""
			l.shards.markStale()
			continue
		}
		p.shard = shard
		d := demand[shard]
		d.Records++
		d.Bytes += p.size
		demand[shard] = d
	}
	return l.lim.Reserve(time.Now(), demand), nil
}

// hashKey is the hash key Kinesis routes p's record by: its explicit hash
// key, else the MD5 of its partition key.
func (p *pending) hashKey() hashkey.Key {
	return effectiveHashKey(p.rec)
}

// effectiveHashKey is the hash key Kinesis routes r by. r's explicit hash
// key, if any, was validated before.
func effectiveHashKey(r Record) hashkey.Key {
	h, _ := hashkey.Effective(r.PartitionKey, r.ExplicitHashKey)
	return h
}

// listOpenShards lists the stream's open shards (those without an ending
// sequence number) and their hash key ranges.
func listOpenShards(ctx context.Context, api API, stream awsclient.Stream) (*hashkey.ShardMap, error) {
	shards, err := awsclient.ListShards(ctx, api, stream, nil, 0)
	if err != nil {
		return nil, err
	}
	var ranges []hashkey.Range
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil || s.HashKeyRange == nil {
			continue
		}
		r, err := hashkey.ParseRange(aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			return nil, fmt.Errorf("kinesisio: shard %s of %v has a bad hash key range: %w", aws.ToString(s.ShardId), stream, err)
		}
		ranges = append(ranges, r)
	}
	return hashkey.NewShardMap(ranges), nil
}
