package kinesisio_test

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

func unregisteredTimestamp(kinesisio.Record) time.Time { return time.Time{} }

func TestInvalidOptionsAreRejectedAtConstruction(t *testing.T) {
	for _, tc := range []struct {
		stream string
		opt    kinesisio.ReadOption
		want   string // the option named in the error
	}{
		{"s", kinesisio.Connection{RoleARN: "role"}, "Connection"},
		{"s", kinesisio.Connection{ExternalID: "ext"}, "Connection"},
		{"s", kinesisio.WithTimestampFn(nil, 0), "nil function"},
		{"s", kinesisio.WithTimestampFn(unregisteredTimestamp, 0), "beam.RegisterFunction"},
		{"s", kinesisio.WithTimestampFn(registeredTimestamp, -time.Second), "negative maximum delay"},
		{"s", kinesisio.WithIdleWatermarkSkew(-time.Second), "WithIdleWatermarkSkew"},
		{"s", kinesisio.Polling{QuotaShare: -0.1}, "Polling"},
		{"s", kinesisio.Polling{QuotaShare: 1.5}, "Polling"},
		{"s", kinesisio.Polling{QuotaShare: 0.5, Unpaced: true}, "Polling"},
		{"s", kinesisio.WithMaxBufferedBytes(1000), "WithMaxBufferedBytes"},
		{"s", kinesisio.Polling{RecordsPerCall: -1}, "Polling"},
		{"s", kinesisio.Polling{RecordsPerCall: 10001}, "Polling"},
		{"s", kinesisio.Polling{IdleInterval: -1}, "Polling"},
		{"s", kinesisio.WithMaxRecords(0), "WithMaxRecords"},
		{"s", kinesisio.WithMaxReadTime(0), "WithMaxReadTime"},
		{"s", kinesisio.WithStartAtTimestamp(time.Time{}), "WithStartAtTimestamp"},
		{"s", kinesisio.WithShardPositions(map[string]kinesisio.Position{"shardId-0": kinesisio.AtSequenceNumber("12x")}), "invalid sequence number"},
		{"s", kinesisio.WithShardPositions(map[string]kinesisio.Position{"": kinesisio.AtSequenceNumber("12")}), "empty shard ID"},
		{"s", kinesisio.WithStartAtTimestamp(time.Now().Add(time.Hour)), "after now"},
		{"s", kinesisio.WithShardPositions(map[string]kinesisio.Position{"shardId-0": {}}), "not a sequence number position"},
		{"arn:aws:kinesis:eu-west-1:123456789012:stream/s", kinesisio.Connection{Region: "us-east-1"}, "not the region of stream ARN"},
		{"not a stream!", kinesisio.Connection{Region: "us-east-1"}, "invalid stream name"},
		{"arn:aws:kinesis:us-east-1:123:table/x", kinesisio.Connection{Region: "us-east-1"}, "not a Kinesis stream ARN"},
		{"s", kinesisio.WithCheckpoints("", kinesisio.LocalDirectory("/tmp/x")), "invalid application name"},
		{"s", kinesisio.WithCheckpoints("a/b", kinesisio.LocalDirectory("/tmp/x")), "invalid application name"},
		{"s", kinesisio.WithCheckpoints("app", kinesisio.CheckpointStore{}), "no store"},
		{"s", kinesisio.WithCheckpoints("app", kinesisio.LocalDirectory("")), "empty directory"},
		{"s", kinesisio.WithCheckpoints("app", kinesisio.DynamoDBTable("x")), "invalid DynamoDB table name"},
		{"s", kinesisio.WithCheckpoints("app", kinesisio.DynamoDBTable("table", kinesisio.Connection{ExternalID: "ext"})), "Connection"},
		{"s", kinesisio.WithCommitInterval(time.Millisecond), "WithCommitInterval"},
		{"s", kinesisio.WithCommitsAfterSink(), "needs WithCheckpoints"},
	} {
		_, s := beam.NewPipelineWithRoot()
		_, err := kinesisio.TryRead(s, tc.stream, tc.opt)
		if !errors.Is(err, kinesisio.ErrInvalidOption) {
			t.Errorf("%s: TryRead error %v does not wrap ErrInvalidOption", tc.want, err)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %q does not name %q", err, tc.want)
		}
	}
}

