package fetcher

import (
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// Batch is the result of one successful GetRecords call, or one
// SubscribeToShardEvent with enhanced fan-out, its records expanded into
// user records (KPL aggregates de-aggregated).
type Batch struct {
	Records []Entry
	Next    int // index of the first record not yet consumed
	// Fetched is the number of Kinesis records the call or event held.
	Fetched int

	// CallStart is when the call that returned the batch was sent (with
	// fan-out, when the event was received). A record that the call did
	// not return arrived after about this time.
	CallStart time.Time
	// MillisBehindLatest as reported, or -1 when absent.
	MillisBehindLatest int64
	// ShardEnd is set when the shard is closed and this was its last batch.
	ShardEnd    bool
	ChildShards []types.ChildShard

	bytes int64
}

// CaughtUp reports evidence that the reader was at the tip of the shard
// when the call was made: no records and MillisBehindLatest == 0. Zero
// alone is no evidence (kinesalite always reports it).
func (b *Batch) CaughtUp() bool {
	return b.Fetched == 0 && b.MillisBehindLatest == 0
}
