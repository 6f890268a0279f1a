package fakekinesis

import "time"

// options configures a Server.
type options struct {
	addr             string
	region           string
	accountID        string
	quotas           bool
	iteratorTTL      time.Duration
	shardLimit       int
	subscription     time.Duration
	heartbeat        time.Duration
	onDemandShards   int
	retentionHours   int
	nextTokenTTL     time.Duration
	subscribeReuse   time.Duration
	maxRequestBytes  int64
	subscribeEventKB int
	activation       time.Duration
	noSubscribeEnd   bool
}

// defaultOptions returns the defaults NewServer starts from.
func defaultOptions() options {
	return options{
		addr:             "127.0.0.1:0",
		region:           "us-east-1",
		accountID:        "000000000000",
		iteratorTTL:      5 * time.Minute,
		shardLimit:       500,
		subscription:     5 * time.Minute,
		heartbeat:        time.Second,
		onDemandShards:   4,
		retentionHours:   24,
		nextTokenTTL:     5 * time.Minute,
		subscribeReuse:   subscribeReuseInterval,
		maxRequestBytes:  16 << 20,
		subscribeEventKB: 1 << 10,
	}
}

// Option configures a Server.
type Option func(*options)

// WithAddr sets the listen address (default "127.0.0.1:0", a free port).
func WithAddr(addr string) Option { return func(o *options) { o.addr = addr } }

// WithRegion sets the region used in ARNs (default "us-east-1").
func WithRegion(region string) Option { return func(o *options) { o.region = region } }

// WithAccountID sets the account ID used in ARNs (default "000000000000").
func WithAccountID(id string) Option { return func(o *options) { o.accountID = id } }

// WithQuotas turns the per-shard throughput limits on or off (default
// off).
func WithQuotas(on bool) Option { return func(o *options) { o.quotas = on } }

// WithIteratorTTL sets how long shard iterators stay valid (default 5
// minutes, as on AWS).
func WithIteratorTTL(d time.Duration) Option { return func(o *options) { o.iteratorTTL = d } }

// WithShardLimit sets the account's open-shard limit (default 500).
// Exceeding it gives LimitExceededException.
func WithShardLimit(n int) Option { return func(o *options) { o.shardLimit = n } }

// WithSubscriptionDuration sets how long a SubscribeToShard stream lasts
// (default 5 minutes, as on AWS).
func WithSubscriptionDuration(d time.Duration) Option {
	return func(o *options) { o.subscription = d }
}

// WithSubscriptionHeartbeat sets how often SubscribeToShard sends an
// event when no records arrive (default 1 s).
func WithSubscriptionHeartbeat(d time.Duration) Option {
	return func(o *options) { o.heartbeat = d }
}

// WithResubscribeInterval sets the window within which a second
// SubscribeToShard for the same consumer and shard gets
// ResourceInUseException (default 5 s, as on AWS).
func WithResubscribeInterval(d time.Duration) Option {
	return func(o *options) { o.subscribeReuse = d }
}

// WithConsumerActivation makes a newly registered consumer CREATING for d
// before it becomes ACTIVE (default 0: ACTIVE at once). SubscribeToShard
// with a consumer that is not ACTIVE gets ResourceInUseException, as on
// AWS.
func WithConsumerActivation(d time.Duration) Option {
	return func(o *options) { o.activation = d }
}

// WithoutSubscriptionShardEnd makes SubscribeToShard behave as
// kinesis-mock's does after a reshard: at a closed shard's end it sends no
// event with ChildShards and does not end the subscription, but goes on
// sending empty events with a continuation sequence number until the
// subscription's time is up. GetRecords still returns ChildShards and a
// nil NextShardIterator there.
func WithoutSubscriptionShardEnd() Option {
	return func(o *options) { o.noSubscribeEnd = true }
}
