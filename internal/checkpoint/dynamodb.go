package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/ratelimit"
	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// dynamoStore is the Store of NewDynamoDB.
type dynamoStore struct {
	client *dynamodb.Client
	table  string
	where  string // the endpoint, or the region, for messages
	limit  int32  // items per Query page; 0: DynamoDB's 1 MB pages
}

// dynamoOptions bound the DynamoDB store's waits; tests shorten them.
type dynamoOptions struct {
	// reach bounds retrying transient errors (connection refused, 5xx,
	// throttling) until the table's first description.
	reach time.Duration
	// active bounds creating the table and waiting until it is ACTIVE.
	active time.Duration
	// retry spaces the retries of both.
	retry backoff.Policy
	// queryLimit, when not 0, caps the items of a Query page, so that
	// tests follow LastEvaluatedKey without megabytes of items.
	queryLimit int32
}

var defaultDynamoOptions = dynamoOptions{
	reach:  30 * time.Second,
	active: 2 * time.Minute,
	retry:  backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second},
}

// Bounds of the store's loops.
const (
	// sdkAttempts is how often the SDK sends a call of a store operation
	// (retrying transient errors and throttling). Every conditional write
	// of the store may be repeated safely: a repeat that finds its own
	// write fails its condition, and the store then reads and decides
	// again.
	sdkAttempts = 3
	// casAttempts bounds the read-then-conditional-write loops of Acquire
	// and Set, which repeat when another writer changed the lease between
	// the read and the write.
	casAttempts = 10
	// maxPages bounds the pages of one Query (1 MB each).
	maxPages = 10000
	// batchRounds bounds the rounds of a batch call that leaves items
	// unprocessed.
	batchRounds = 12
)

// batchRetry spaces the rounds of batch calls with unprocessed items.
var batchRetry = backoff.Policy{Base: 50 * time.Millisecond, Max: 2 * time.Second}

// NewDynamoDB returns a store in the DynamoDB table table, reached with
// conn (region, endpoint, profile, role; credentials from the default
// chain of the worker). It creates the table, on demand (PAY_PER_REQUEST),
// when it is absent, and waits until it is active; an existing table whose
// key schema is not the store's (app: S, HASH; key: S, RANGE) gives an
// error wrapping ErrForeign, and nothing is written to it. Transient
// errors are retried for about 30 seconds before NewDynamoDB gives up.
func NewDynamoDB(ctx context.Context, table string, conn awsclient.Settings) (Store, error) {
	return newDynamoDB(ctx, table, conn, defaultDynamoOptions)
}

func newDynamoDB(ctx context.Context, table string, conn awsclient.Settings, o dynamoOptions) (Store, error) {
	if !tableName.MatchString(table) {
		return nil, fmt.Errorf("checkpoint: invalid DynamoDB table name %q: want 3 to 255 of [a-zA-Z0-9_.-]", table)
	}
	cfg, err := awsclient.LoadConfig(ctx, conn)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: DynamoDB table %s: %w", table, err)
	}
	s := &dynamoStore{table: table, where: "region " + cfg.Region, limit: o.queryLimit}
	if conn.Endpoint != "" {
		s.where = conn.Endpoint
	}
	s.client = dynamodb.NewFromConfig(cfg, func(opts *dynamodb.Options) {
		if conn.Endpoint != "" {
			opts.BaseEndpoint = aws.String(conn.Endpoint)
		}
		opts.Retryer = retry.NewStandard(func(so *retry.StandardOptions) {
			so.MaxAttempts = sdkAttempts
			so.MaxBackoff = time.Second
			// No client-side retry quota: one burst of errors must not
			// stop the retries of every later call (aws-sdk-go-v2 #1665).
			so.RateLimiter = ratelimit.None
		})
	})
	if err := s.ensureTable(ctx, o); err != nil {
		return nil, err
	}
	return s, nil
}

// name names the table for messages.
func (s *dynamoStore) name() string {
	return fmt.Sprintf("DynamoDB table %s (%s)", s.table, s.where)
}

// Close implements Store. The client holds only idle connections.
func (s *dynamoStore) Close() error { return nil }
