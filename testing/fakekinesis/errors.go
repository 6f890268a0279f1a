package fakekinesis

import (
	"errors"
	"fmt"
	"net/http"
)

// Error type names sent in the "__type" field, as AWS names them.
const (
	errResourceNotFound     = "ResourceNotFoundException"
	errInvalidArgument      = "InvalidArgumentException"
	errResourceInUse        = "ResourceInUseException"
	errLimitExceeded        = "LimitExceededException"
	errThroughput           = "ProvisionedThroughputExceededException"
	errExpiredIterator      = "ExpiredIteratorException"
	errExpiredNextToken     = "ExpiredNextTokenException"
	errValidation           = "ValidationException"
	errSerialization        = "SerializationException"
	errUnknownOperation     = "UnknownOperationException"
	errInternalFailure      = "InternalFailure"
	errServiceUnavailable   = "ServiceUnavailable"
	errInternalFailureEntry = "InternalFailure"
)

// apiError is an error answered as an AWS JSON error body.
type apiError struct {
	status int
	typ    string
	msg    string
}

// Error returns the type and message.
func (e *apiError) Error() string { return e.typ + ": " + e.msg }

// errf returns an HTTP 400 error of type typ.
func errf(typ, format string, args ...any) *apiError {
	return &apiError{status: http.StatusBadRequest, typ: typ, msg: fmt.Sprintf(format, args...)}
}

// errResetConn asks the server to reset the TCP connection instead of
// answering.
var errResetConn = errors.New("fakekinesis: reset connection")

// notFoundStream is the ResourceNotFoundException for a missing stream.
func (s *Server) notFoundStream(name string) *apiError {
	return errf(errResourceNotFound, "Stream %s under account %s not found.", name, s.opts.accountID)
}
