package checkpoint

import (
	"errors"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/aws/smithy-go"
)

// throttleCodes are the error codes by which DynamoDB asks a caller to
// slow down.
var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"RequestLimitExceeded":                   true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
}

// IsThrottle reports whether err, or an error it wraps, is DynamoDB
// throttling a call (ProvisionedThroughputExceededException,
// RequestLimitExceeded, ThrottlingException), so that callers can count
// throttled commits. Errors of the directory store are never throttling.
func IsThrottle(err error) bool {
	var api smithy.APIError
	return errors.As(err, &api) && throttleCodes[api.ErrorCode()]
}

// isConditionFailed reports a conditional write that DynamoDB refused
// because its condition did not hold.
func isConditionFailed(err error) bool {
	var cf *types.ConditionalCheckFailedException
	return errors.As(err, &cf)
}
