package kinesisio

import (
	"context"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// TestConsumerResolutionGivesUpWhenKinesisIsUnreachable: a fan-out
// reader's Setup that cannot reach Kinesis to resolve its consumer gives
// up after the start-up bound, naming the endpoint and region, instead of
// waiting out the consumer's activation timeout and blaming the consumer.
func TestConsumerResolutionGivesUpWhenKinesisIsUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	prev := consumerActiveTimeout
	consumerActiveTimeout = 10 * time.Second // bounds the test on a regression
	defer func() { consumerActiveTimeout = prev }()
	for _, c := range []consumerSpec{
		{Name: "app"},
		{ARN: "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/app:1700000000"},
	} {
		spec := defaultReadSpec()
		spec.ReadID = "consumer-unreachable-" + randomID()
		spec.StartupTimeout = time.Second
		spec.FanOut = c
		if spec.Conn, err = newConnection("s", awsclient.Settings{Region: "us-east-1", Endpoint: endpoint}); err != nil {
			t.Fatal(err)
		}
		stream, client, err := spec.Conn.dial(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		_, err = resolveConsumer(context.Background(), client, stream, awsclient.TargetOf(client), spec)
		if err == nil {
			t.Fatalf("%+v: resolved a consumer on a closed port", c)
		}
		t.Logf("%+v: failed after %v: %v", c, time.Since(start).Round(time.Millisecond), err)
		for _, want := range []string{"no answer from Kinesis at " + endpoint, "us-east-1", "Connection.Endpoint", "connection refused"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("%+v: the error does not mention %q", c, want)
			}
		}
	}
}
