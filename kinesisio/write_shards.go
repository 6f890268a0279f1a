package kinesisio

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
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
// shared by every Write DoFn instance that writes the stream and needs it
// (WithShardRateLimit, WithAggregation): one listing, one staleness
// signal, one refresh.
type streamShards struct {
	stream awsclient.Stream

	mu       sync.Mutex // guards the fields below; held while listing
	m        *ratelimit.ShardMap
	listedAt time.Time // last listing tried
	stale    bool      // a record landed where the map did not say
}

// shardsByStream holds a streamShards per endpoint, region, credentials
// and stream; limitsByStream a rate limiter for each.
var shardsByStream, limitsByStream sync.Map // string -> *streamShards, *shardLimits

func streamKey(stream awsclient.Stream, s awsclient.Settings) string {
	return s.Endpoint + "|" + s.Region + "|" + s.Profile + "|" + s.RoleARN + "|" + stream.String()
}

// shardsFor returns the process's shard map of stream.
func shardsFor(stream awsclient.Stream, s awsclient.Settings) *streamShards {
	v, _ := shardsByStream.LoadOrStore(streamKey(stream, s), &streamShards{stream: stream})
	return v.(*streamShards)
}

// get returns the current shard map, listing the shards if it is missing,
// older than shardMapMaxAge, or stale and older than shardMapMinAge. A
// listing that finds the same shards keeps the map it had (so callers can
// tell a change by the pointer). It returns nil without an error when a
// listing failed less than shardMapMinAge ago and there is no map yet; an
// error when a listing failed permanently, or transiently with no map to
// fall back on. Later transient failures keep the old map.
func (l *streamShards) get(ctx context.Context, api writeAPI) (*ratelimit.ShardMap, error) {
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
// worker process, shared by all Write DoFn instances that write it: a
// pair of token buckets per shard of the stream's shard map.
type shardLimits struct {
	shards *streamShards
	lim    *ratelimit.Limiter

	mu   sync.Mutex
	seen *ratelimit.ShardMap // the map the buckets were last pruned for
}

func limitsFor(stream awsclient.Stream, s awsclient.Settings) *shardLimits {
	v, _ := limitsByStream.LoadOrStore(streamKey(stream, s), &shardLimits{
		shards: shardsFor(stream, s),
		lim:    ratelimit.NewLimiter(ratelimit.ShardRecordsPerSecond, ratelimit.ShardBytesPerSecond),
	})
	return v.(*shardLimits)
}

// reserve maps each record of todo to its shard, takes their share of the
// shards' quotas, and returns how long to wait before sending them. An
// error means the shards could not be listed (see streamShards.get).
func (l *shardLimits) reserve(ctx context.Context, api writeAPI, todo []*pending) (time.Duration, error) {
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
func (p *pending) hashKey() ratelimit.HashKey {
	return effectiveHashKey(p.rec)
}

// effectiveHashKey is the hash key Kinesis routes r by. r's explicit hash
// key, if any, was validated before.
func effectiveHashKey(r Record) ratelimit.HashKey {
	h, _ := ratelimit.EffectiveHashKey(r.PartitionKey, r.ExplicitHashKey)
	return h
}

// listOpenShards lists the stream's open shards (those without an ending
// sequence number) and their hash key ranges.
func listOpenShards(ctx context.Context, api writeAPI, stream awsclient.Stream) (*ratelimit.ShardMap, error) {
	shards, err := awsclient.ListShards(ctx, api, stream, nil, 0)
	if err != nil {
		return nil, err
	}
	var ranges []ratelimit.Range
	for _, s := range shards {
		if s.SequenceNumberRange != nil && s.SequenceNumberRange.EndingSequenceNumber != nil || s.HashKeyRange == nil {
			continue
		}
		r, err := ratelimit.ParseRange(aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			return nil, fmt.Errorf("kinesisio: shard %s of %v has a bad hash key range: %w", aws.ToString(s.ShardId), stream, err)
		}
		ranges = append(ranges, r)
	}
	return ratelimit.NewShardMap(ranges), nil
}
