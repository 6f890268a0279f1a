package fakekinesis

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// maxHashKey is 2^128 - 1, the top of the hash key space.
var maxHashKey = new(big.Int).Sub(new(big.Int).Lsh(big.NewInt(1), 128), big.NewInt(1))

// seqPattern is the form AWS accepts for sequence numbers.
var seqPattern = regexp.MustCompile(`^(0|[1-9][0-9]{0,128})$`)

// record is one stored record.
type record struct {
	seq     string
	key     string
	data    []byte
	arrival time.Time
}

// size is what the record counts against throughput and size limits.
func (r *record) size() int { return len(r.data) + len(r.key) }

// shard is one shard of a stream.
type shard struct {
	index          int
	id             string
	parent         string
	adjacentParent string
	start, end     *big.Int // inclusive hash key range
	startSeq       string
	endSeq         string // "" while open
	created        time.Time
	closedAt       time.Time
	records        []record
	children       []string
	q              shardQuotas
}

// open reports whether the shard still accepts records.
func (sh *shard) open() bool { return sh.endSeq == "" }

// contains reports whether hash falls in the shard's range.
func (sh *shard) contains(hash *big.Int) bool {
	return sh.start.Cmp(hash) <= 0 && hash.Cmp(sh.end) <= 0
}

// openAt reports whether the shard was open at t.
func (sh *shard) openAt(t time.Time) bool {
	return !sh.created.After(t) && (sh.open() || sh.closedAt.After(t))
}

// wire returns the shard as ListShards and DescribeStream describe it.
func (sh *shard) wire() wireShard {
	w := wireShard{
		ShardID:             sh.id,
		HashKeyRange:        hashKeyRange{sh.start.String(), sh.end.String()},
		SequenceNumberRange: seqRange{StartingSequenceNumber: sh.startSeq},
	}
	if sh.parent != "" {
		w.ParentShardID = &sh.parent
	}
	if sh.adjacentParent != "" {
		w.AdjacentParentShardID = &sh.adjacentParent
	}
	if !sh.open() {
		end := sh.endSeq
		w.SequenceNumberRange.EndingSequenceNumber = &end
	}
	return w
}

// searchSeq returns the index of the first record whose sequence number
// is at least seq (after is false) or greater than seq (after is true).
func (sh *shard) searchSeq(seq string, after bool) int {
	return sort.Search(len(sh.records), func(i int) bool {
		c := seqnum.Compare(sh.records[i].seq, seq)
		return c > 0 || (c == 0 && !after)
	})
}

// searchTime returns the index of the first record that arrived at or
// after t.
func (sh *shard) searchTime(t time.Time) int {
	return sort.Search(len(sh.records), func(i int) bool { return !sh.records[i].arrival.Before(t) })
}

// stream is one Kinesis data stream.
type stream struct {
	name      string
	arn       string
	gen       uint64 // distinguishes re-created streams of the same name
	mode      string
	created   time.Time
	shards    []*shard
	byID      map[string]*shard
	consumers []*consumer
}

// openShards returns the open shards in hash key order.
func (st *stream) openShards() []*shard {
	var out []*shard
	for _, sh := range st.shards {
		if sh.open() {
			out = append(out, sh)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].start.Cmp(out[j].start) < 0 })
	return out
}

// route returns the open shard whose range holds hash.
func (st *stream) route(hash *big.Int) *shard {
	for _, sh := range st.shards {
		if sh.open() && sh.contains(hash) {
			return sh
		}
	}
	return nil
}

// childShards returns the children of a closed shard as GetRecords and
// SubscribeToShard report them at its end.
func (st *stream) childShards(sh *shard) []wireChildShard {
	var out []wireChildShard
	for _, id := range sh.children {
		c := st.byID[id]
		parents := []string{c.parent}
		if c.adjacentParent != "" {
			parents = append(parents, c.adjacentParent)
		}
		out = append(out, wireChildShard{
			ShardID:      c.id,
			ParentShards: parents,
			HashKeyRange: hashKeyRange{c.start.String(), c.end.String()},
		})
	}
	return out
}

// shardID formats a shard index the AWS way.
func shardID(i int) string { return fmt.Sprintf("shardId-%012d", i) }

// hashKey is the 128-bit hash key of a partition key: its MD5 read as a
// big-endian unsigned integer.
func hashKey(partitionKey string) *big.Int {
	sum := md5.Sum([]byte(partitionKey))
	return new(big.Int).SetBytes(sum[:])
}

// parseHashKey parses a decimal hash key in [0, 2^128-1].
func parseHashKey(s string) (*big.Int, bool) {
	if !seqPattern.MatchString(s) {
		return nil, false
	}
	v, ok := new(big.Int).SetString(s, 10)
	if !ok || v.Cmp(maxHashKey) > 0 {
		return nil, false
	}
	return v, true
}

// uniformRanges splits the hash key space into n contiguous ranges the
// way AWS does for a new stream.
func uniformRanges(n int) [][2]*big.Int {
	space := new(big.Int).Add(maxHashKey, big.NewInt(1))
	step := new(big.Int).Div(space, big.NewInt(int64(n)))
	out := make([][2]*big.Int, n)
	for i := range n {
		lo := new(big.Int).Mul(step, big.NewInt(int64(i)))
		hi := new(big.Int).Sub(new(big.Int).Add(lo, step), big.NewInt(1))
		if i == n-1 {
			hi = new(big.Int).Set(maxHashKey)
		}
		out[i] = [2]*big.Int{lo, hi}
	}
	return out
}

// formatSeq builds a 56-digit sequence number from the server-wide counter
// (which makes it unique and increasing) and the shard index.
func formatSeq(counter uint64, shardIndex int) string {
	return fmt.Sprintf("49%030d%024d", counter, shardIndex)
}

// seqShardIndex returns the shard index embedded in a sequence number this
// server issued, or -1.
func seqShardIndex(seq string) int {
	if len(seq) != 56 || seq[:2] != "49" {
		return -1
	}
	var idx int
	if _, err := fmt.Sscanf(seq[32:], "%d", &idx); err != nil {
		return -1
	}
	return idx
}
