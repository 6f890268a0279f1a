package fakekinesis

import (
	"context"
	"net/http"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/faultinject"
)

// faultKind enumerates what a FaultKind does.
type faultKind int

const (
	kindThrottle faultKind = iota + 1
	kindServerError
	kindUnavailable
	kindReset
	kindSlow
	kindExpiredIterator
	kindResourceInUse
	kindPartialPut
	kindUnavailableOrReset
)

// FaultKind says how an injected fault answers a matching call. Use the
// predefined kinds or Slow.
type FaultKind struct {
	kind  faultKind
	delay time.Duration
}

var (
	// Throttle answers ProvisionedThroughputExceededException (HTTP 400)
	// on data-plane operations (GetRecords, GetShardIterator, PutRecord,
	// PutRecords, SubscribeToShard) and LimitExceededException on the
	// others.
	Throttle = FaultKind{kind: kindThrottle}
	// ServerError500 answers HTTP 500 InternalFailure.
	ServerError500 = FaultKind{kind: kindServerError}
	// ServiceUnavailable503 answers HTTP 503 ServiceUnavailable.
	ServiceUnavailable503 = FaultKind{kind: kindUnavailable}
	// ConnectionReset resets the TCP connection (SO_LINGER 0, then close)
	// instead of answering. Over HTTP/2 it resets the stream instead.
	ConnectionReset = FaultKind{kind: kindReset}
	// ExpiredIterator answers ExpiredIteratorException.
	ExpiredIterator = FaultKind{kind: kindExpiredIterator}
	// ResourceInUse answers ResourceInUseException.
	ResourceInUse = FaultKind{kind: kindResourceInUse}
	// PartialPutFailure makes PutRecords fail some entries with
	// ProvisionedThroughputExceededException while the others succeed:
	// the entries routed to Fault.Shard, or every second entry (indexes
	// 1, 3, 5, ...) when Fault.Shard is empty. On PutRecord it behaves
	// like Throttle.
	PartialPutFailure = FaultKind{kind: kindPartialPut}
)

// Slow delays matching calls by d (or until the client gives up), then
// serves them normally.
func Slow(d time.Duration) FaultKind { return FaultKind{kind: kindSlow, delay: d} }

// Fault is a fault to inject with Server.Inject: a faultinject.Rule,
// whose matching it follows.
type Fault struct {
	// Op is the operation name, such as "GetRecords"; "" matches every
	// operation.
	Op string
	// Shard is the shard ID the call must address; "" matches any call.
	// GetRecords addresses its iterator's shard, PutRecords every shard
	// its entries route to; calls without a shard never match a Shard.
	Shard string
	// Kind is the answer.
	Kind FaultKind
	// Times limits the fault to that many matching calls.
	Times int
	// For limits the fault to that long after Inject.
	For time.Duration
	// Every > 1 applies the fault to every Every-th matching call only
	// (the 2nd, 4th, ... for 2); the others are served normally. Times
	// counts the calls it applied to.
	Every int
}

// Inject adds a fault. It applies to matching calls until Times calls
// have matched or For has passed (both zero: until ClearFaults). Faults
// are checked in the order injected; the first match wins. Safe to call
// while clients run.
func (s *Server) Inject(f Fault) {
	s.faults.Add(faultinject.Rule[FaultKind](f))
}

// SetUnavailable makes every call fail for d, alternating between HTTP
// 503 ServiceUnavailable and a connection reset.
func (s *Server) SetUnavailable(d time.Duration) {
	s.Inject(Fault{Kind: FaultKind{kind: kindUnavailableOrReset}, For: d})
}

// ClearFaults removes every injected fault.
func (s *Server) ClearFaults() { s.faults.Clear() }

