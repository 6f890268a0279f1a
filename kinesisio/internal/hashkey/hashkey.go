// Package hashkey maps records to shards the way Kinesis does: the MD5
// hash of a record's partition key, or its explicit hash key, against the
// hash key ranges of the shards. Write uses it to predict the shard of a
// record (WithShardRateLimit, Aggregation), Read to tell the user
// records of an aggregate that fall outside their shard's range.
package hashkey

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
)

// Key is a 128-bit Kinesis hash key, big-endian.
type Key [16]byte

// OfPartitionKey returns the hash key Kinesis derives from a partition
// key: the MD5 of its UTF-8 bytes read as a big-endian integer.
func OfPartitionKey(partitionKey string) Key {
	return Key(md5.Sum([]byte(partitionKey)))
}

// hashKeyRE is the form AWS gives for hash keys: a decimal without
// leading zeros.
var hashKeyRE = regexp.MustCompile(`^(0|[1-9][0-9]{0,38})$`)

var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// ErrBad is wrapped by Parse's errors.
var ErrBad = errors.New("not a hash key")

// Parse parses a decimal hash key in [0, 2^128-1], as
// ExplicitHashKey and the shards' hash key ranges are written.
func Parse(s string) (Key, error) {
	var h Key
	if !hashKeyRE.MatchString(s) {
		return h, fmt.Errorf("%w: %q is not a decimal integer without leading zeros", ErrBad, s)
	}
	n, ok := new(big.Int).SetString(s, 10)
	if !ok || n.Cmp(maxHashKey) > 0 {
		return h, fmt.Errorf("%w: %s is above 2^128-1", ErrBad, s)
	}
	n.FillBytes(h[:])
	return h, nil
}

// String returns the hash key in decimal.
func (h Key) String() string {
	return new(big.Int).SetBytes(h[:]).String()
}

// Effective is the hash key Kinesis routes a record by: its
// explicit hash key when it has one, else the MD5 of its partition key.
func Effective(partitionKey, explicitHashKey string) (Key, error) {
	if explicitHashKey != "" {
		return Parse(explicitHashKey)
	}
	return OfPartitionKey(partitionKey), nil
}

// Range is the hash key range of one shard, both ends included.
type Range struct {
	ShardID    string
	Start, End Key
}

// ParseRange parses a shard's hash key range as ListShards gives it.
func ParseRange(shardID, start, end string) (Range, error) {
	s, err := Parse(start)
	if err != nil {
		return Range{}, err
	}
	e, err := Parse(end)
	if err != nil {
		return Range{}, err
	}
	return Range{ShardID: shardID, Start: s, End: e}, nil
}

// Contains reports whether h lies in the range.
func (r Range) Contains(h Key) bool {
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
func (m *ShardMap) Lookup(h Key) (string, bool) {
	i, ok := m.Find(h)
	if !ok {
		return "", false
	}
	return m.ranges[i].ShardID, true
}

// Find returns the index, in [0, Len()) and in hash key order, of the
// range that holds h, or false if none does.
func (m *ShardMap) Find(h Key) (int, bool) {
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

// Has reports whether the map holds shard id.
func (m *ShardMap) Has(id string) bool {
	for _, r := range m.ranges {
		if r.ShardID == id {
			return true
		}
	}
	return false
}
