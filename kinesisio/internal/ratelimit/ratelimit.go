// Package ratelimit paces calls to Kinesis shards on the client side:
// a token bucket (Bucket) for one quota, and a Limiter that keeps one pair
// of buckets per shard, for records and bytes, for Write. Which shard a
// record goes to is package hashkey's business.
package ratelimit

import (
	"sync"
	"time"
)

// Kinesis's write quota of one shard.
const (
	// ShardRecordsPerSecond is the records one shard accepts per second.
	ShardRecordsPerSecond = 1000
	// ShardBytesPerSecond is the bytes (data + partition key) one shard
	// accepts per second.
	ShardBytesPerSecond = 1 << 20
)

// Demand is what one send asks of one shard.
type Demand struct {
	Records int
	Bytes   int
}

// Limiter holds a records bucket and a bytes bucket per shard, each with
// a burst of one second of its rate. It is safe for concurrent use.
type Limiter struct {
	recordsPerSec, bytesPerSec float64

	mu      sync.Mutex
	buckets map[string]*[2]Bucket
}

// NewLimiter returns a Limiter that allows each shard recordsPerSec
// records and bytesPerSec bytes per second.
func NewLimiter(recordsPerSec, bytesPerSec float64) *Limiter {
	return &Limiter{recordsPerSec: recordsPerSec, bytesPerSec: bytesPerSec, buckets: map[string]*[2]Bucket{}}
}

// Reserve takes what demand asks of each shard at now and returns how long
// the caller must wait before sending: the longest wait of any bucket
// involved. A demand larger than a bucket's burst is granted with the
// delay its rate implies.
func (l *Limiter) Reserve(now time.Time, demand map[string]Demand) time.Duration {
	l.mu.Lock()
	defer l.mu.Unlock()
	var wait time.Duration
	for shard, d := range demand {
		b, ok := l.buckets[shard]
		if !ok {
			b = &[2]Bucket{{Rate: l.recordsPerSec}, {Rate: l.bytesPerSec}}
			l.buckets[shard] = b
		}
		wait = max(wait, b[0].Take(now, float64(d.Records)), b[1].Take(now, float64(d.Bytes)))
	}
	return wait
}

// Forget drops the buckets of shards not in keep (closed by a reshard).
func (l *Limiter) Forget(keep func(shardID string) bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for id := range l.buckets {
		if !keep(id) {
			delete(l.buckets, id)
		}
	}
}
