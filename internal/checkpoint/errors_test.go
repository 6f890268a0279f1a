package checkpoint_test

import (
	"errors"
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

func TestIsThrottle(t *testing.T) {
	for _, tc := range []struct {
		err  error
		want bool
	}{
		{&types.ProvisionedThroughputExceededException{}, true},
		{&types.RequestLimitExceeded{}, true},
		{&types.ThrottlingException{}, true},
		{&smithy.GenericAPIError{Code: "ThrottlingException"}, true},
		{fmt.Errorf("checkpoint: commit: %w", &smithy.OperationError{ServiceID: "DynamoDB", OperationName: "PutItem",
			Err: &retry.MaxAttemptsError{Attempt: 3, Err: &types.ProvisionedThroughputExceededException{}}}), true},
		{&types.ConditionalCheckFailedException{}, false},
		{&types.ResourceNotFoundException{}, false},
		{&smithy.GenericAPIError{Code: "ValidationException"}, false},
		{errors.New("ThrottlingException"), false}, // no string matching
		{checkpoint.ErrFenced, false},
		{nil, false},
	} {
		if got := checkpoint.IsThrottle(tc.err); got != tc.want {
			t.Errorf("IsThrottle(%T %v) = %v, want %v", tc.err, tc.err, got, tc.want)
		}
	}
}
