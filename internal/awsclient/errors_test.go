package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"syscall"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

func TestClassify(t *testing.T) {
	resp := func(code int) error {
		return &smithyhttp.ResponseError{Response: &smithyhttp.Response{Response: &http.Response{StatusCode: code}}, Err: errors.New("x")}
	}
	for _, tc := range []struct {
		name string
		err  error
		want Class
	}{
		{"expired iterator, wrapped", fmt.Errorf("get records: %w", &types.ExpiredIteratorException{}), ExpiredIterator},
		{"throughput", &types.ProvisionedThroughputExceededException{}, Throttled},
		{"limit", &types.LimitExceededException{}, Throttled},
		{"kms throttling", &types.KMSThrottlingException{}, Throttled},
		{"generic throttling", &smithy.GenericAPIError{Code: "ThrottlingException"}, Throttled},
		{"429", resp(429), Throttled},
		{"internal failure", &types.InternalFailureException{}, Transient},
		{"503", resp(503), Transient},
		{"500", resp(500), Transient},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), Transient},
		{"net", &net.OpError{Op: "dial", Err: errors.New("refused")}, Transient},
		{"deadline", context.DeadlineExceeded, Transient},
		{"resource in use", &types.ResourceInUseException{}, Transient},
		{"not found", &types.ResourceNotFoundException{}, Permanent},
		{"access denied", &types.AccessDeniedException{}, Permanent},
		{"kms denied", &types.KMSAccessDeniedException{}, Permanent},
		{"bad arg", &types.InvalidArgumentException{}, Permanent},
		{"credentials", errors.New("operation error Kinesis: GetRecords, get identity: get credentials: failed to refresh cached credentials"), Permanent},
		{"403", resp(403), Permanent},
		{"SDK validation, wrapped", sdkValidation(), Permanent},
		{"canceled", fmt.Errorf("x: %w", context.Canceled), Canceled},
		{"unknown", errors.New("something odd"), Transient},
	} {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("%s: Classify(%v) = %v, want %v", tc.name, tc.err, got, tc.want)
		}
	}
}

// sdkValidation is the error the SDK's parameter validation returns for a
// PutRecords entry without data, wrapped as the SDK wraps it.
func sdkValidation() error {
	params := smithy.InvalidParamsError{Context: "PutRecordsInput"}
	params.Add(smithy.NewErrParamRequired("Records[2].Data"))
	return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: params}
}

func TestIsInvalidRequest(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{sdkValidation(), true},
		{fmt.Errorf("x: %w", &smithy.GenericAPIError{Code: "ValidationException"}), true},
		{&smithy.GenericAPIError{Code: "SerializationException"}, true},
		{&types.InvalidArgumentException{}, true},
		{&types.AccessDeniedException{}, false},
		{&types.ResourceNotFoundException{}, false},
		{&types.InternalFailureException{}, false},
		{errors.New("missing required field"), false},
	} {
		if got := IsInvalidRequest(tc.err); got != tc.want {
			t.Errorf("IsInvalidRequest(%v) = %v, want %v", tc.err, got, tc.want)
		}
	}
}

func TestParseStream(t *testing.T) {
	s, err := ParseStream("arn:aws:kinesis:eu-west-1:123456789012:stream/orders")
	if err != nil || s.Name != "orders" || s.Region != "eu-west-1" || s.ARN == "" {
		t.Errorf("ParseStream(ARN) = %+v, %v", s, err)
	}
	if name, arn := s.Ref(); name != nil || arn == nil {
		t.Errorf("Ref of an ARN stream sets the name")
	}
	s, err = ParseStream("orders.v2_x-1")
	if err != nil || s.Name != "orders.v2_x-1" || s.ARN != "" {
		t.Errorf("ParseStream(name) = %+v, %v", s, err)
	}
	for _, bad := range []string{"", "a b", "arn:aws:s3:::bucket", "arn:aws:kinesis:us-east-1:1:table/x", "arn:aws:kinesis::1:stream/x"} {
		if _, err := ParseStream(bad); err == nil {
			t.Errorf("ParseStream(%q) accepted", bad)
		}
	}
}