func TestValidOptionsBuildAPipeline(t *testing.T) {
	_, s := beam.NewPipelineWithRoot()
	col, err := kinesisio.TryRead(s, "arn:aws:kinesis:eu-west-1:123456789012:stream/orders",
		kinesisio.WithShardPositions(map[string]kinesisio.Position{
			"shardId-000000000001": kinesisio.AfterSequenceNumber("49590338271490256608559692538361571095921575989136588898"),
		}),
		kinesisio.WithStartAtLatest(),
		kinesisio.Connection{RoleARN: "arn:aws:iam::123456789012:role/reader", ExternalID: "ext"},
		kinesisio.WithTimestampFn(registeredTimestamp, 0),
		kinesisio.Polling{QuotaShare: 0.5},
		kinesisio.WithMaxBufferedBytes(4<<20),
	)
	if err != nil || !col.IsValid() {
		t.Fatalf("TryRead = %v, %v", col, err)
	}
}

func TestReadPanicsWithTheOptionError(t *testing.T) {
	defer func() {
		r := recover()
		err, ok := r.(error)
		if !ok || !errors.Is(err, kinesisio.ErrInvalidOption) {
			t.Errorf("Read panicked with %v, want an ErrInvalidOption error", r)
		}
	}()
	_, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "s", kinesisio.Polling{RecordsPerCall: -1})
}

// TestOptionErrorNamesTheOption checks that an invalid option's error is
// an *OptionError naming the option, for tools that map options back to
// their own settings (the word count maps them to its flags).
func TestOptionErrorNamesTheOption(t *testing.T) {
	for _, tc := range []struct {
		stream         string
		opt            kinesisio.ReadOption
		option, reason string
	}{
		{"s", kinesisio.WithMaxRecords(-5), "WithMaxRecords", "-5 is not positive"},
		{"s", kinesisio.WithStartAtTimestamp(time.Date(2099, 1, 1, 0, 0, 0, 0, time.UTC)), "WithStartAtTimestamp", "start time 2099-01-01T00:00:00Z is "},
		{"arn:aws:kinesis:eu-west-1:123456789012:stream/s", kinesisio.Connection{Region: "us-east-1"}, "Connection", `region "us-east-1" is not the region of stream ARN arn:aws:kinesis:eu-west-1:123456789012:stream/s (eu-west-1): leave the region out, the ARN gives it`},
		{"not a stream!", kinesisio.Connection{Region: "us-east-1"}, "stream", `invalid stream name "not a stream!"`},
		{"s", kinesisio.WithCheckpoints("app", kinesisio.DynamoDBTable("x")), "WithCheckpoints", `invalid DynamoDB table name "x"`},
	} {
		_, s := beam.NewPipelineWithRoot()
		_, err := kinesisio.TryRead(s, tc.stream, tc.opt)
		var oe *kinesisio.OptionError
		if !errors.As(err, &oe) {
			t.Errorf("%s: TryRead error %v is not an *OptionError", tc.option, err)
			continue
		}
		if oe.Option != tc.option || !strings.HasPrefix(oe.Reason, tc.reason) || strings.Contains(oe.Reason, "With") {
			t.Errorf("OptionError{%q, %q}, want option %q and a reason starting %q, naming no option", oe.Option, oe.Reason, tc.option, tc.reason)
		}
		if !errors.Is(err, kinesisio.ErrInvalidOption) || err.Error() != "kinesisio: invalid option: "+oe.Option+": "+oe.Reason {
			t.Errorf("error %q: want ErrInvalidOption and %q", err, "kinesisio: invalid option: "+oe.Option+": "+oe.Reason)
		}
	}
}

// TestInvalidSubSequenceNumbersAreRefused: AfterSubSequenceNumber takes
// the sub-sequence number of a user record (0 or more); one with no next
// user record (math.MaxInt64) cannot be resumed after. Each is refused
// when the pipeline is built, and the error names the number given (it
// used to be sub+1, overflowed for math.MaxInt64; -1 was read as
// AtSequenceNumber).
func TestInvalidSubSequenceNumbersAreRefused(t *testing.T) {
	for _, sub := range []int64{-1, -2, math.MinInt64, math.MaxInt64} {
		_, s := beam.NewPipelineWithRoot()
		_, err := kinesisio.TryRead(s, "s", kinesisio.WithShardPositions(map[string]kinesisio.Position{
			"shardId-0": kinesisio.AfterSubSequenceNumber("12", sub),
		}))
		want := fmt.Sprintf("AfterSubSequenceNumber(12, %d)", sub)
		if !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), want) {
			t.Errorf("sub %d: TryRead error %v, want an ErrInvalidOption naming %q", sub, err, want)
		}
	}
	for _, sub := range []int64{0, 1, math.MaxInt64 - 1} {
		_, s := beam.NewPipelineWithRoot()
		if _, err := kinesisio.TryRead(s, "s", kinesisio.WithShardPositions(map[string]kinesisio.Position{
			"shardId-0": kinesisio.AfterSubSequenceNumber("12", sub),
		})); err != nil {
			t.Errorf("sub %d: TryRead: %v", sub, err)
		}
	}
}
