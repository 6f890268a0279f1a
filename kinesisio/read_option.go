package kinesisio

import (
	"fmt"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
)

// ReadOption configures Read. Options are checked when the pipeline is
// built; a bad one makes Read fail with an error that wraps
// ErrInvalidOption and names the option.
type ReadOption interface {
	applyRead(*readConfig) error
}

type readOptionFunc func(*readConfig) error

func (f readOptionFunc) applyRead(c *readConfig) error { return f(c) }

// ConnectionOption says where and how to reach Kinesis: WithRegion,
// WithEndpoint, WithProfile and WithAssumeRole. It is both a ReadOption and
// a WriteOption, so one list of them serves Read and Write.
type ConnectionOption func(*awsclient.Settings) error

func (o ConnectionOption) applyRead(c *readConfig) error   { return o(&c.client) }
func (o ConnectionOption) applyWrite(c *writeConfig) error { return o(&c.client) }

// EventTime says which time Read stamps on each record.
type EventTime int

const (
	// ArrivalTime stamps each record with its ApproximateArrivalTimestamp
	// (the default).
	ArrivalTime EventTime = iota
	// ProcessingTime stamps each record with the time Read emits it.
	ProcessingTime
)

type readConfig struct {
	start        StartPosition
	client       awsclient.Settings
	eventTime    EventTime
	timestampFn  string
	eventDelay   time.Duration // how far event times may trail arrival
	idleSkew     time.Duration
	quotaShare   float64
	unpaced      bool
	maxBuffered  int64
	perCall      int32
	idlePoll     time.Duration
	stopAtLatest bool
	maxRecords   int64
	maxReadTime  time.Duration

	discoveryInterval time.Duration
	pageSize          int32
}

func defaultReadConfig() readConfig {
	return readConfig{
		idleSkew:    time.Second,
		quotaShare:  1,
		maxBuffered: 8 << 20,
		perCall:     10000,
		idlePoll:    250 * time.Millisecond,

		discoveryInterval: time.Second,
	}
}

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithStartPosition sets where reading starts in each shard (default
// TrimHorizon()).
func WithStartPosition(p StartPosition) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if err := p.validate(); err != nil {
			return invalid("WithStartPosition", "%v", err)
		}
		c.start = p
		return nil
	})
}

// WithRegion sets the AWS region (default: from a stream ARN, else the
// workers' default chain, e.g. AWS_REGION). With a stream ARN it must be
// the ARN's region, or be left out.
func WithRegion(region string) ConnectionOption {
	return func(s *awsclient.Settings) error {
		if region == "" {
			return invalid("WithRegion", "empty region")
		}
		s.Region = region
		return nil
	}
}

// WithEndpoint sets the Kinesis endpoint URL, for emulators and VPC
// endpoints (default: the AWS endpoint of the region).
func WithEndpoint(url string) ConnectionOption {
	return func(s *awsclient.Settings) error {
		if url == "" {
			return invalid("WithEndpoint", "empty URL")
		}
		s.Endpoint = url
		return nil
	}
}

// WithProfile selects a named profile of the workers' shared AWS config.
func WithProfile(name string) ConnectionOption {
	return func(s *awsclient.Settings) error {
		if name == "" {
			return invalid("WithProfile", "empty profile name")
		}
		s.Profile = name
		return nil
	}
}

// WithAssumeRole makes the workers assume roleARN (with the credentials of
// their default chain) before calling Kinesis: the way to read a stream of
// another account. externalID may be empty. Only the ARN and the external
// ID enter the pipeline; no secret does.
func WithAssumeRole(roleARN, externalID string) ConnectionOption {
	return func(s *awsclient.Settings) error {
		if len(roleARN) < 20 || roleARN[:4] != "arn:" {
			return invalid("WithAssumeRole", "%q is not a role ARN", roleARN)
		}
		s.RoleARN, s.ExternalID = roleARN, externalID
		return nil
	}
}

// WithEventTime selects ArrivalTime (default) or ProcessingTime.
func WithEventTime(t EventTime) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if t != ArrivalTime && t != ProcessingTime {
			return invalid("WithEventTime", "unknown policy %d", t)
		}
		c.eventTime = t
		return nil
	})
}

// WithTimestampFn stamps each record with fn(record), for event times
// the producer put in the records. fn must be a top-level function
// registered with beam.RegisterFunction in an init() function, so that
// workers in other processes can find it.
//
// maxDelay (0 or more) bounds how far a record's event time may be
// behind its arrival in Kinesis (ApproximateArrivalTimestamp): the time a
// producer may take to put a record, retries and batching included. The
// contract: a record whose fn(record) is no earlier than its arrival time
// less maxDelay is never late downstream, whatever order the event times
// come in (Flink calls this bounded out-of-orderness). Records further
// behind may be late. The watermark trails arrival time by maxDelay, on
// idle shards too, so windows close about maxDelay later than with
// arrival times.
func WithTimestampFn(fn func(Record) time.Time, maxDelay time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if fn == nil {
			return invalid("WithTimestampFn", "nil function")
		}
		if maxDelay < 0 {
			return invalid("WithTimestampFn", "negative maximum delay %v", maxDelay)
		}
		name := reflectx.FunctionName(fn)
		if _, err := runtime.ResolveFunction(name, reflect.TypeOf(fn)); err != nil {
			return invalid("WithTimestampFn", "%s is not registered: call beam.RegisterFunction(%s) in an init() function", name, name)
		}
		c.timestampFn, c.eventDelay = name, maxDelay
		return nil
	})
}

