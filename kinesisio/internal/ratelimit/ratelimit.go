// Package ratelimit paces writes to Kinesis shards on the client side: it
// maps records to shards the way Kinesis does (the MD5 hash of the
// partition key, or an explicit hash key, against the shards' hash key
// ranges) and keeps one pair of token buckets per shard, for records and
// bytes.
package ratelimit

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
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

// HashKey is a 128-bit Kinesis hash key, big-endian.
type HashKey [16]byte

// PartitionKeyHash returns the hash key Kinesis derives from a partition
// key: the MD5 of its UTF-8 bytes read as a big-endian integer.
func PartitionKeyHash(partitionKey string) HashKey {
	return HashKey(md5.Sum([]byte(partitionKey)))
}

// hashKeyRE is the form AWS gives for hash keys: a decimal without
// leading zeros.
var hashKeyRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,38})$`)

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// ErrBadHashKey is wrapped by ParseHashKey's errors.
var ErrBadHashKey = errors.New("not a hash key")

// ParseHashKey parses a decimal hash key in [0, 2^128-1], as
// ExplicitHashKey and the shards' hash key ranges are written.
func ParseHashKey(s string) (HashKey, error) {
	var h HashKey
	if !hashKeyRE.MatchString(s) {
		return h, fmt.Errorf("%w: %q is not a decimal integer without leading zeros", ErrBadHashKey, s)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(maxHashKey) > 0 {
		return h, fmt.Errorf("%w: %s is above 2^128-1", ErrBadHashKey, s)
	}
	n.FillBytes(h[:])
	return h, nil
}

// String returns the hash key in decimal.
func (h HashKey) String() string {
	return new(big.Int).SetBytes(h[:]).String()
}

// EffectiveHashKey is the hash key Kinesis routes a record by: its
// explicit hash key when it has one, else the MD5 of its partition key.
func EffectiveHashKey(partitionKey, explicitHashKey string) (HashKey, error) {
	if explicitHashKey != "" {
		return ParseHashKey(explicitHashKey)
	}
	return PartitionKeyHash(partitionKey), nil
}

// Range is the hash key range of one shard, both ends included.
type Range struct {
	ShardID    string
	Start, End HashKey
}

// ParseRange parses a shard's hash key range as ListShards gives it.
func ParseRange(shardID, start, end string) (Range, error) {
	s, err := ParseHashKey(start)
	if err != nil {
		return Range{}, err
	}
	e, err := ParseHashKey(end)
	if err != nil {
		return Range{}, err
	}
	return Range{ShardID: shardID, Start: s, End: e}, nil
}

// Contains reports whether h lies in the range.
func (r Range) Contains(h HashKey) bool {
	return bytes.Compare(h[:], r.Start[:]) >= 0 && bytes.Compare(h[:], r.End[:]) <= 0
}

// ShardMap finds the open shard whose hash key range holds a hash key. It
// is immutable and safe for concurrent use.
type ShardMap struct {
	ranges []Range // sorted by Start
}

// NewShardMap builds a ShardMap from the ranges of the open shards.
func NewShardMap(ranges []Range) *ShardMap {
	rs := append([]Range(nil), ranges...)
	sort.Slice(rs, func(i, j int) bool { return bytes.Compare(rs[i].Start[:], rs[j].Start[:]) < 0 })
	return &ShardMap{ranges: rs}
}

// Len returns the number of shards in the map.
func (m *ShardMap) Len() int { return len(m.ranges) }

// Lookup returns the shard whose range holds h, or false if none does
// (the map is out of date, or empty).
func (m *ShardMap) Lookup(h HashKey) (string, bool) {
	i, ok := m.Find(h)
	if !ok {
		return "", false
	}
	return m.ranges[i].ShardID, true
}

// Find returns the index, in [0, Len()) and in hash key order, of the
// range that holds h, or false if none does.
func (m *ShardMap) Find(h HashKey) (int, bool) {
	// The last range starting at or before h.
	i := sort.Search(len(m.ranges), func(i int) bool { return bytes.Compare(m.ranges[i].Start[:], h[:]) > 0 }) - 1
	if i < 0 || bytes.Compare(h[:], m.ranges[i].End[:]) > 0 {
		return 0, false
	}
	return i, true
}

// At returns range i, in hash key order.
func (m *ShardMap) At(i int) Range { return m.ranges[i] }

// Equal reports whether m and o hold the same ranges.
func (m *ShardMap) Equal(o *ShardMap) bool {
	if m == nil || o == nil {
		return m == o
	}
	if len(m.ranges) != len(o.ranges) {
		return false
	}
	for i := range m.ranges {
		if m.ranges[i] != o.ranges[i] {
			return false
		}
	}
	return true
}

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

// Has reports whether the map holds shard id.
func (m *ShardMap) Has(id string) bool {
	for _, r := range m.ranges {
		if r.ShardID == id {
			return true
		}
	}
	return false
}
