package kinesisio

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
)

const (
	// shardMapMaxAge is how long a shard map is used before it is listed
	// again.
	shardMapMaxAge = time.Minute
	// shardMapMinAge is the least time between two listings, also when
	// records land on unexpected shards or a listing failed.
	shardMapMinAge = 5 * time.Second
)

// shardLimits is the client-side write rate limit of one stream in this
// worker process, shared by all Write DoFn instances that write it: the
// stream's shard map and a pair of token buckets per shard.
type shardLimits struct {
	stream awsclient.Stream
	lim    *ratelimit.Limiter

	mu       sync.Mutex // guards the fields below; held while listing
	m        *ratelimit.ShardMap
	listedAt time.Time // last listing tried
	stale    bool      // a record landed where the map did not say
}

// shardLimitsByStream holds a shardLimits per endpoint, region and stream.
var shardLimitsByStream sync.Map // string -> *shardLimits

func limitsFor(stream awsclient.Stream, s awsclient.Settings) *shardLimits {
	key := s.Endpoint + "|" + s.Region + "|" + s.Profile + "|" + s.RoleARN + "|" + stream.String()
	v, _ := shardLimitsByStream.LoadOrStore(key, &shardLimits{
		stream: stream,
		lim:    ratelimit.NewLimiter(ratelimit.ShardRecordsPerSecond, ratelimit.ShardBytesPerSecond),
	})
	return v.(*shardLimits)
}

// reserve maps each record of todo to its shard, takes their share of the
// shards' quotas, and returns how long to wait before sending them. It
// lists the shards first if the map is missing, old, or stale. An error
// means the first listing failed; later failures keep the old map.
func (l *shardLimits) reserve(ctx context.Context, api writeAPI, todo []*pending) (time.Duration, error) {
	m, err := l.shardMap(ctx, api)
	if err != nil || m == nil {
		return 0, err
	}
	demand := map[string]ratelimit.Demand{}
	for _, p := range todo {
		h := ratelimit.PartitionKeyHash(p.rec.PartitionKey)
		if p.rec.ExplicitHashKey != "" {
			h, _ = ratelimit.ParseHashKey(p.rec.ExplicitHashKey) // validated before
		}
		shard, ok := m.Lookup(h)
		if !ok {
			p.shard = ""
			l.markStale()
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

// shardMap returns the current shard map, listing the shards if needed;
// nil without an error when a listing failed less than shardMapMinAge ago
// and there is no map yet.
func (l *shardLimits) shardMap(ctx context.Context, api writeAPI) (*ratelimit.ShardMap, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	since := time.Since(l.listedAt)
	if l.m != nil && since < shardMapMaxAge && !(l.stale && since >= shardMapMinAge) {
		return l.m, nil
	}
	if l.m == nil && !l.listedAt.IsZero() && since < shardMapMinAge {
		return nil, nil // the last listing failed just now: send unpaced
	}
	l.listedAt = time.Now()
	m, err := listOpenShards(ctx, api, l.stream)
	if err != nil {
		if l.m != nil && awsclient.Classify(err) != awsclient.Permanent {
			return l.m, nil
		}
		return nil, err
	}
	l.m, l.stale = m, false
	l.lim.Forget(func(id string) bool { return m.Has(id) })
	return m, nil
}

// observe notes where a record landed; a record that did not land where
// the map said marks the map stale (the stream was resharded).
func (l *shardLimits) observe(predicted, actual string) {
	if predicted != "" && predicted != actual {
		l.markStale()
	}
}

func (l *shardLimits) markStale() {
	l.mu.Lock()
	l.stale = true
	l.mu.Unlock()
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
		start, err1 := ratelimit.ParseHashKey(aws.ToString(s.HashKeyRange.StartingHashKey))
		end, err2 := ratelimit.ParseHashKey(aws.ToString(s.HashKeyRange.EndingHashKey))
		if err1 != nil || err2 != nil {
			return nil, fmt.Errorf("kinesisio: shard %s of %v has a bad hash key range: %v %v", aws.ToString(s.ShardId), stream, err1, err2)
		}
		ranges = append(ranges, ratelimit.Range{ShardID: aws.ToString(s.ShardId), Start: start, End: end})
	}
	return ratelimit.NewShardMap(ranges), nil
}
