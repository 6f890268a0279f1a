package checkpoint

import (
	"context"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// NewDynamoDBWithin is NewDynamoDB with reach as the bound on retrying
// transient errors while opening.
func NewDynamoDBWithin(ctx context.Context, table string, conn awsclient.Settings, reach time.Duration) (Store, error) {
	o := defaultDynamoOptions
	o.reach = reach
	return newDynamoDB(ctx, table, conn, o)
}

// NewDynamoDBPaged is NewDynamoDB with Query pages of at most limit items.
func NewDynamoDBPaged(ctx context.Context, table string, conn awsclient.Settings, limit int32) (Store, error) {
	o := defaultDynamoOptions
	o.queryLimit = limit
	return newDynamoDB(ctx, table, conn, o)
}
