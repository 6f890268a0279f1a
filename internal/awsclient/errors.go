package awsclient

import (
	"context"
	"errors"
	"io"
	"net"
	"syscall"

	"github.com/aws/aws-sdk-go-v2/aws/retry"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Class says what a caller should do about an error.
type Class int

// The classes of errors.
const (
	// Transient: retry with backoff (5xx, connection errors, timeouts).
	Transient Class = iota
	// Throttled: the service asked to slow down; retry with backoff.
	Throttled
	// ExpiredIterator: get a new iterator, then retry at once.
	ExpiredIterator
	// Permanent: retrying will not help; the user must fix something.
	Permanent
	// Canceled: the caller's context ended.
	Canceled
)

// String names the class.
func (c Class) String() string {
	return [...]string{"transient", "throttled", "expired iterator", "permanent", "canceled"}[c]
}

var permanentCodes = map[string]bool{
	"UnrecognizedClientException": true,
	"InvalidSignatureException":   true,
	"IncompleteSignature":         true,
	"MissingAuthenticationToken":  true,
	"AccessDeniedException":       true,
	"InvalidClientTokenId":        true,
	"OptInRequired":               true,
	"ValidationException":         true,
	"SerializationException":      true,
	"UnknownOperationException":   true,
	"InvalidArgumentException":    true,
	"ResourceNotFoundException":   true,
	"KMSAccessDeniedException":    true,
	"KMSDisabledException":        true,
	"KMSInvalidStateException":    true,
	"KMSNotFoundException":        true,
	"KMSOptInRequired":            true,
	"ExpiredNextTokenException":   true,
	"InvalidParameterCombination": true,
	"InvalidQueryParameter":       true,
	"MissingParameter":            true,
	"MalformedQueryString":        true,
	"RequestEntityTooLarge":       true,
	"AccessDenied":                true,
	"AuthFailure":                 true,
	"NotAuthorized":               true,
	"SignatureDoesNotMatch":       true,
	"InvalidAccessKeyId":          true,
	"UnauthorizedOperation":       true,
}

var throttleCodes = map[string]bool{
	"ProvisionedThroughputExceededException": true,
	"LimitExceededException":                 true,
	"KMSThrottlingException":                 true,
	"ThrottlingException":                    true,
	"Throttling":                             true,
	"RequestLimitExceeded":                   true,
	"TooManyRequestsException":               true,
	"SlowDown":                               true,
}

// Classify sorts err into a Class. Typed errors are matched with
// errors.As, so wrapping does not hide them (harlow/kinesis-consumer #166).
func Classify(err error) Class {
	if err == nil {
		return Transient
	}
	if errors.Is(err, context.Canceled) {
		return Canceled
	}
	// No credentials is a matter of the worker's configuration, which
	// does not change while it runs: fail at once, with what to set
	// (ExplainCredentials).
	if IsCredentialError(err) || IsInvalidRequest(err) {
		return Permanent
	}
	var expired *types.ExpiredIteratorException
	if errors.As(err, &expired) {
		return ExpiredIterator
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		code := api.ErrorCode()
		if throttleCodes[code] {
			return Throttled
		}
		if permanentCodes[code] {
			return Permanent
		}
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		switch s := resp.HTTPStatusCode(); {
		case s == 429:
			return Throttled
		case s >= 500:
			return Transient
		case s == 401 || s == 403:
			return Permanent
		}
	}
	var ne net.Error
	if errors.As(err, &ne) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, context.DeadlineExceeded) {
		return Transient
	}
	if retry.IsErrorRetryables(retry.DefaultRetryables).IsErrorRetryable(err).Bool() {
		return Transient
	}
	// Unknown errors are retried: losing a job to an error we have not
	// seen is worse than retrying it with backoff. Permanent ones are
	// listed above.
	return Transient
}

// IsInvalidRequest reports an error for a request that was refused as
// malformed: by the SDK's parameter validation before it was sent (never
// transient), or by the service (validation, serialization, invalid
// argument). Such errors are Permanent: the same request would fail
// again. The message may name the records at fault.
func IsInvalidRequest(err error) bool {
	if IsSDKValidation(err) {
		return true
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		switch api.ErrorCode() {
		case "ValidationException", "SerializationException", "InvalidArgumentException":
			return true
		}
	}
	return false
}

// IsSDKValidation reports an error of the SDK's parameter validation: the
// request was refused before it was sent.
func IsSDKValidation(err error) bool {
	var params smithy.InvalidParamsError
	return errors.As(err, &params)
}