// WithIdleWatermarkSkew sets how far behind the time of a call that found
// a shard caught up the watermark moves (default 1 s). It covers clock
// skew between workers and Kinesis.
func WithIdleWatermarkSkew(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if d < 0 {
			return invalid("WithIdleWatermarkSkew", "negative duration %v", d)
		}
		c.idleSkew = d
		return nil
	})
}

// WithReadQuotaShare limits Read to a share (0 < share <= 1) of each
// shard's polling quota (5 GetRecords calls and 2 MiB per second), leaving
// the rest to other consumers of the stream. Default 1.
func WithReadQuotaShare(share float64) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if !(share > 0 && share <= 1) {
			return invalid("WithReadQuotaShare", "share %v is not in (0, 1]", share)
		}
		c.quotaShare = share
		return nil
	})
}

// WithoutQuotaPacing turns off Read's own pacing. By default each shard
// stays within its polling quota as Kinesis accounts for it: at most 5
// GetRecords calls per second, and 2 MiB per second with one second's
// worth granted at once (a 10 MiB call is followed by about 5 s without
// calls), so that Read is never throttled and takes nothing from other
// consumers. Without pacing a shard calls again as soon as a call returned
// records and waits only after an empty call (WithIdlePollInterval) or a
// throttled one (backoff), which is what Beam Java's KinesisIO does by
// default.
//
// It is for servers that do not enforce quotas (emulators, LocalStack),
// where it reads as fast as the server answers. Against Kinesis it gains
// nothing but throttled calls, which also count against other consumers of
// the shard. It cannot be combined with WithReadQuotaShare.
func WithoutQuotaPacing() ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		c.unpaced = true
		return nil
	})
}

// WithMaxBufferedBytes bounds the bytes fetched ahead per shard (default
// 8 MiB, at least 1 MiB: one record may be that large). One call may
// overshoot it by up to what the call returned.
func WithMaxBufferedBytes(n int64) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if n < 1<<20 {
			return invalid("WithMaxBufferedBytes", "%d bytes is below 1 MiB", n)
		}
		c.maxBuffered = n
		return nil
	})
}

// WithRecordsPerCall sets the GetRecords Limit (1 to 10000, default 10000).
func WithRecordsPerCall(n int) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if n < 1 || n > 10000 {
			return invalid("WithRecordsPerCall", "%d is not in [1, 10000]", n)
		}
		c.perCall = int32(n)
		return nil
	})
}

// WithIdlePollInterval sets the wait after a GetRecords call that returned
// nothing (default 250 ms). Calls never exceed the quota either way.
func WithIdlePollInterval(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if d < 0 {
			return invalid("WithIdlePollInterval", "negative duration %v", d)
		}
		c.idlePoll = d
		return nil
	})
}

// WithStopAtLatest makes the read bounded: each shard ends at the tip it
// had when the job started. Every record that arrived before the start is
// read; a shard ends when a call made after the start finds it caught up,
// or at its first record that arrived more than 2 s after the start (an
// allowance for clocks that differ), so a few records that arrived just
// after the start may be read too.
func WithStopAtLatest() ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		c.stopAtLatest = true
		return nil
	})
}

// WithMaxRecords makes the read bounded: it ends once n records were
// emitted. The count is kept per worker process and per run of the
// pipeline: exact on Prism and in tests (a pipeline run twice reads n
// records each time), approximate (each worker stops at n) on a runner
// with several workers.
func WithMaxRecords(n int64) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if n <= 0 {
			return invalid("WithMaxRecords", "%d is not positive", n)
		}
		c.maxRecords = n
		return nil
	})
}

// WithMaxReadTime makes the read bounded: each shard ends d after the job
// started.
func WithMaxReadTime(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if d <= 0 {
			return invalid("WithMaxReadTime", "%v is not positive", d)
		}
		c.maxReadTime = d
		return nil
	})
}

func (c readConfig) bounded() bool {
	return c.stopAtLatest || c.maxRecords > 0 || c.maxReadTime > 0
}

// WithShardDiscoveryInterval sets how often the stream is listed for new
// shards (default 1 s; at least 100 ms). New shards are read as soon as
// they are found, and the watermark waits for each listing, so a longer
// interval delays both. A listing asks only for shards newer than the
// last one found.
func WithShardDiscoveryInterval(d time.Duration) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if d < 100*time.Millisecond {
			return invalid("WithShardDiscoveryInterval", "%v is below 100 ms", d)
		}
		c.discoveryInterval = d
		return nil
	})
}

// WithShardListPageSize sets the ListShards page size (1 to 10000;
// default: the service's, 1000). Mostly for tests of paging.
func WithShardListPageSize(n int) ReadOption {
	return readOptionFunc(func(c *readConfig) error {
		if n < 1 || n > 10000 {
			return invalid("WithShardListPageSize", "%d is not in [1, 10000]", n)
		}
		c.pageSize = int32(n)
		return nil
	})
}

// streamSettings returns the connection settings for stream: a stream
// ARN gives the region, and a WithRegion naming another one is refused
// (the calls would go to a region where the stream is not).
func streamSettings(stream awsclient.Stream, s awsclient.Settings) (awsclient.Settings, error) {
	switch {
	case stream.Region == "":
	case s.Region == "":
		s.Region = stream.Region
	case s.Region != stream.Region:
		return s, invalid("WithRegion", "region %q is not the region of stream ARN %s (%s): leave WithRegion out, the ARN gives the region", s.Region, stream.ARN, stream.Region)
	}
	return s, nil
}
