package fakekinesis

import "time"

// Per-shard limits AWS documents for provisioned streams.
const (
	getRecordsPerSecond    = 5
	readBytesPerSecond     = 2 << 20
	writeBytesPerSecond    = 1 << 20
	writeRecordsPerSecond  = 1000
	iteratorsPerSecond     = 5
	maxGetRecordsBytes     = 10 << 20
	maxGetRecordsRecords   = 10000
	maxRecordBytes         = 1 << 20
	maxPutRecordsEntries   = 500
	maxPutRecordsBytes     = 5 << 20
	maxConsumersPerStream  = 20
	subscribeReuseInterval = 5 * time.Second
)

// bucket is a token bucket. Tokens may go negative, which is how a large
// GetRecords response blocks the shard's reads for a while (AWS: "after a
// 10 MiB call, calls in the next 5 s fail").
type bucket struct {
	tokens float64
	last   time.Time
}

// refill adds the tokens earned since the last call, up to capacity.
func (b *bucket) refill(now time.Time, rate, capacity float64) {
	if b.last.IsZero() {
		b.tokens, b.last = capacity, now
		return
	}
	if d := now.Sub(b.last); d > 0 {
		b.tokens += d.Seconds() * rate
		if b.tokens > capacity {
			b.tokens = capacity
		}
		b.last = now
	}
}

// take removes n tokens if that many are there.
func (b *bucket) take(now time.Time, n, rate, capacity float64) bool {
	b.refill(now, rate, capacity)
	if b.tokens < n {
		return false
	}
	b.tokens -= n
	return true
}

// shardQuotas holds the throughput state of one shard.
type shardQuotas struct {
	getRecords   bucket
	readBytes    bucket
	writeBytes   bucket
	writeRecords bucket
	iterators    bucket
}

// allowGetRecords admits one GetRecords call: the shard must have a call
// left this second and no read-byte debt.
func (q *shardQuotas) allowGetRecords(now time.Time) bool {
	q.readBytes.refill(now, readBytesPerSecond, readBytesPerSecond)
	if q.readBytes.tokens < 0 {
		return false
	}
	return q.getRecords.take(now, 1, getRecordsPerSecond, getRecordsPerSecond)
}

// chargeRead charges a GetRecords response of n bytes, possibly into debt.
func (q *shardQuotas) chargeRead(n int) { q.readBytes.tokens -= float64(n) }

// allowWrite admits one record of n bytes.
func (q *shardQuotas) allowWrite(now time.Time, n int) bool {
	q.writeBytes.refill(now, writeBytesPerSecond, writeBytesPerSecond)
	q.writeRecords.refill(now, writeRecordsPerSecond, writeRecordsPerSecond)
	if q.writeBytes.tokens < float64(n) || q.writeRecords.tokens < 1 {
		return false
	}
	q.writeBytes.tokens -= float64(n)
	q.writeRecords.tokens--
	return true
}

// allowIterator admits one GetShardIterator call.
func (q *shardQuotas) allowIterator(now time.Time) bool {
	return q.iterators.take(now, 1, iteratorsPerSecond, iteratorsPerSecond)
}

// SetQuotas turns the per-shard throughput limits on or off while the
// server runs (see WithQuotas). Either way every shard starts a new quota
// period: full buckets and no debt, as after a long pause. Benchmarks call
// it between runs so that each run starts from the same state.
func (s *Server) SetQuotas(on bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.opts.quotas = on
	for _, st := range s.streams {
		for _, sh := range st.shards {
			sh.q = shardQuotas{}
		}
	}
}