// takeFault returns the kind of the first fault that matches op and one
// of shards (whose budget it consumes), if any, and the fault's shard.
// Only faults whose kind passes want are considered.
func (s *Server) takeFault(op string, shards []string, want func(faultKind) bool) (FaultKind, string, bool) {
	f, ok := s.faults.Take(op, shards, func(k FaultKind) bool { return want(k.kind) })
	if !ok {
		return FaultKind{}, "", false
	}
	k := f.Kind
	if k.kind == kindUnavailableOrReset {
		if s.unavailableN.Add(1)%2 == 0 {
			k = ConnectionReset
		} else {
			k = ServiceUnavailable503
		}
	}
	return k, f.Shard, true
}

// dataPlane reports whether op is a data-plane operation.
func dataPlane(op string) bool {
	switch op {
	case "GetRecords", "GetShardIterator", "PutRecord", "PutRecords", "SubscribeToShard":
		return true
	}
	return false
}

// fault applies the first injected fault matching the call and shards:
// it returns the error to answer with, or sleeps (Slow) and returns nil.
// PartialPutFailure faults are left to PutRecords, except on PutRecord.
func (c *call) fault(shards ...string) error {
	skipPartial := c.op == "PutRecords"
	k, _, ok := c.s.takeFault(c.op, shards, func(k faultKind) bool { return !(skipPartial && k == kindPartialPut) })
	if !ok {
		return nil
	}
	return c.faultError(c.r.Context(), k)
}

// faultError turns a fault kind into the error to answer with.
func (c *call) faultError(ctx context.Context, k FaultKind) error {
	switch k.kind {
	case kindThrottle, kindPartialPut:
		if dataPlane(c.op) {
			return errf(errThroughput, "Rate exceeded (injected fault).")
		}
		return errf(errLimitExceeded, "Rate exceeded (injected fault).")
	case kindServerError:
		return &apiError{status: http.StatusInternalServerError, typ: errInternalFailure, msg: "Internal failure (injected fault)."}
	case kindUnavailable:
		return &apiError{status: http.StatusServiceUnavailable, typ: errServiceUnavailable, msg: "Service unavailable (injected fault)."}
	case kindReset:
		return errResetConn
	case kindExpiredIterator:
		return errf(errExpiredIterator, "Iterator expired (injected fault).")
	case kindResourceInUse:
		return errf(errResourceInUse, "Resource in use (injected fault).")
	case kindSlow:
		t := time.NewTimer(k.delay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
		case <-c.s.done:
		}
	}
	return nil
}

// Calls returns how many requests for op the server has received
// (including failed ones).
func (s *Server) Calls(op string) int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.calls[op]
}

// CallsByShard returns how many requests for op addressed shard (for
// PutRecords: requests with at least one entry routed to it).
func (s *Server) CallsByShard(op, shard string) int {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	return s.shardCalls[[2]string{op, shard}]
}

// RecordsServed is the number of records the server has returned in
// GetRecords responses (a benchmark's measure of what was fetched).
func (s *Server) RecordsServed() int64 { return s.served.Load() }

// countCall records a request for op.
func (s *Server) countCall(op string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	s.calls[op]++
}

// countShards records that a request for op addressed shards.
func (s *Server) countShards(op string, shards ...string) {
	s.countMu.Lock()
	defer s.countMu.Unlock()
	for _, sh := range shards {
		s.shardCalls[[2]string{op, sh}]++
	}
}

// String names the kind, as in "Throttle" or "Slow(1s)".
func (k FaultKind) String() string {
	switch k.kind {
	case kindThrottle:
		return "Throttle"
	case kindServerError:
		return "ServerError500"
	case kindUnavailable:
		return "ServiceUnavailable503"
	case kindReset:
		return "ConnectionReset"
	case kindSlow:
		return "Slow(" + k.delay.String() + ")"
	case kindExpiredIterator:
		return "ExpiredIterator"
	case kindResourceInUse:
		return "ResourceInUse"
	case kindPartialPut:
		return "PartialPutFailure"
	case kindUnavailableOrReset:
		return "Unavailable"
	}
	return "None"
}
