package checkpoint_test

import (
	"context"
	"errors"
	"hash/crc32"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// faultServer answers DynamoDB calls for which fault returns a status
// with an error of that code, and forwards the others to target (when
// not nil).
func faultServer(t *testing.T, target string, fault func(op string) (int, string)) string {
	t.Helper()
	var proxy http.Handler = http.NotFoundHandler()
	if target != "" {
		u, err := url.Parse(target)
		if err != nil {
			t.Fatal(err)
		}
		proxy = httputil.NewSingleHostReverseProxy(u)
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := strings.TrimPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_20120810.")
		if status, code := fault(op); status != 0 {
			body := []byte(`{"__type":"com.amazonaws.dynamodb.v20120810#` + code + `","message":"injected by the test"}`)
			w.Header().Set("Content-Type", "application/x-amz-json-1.0")
			// The SDK checks DynamoDB's checksum of the body.
			w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE(body)), 10))
			w.WriteHeader(status)
			w.Write(body)
			return
		}
		proxy.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestDynamoDBOpenRetriesThrottling(t *testing.T) {
	var n atomic.Int32
	endpoint := faultServer(t, dynalite(t).Endpoint, func(op string) (int, string) {
		if n.Add(1) <= 3 {
			return 400, "ThrottlingException"
		}
		return 0, ""
	})
	s, err := checkpoint.NewDynamoDBWithin(context.Background(), freshTable(t), awsclient.Settings{Region: "us-east-1", Endpoint: endpoint}, 20*time.Second)
	if err != nil {
		t.Fatalf("NewDynamoDB through 3 throttled calls: %v", err)
	}
	s.Close()
}

func TestDynamoDBOpenGivesUpOn5xx(t *testing.T) {
	var n atomic.Int32
	endpoint := faultServer(t, "", func(op string) (int, string) {
		n.Add(1)
		return 500, "InternalServerError"
	})
	_, err := checkpoint.NewDynamoDBWithin(context.Background(), "ckpt-5xx", awsclient.Settings{Region: "us-east-1", Endpoint: endpoint}, time.Second)
	if err == nil || !strings.Contains(err.Error(), "no answer within 1s") || !strings.Contains(err.Error(), "ckpt-5xx") {
		t.Errorf("NewDynamoDB on a failing server = %v, want no answer within 1s", err)
	}
	if n.Load() < 2 {
		t.Errorf("%d calls, want retries", n.Load())
	}
}

func TestDynamoDBOpenFailsFastOnAccessDenied(t *testing.T) {
	endpoint := faultServer(t, "", func(op string) (int, string) { return 400, "AccessDeniedException" })
	start := time.Now()
	_, err := checkpoint.NewDynamoDBWithin(context.Background(), "ckpt-denied", awsclient.Settings{Region: "us-east-1", Endpoint: endpoint}, 20*time.Second)
	if err == nil || !strings.Contains(err.Error(), "AccessDeniedException") || !strings.Contains(err.Error(), "credentials") {
		t.Errorf("NewDynamoDB when access is denied = %v", err)
	}
	if took := time.Since(start); took > 5*time.Second {
		t.Errorf("gave up after %v; a permanent error should not be retried", took)
	}
}

// TestDynamoDBThrottledCommit throttles every PutItem: Commit fails with
// an error IsThrottle recognizes, once the SDK's attempts are spent.
func TestDynamoDBThrottledCommit(t *testing.T) {
	var throttle atomic.Bool
	var puts atomic.Int32
	endpoint := faultServer(t, dynalite(t).Endpoint, func(op string) (int, string) {
		if op == "PutItem" && throttle.Load() {
			puts.Add(1)
			return 400, "ProvisionedThroughputExceededException"
		}
		return 0, ""
	})
	s := openDynamoDB(t, freshTable(t), awsclient.Settings{Region: "us-east-1", Endpoint: endpoint})
	ctx := context.Background()
	l, err := s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	throttle.Store(true)
	err = s.Commit(ctx, l, checkpoint.Checkpoint{Stream: "s", ShardID: "x", Seq: "1"})
	if !checkpoint.IsThrottle(err) {
		t.Fatalf("Commit when throttled = %v, want IsThrottle", err)
	}
	var pt *types.ProvisionedThroughputExceededException
	if !errors.As(err, &pt) {
		t.Errorf("Commit error %v is not a ProvisionedThroughputExceededException", err)
	}
	t.Logf("%d PutItem calls: %v", puts.Load(), err)
	throttle.Store(false)
	if err := s.Commit(ctx, l, checkpoint.Checkpoint{Stream: "s", ShardID: "x", Seq: "1"}); err != nil {
		t.Errorf("Commit after throttling: %v", err)
	}
}
