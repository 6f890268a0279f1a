package kinesistest

import (
	"fmt"
	"hash/crc32"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/faultinject"
)

// fault is an answer the proxy gives instead of forwarding a call: the
// Kind of its faultinject rules, which fakekinesis's server matches calls
// with too. The proxy's rules name an operation only (it sees no
// shards) and a number of calls.
type fault struct {
	status  int    // HTTP status; 0 = reset the connection
	errType string // the __type of the error body
}

// FailNext makes the proxy answer the next n calls of op itself with HTTP
// status and an AWS JSON error of type errType (for example 400 and
// "ProvisionedThroughputExceededException", or 500 and
// "InternalFailure"), as Kinesis would; the SDK turns it into the typed
// error. Faults queue up in the order they are added.
func (p *Proxy) FailNext(op string, n int, status int, errType string) {
	p.addFaults(op, n, fault{status: status, errType: errType})
}

// ResetNext makes the proxy reset the TCP connection of the next n calls
// of op without answering.
func (p *Proxy) ResetNext(op string, n int) {
	p.addFaults(op, n, fault{})
}

// ResetFor makes the proxy reset the TCP connection of every call of op
// ("" = of every operation) for d from now, without answering: the
// endpoint is unreachable for that long. Calls are still counted.
func (p *Proxy) ResetFor(op string, d time.Duration) {
	if d > 0 {
		p.faults.Add(faultinject.Rule[fault]{Op: op, Kind: fault{}, For: d})
	}
}

// FailFor makes the proxy answer every call of op ("" = of every
// operation) for d from now itself, with HTTP status and an AWS JSON
// error of type errType, as FailNext does.
func (p *Proxy) FailFor(op string, d time.Duration, status int, errType string) {
	if d > 0 {
		p.faults.Add(faultinject.Rule[fault]{Op: op, Kind: fault{status: status, errType: errType}, For: d})
	}
}

// Pending returns how many injected faults for op have not fired yet.
func (p *Proxy) Pending(op string) int { return p.faults.Pending(op) }

// addFaults makes the next n calls of op fail with f, after the faults
// already queued for op.
func (p *Proxy) addFaults(op string, n int, f fault) {
	if n > 0 {
		p.faults.Add(faultinject.Rule[fault]{Op: op, Kind: f, Times: n})
	}
}

// takeFault removes and returns the next fault for op, if any.
func (p *Proxy) takeFault(op string) (fault, bool) {
	r, ok := p.faults.Take(op, nil, nil)
	return r.Kind, ok
}

// serveFault answers r with f.
func serveFault(w http.ResponseWriter, f fault) {
	if f.status == 0 {
		if hj, ok := w.(http.Hijacker); ok {
			if conn, _, err := hj.Hijack(); err == nil {
				if tc, ok := conn.(*net.TCPConn); ok {
					tc.SetLinger(0) // close with RST
				}
				conn.Close()
				return
			}
		}
		f.status, f.errType = http.StatusInternalServerError, "InternalFailure"
	}
	body := fmt.Sprintf(`{"__type":%q,"message":"injected by kinesistest.Proxy"}`, f.errType)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", f.errType)
	// DynamoDB's client checks the body against this header, as AWS sends it.
	w.Header().Set("X-Amz-Crc32", strconv.FormatUint(uint64(crc32.ChecksumIEEE([]byte(body))), 10))
	w.WriteHeader(f.status)
	io.WriteString(w, body)
}
