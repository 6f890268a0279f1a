package fakekinesis

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/faultinject"
)

// targetPrefix is the X-Amz-Target prefix of Kinesis operations.
const targetPrefix = "Kinesis_20131202."

// Server is an in-process Kinesis server. Its methods are safe for
// concurrent use.
type Server struct {
	opts     options
	ln       net.Listener
	http     *http.Server
	endpoint string
	done     chan struct{}
	closeMu  sync.Once

	mu      sync.Mutex // guards the fields below
	streams map[string]*stream
	seq     uint64        // last sequence counter issued
	gen     uint64        // last stream generation issued
	changed chan struct{} // closed and replaced whenever records arrive or shards change
	subs    map[string]*subscription

	// faults are the injected faults (Inject); they lock themselves.
	faults       faultinject.Injector[FaultKind]
	unavailableN atomic.Int64 // SetUnavailable's answers, to alternate them

	served     atomic.Int64 // records returned by GetRecords (RecordsServed)
	countMu    sync.Mutex
	calls      map[string]int
	shardCalls map[[2]string]int
}

// call is one request being served.
type call struct {
	s   *Server
	op  string
	r   *http.Request
	now time.Time
}

// handler serves one operation from its JSON body.
type handler func(c *call, body []byte) (any, error)

// handlers maps operation names to their handlers.
var handlers map[string]handler

func init() {
	handlers = map[string]handler{
		"CreateStream":             (*call).createStream,
		"DeleteStream":             (*call).deleteStream,
		"DescribeStream":           (*call).describeStream,
		"DescribeStreamSummary":    (*call).describeStreamSummary,
		"ListStreams":              (*call).listStreams,
		"ListShards":               (*call).listShards,
		"SplitShard":               (*call).splitShard,
		"MergeShards":              (*call).mergeShards,
		"UpdateShardCount":         (*call).updateShardCount,
		"PutRecord":                (*call).putRecord,
		"PutRecords":               (*call).putRecords,
		"GetShardIterator":         (*call).getShardIterator,
		"GetRecords":               (*call).getRecords,
		"RegisterStreamConsumer":   (*call).registerConsumer,
		"DescribeStreamConsumer":   (*call).describeConsumer,
		"ListStreamConsumers":      (*call).listConsumers,
		"DeregisterStreamConsumer": (*call).deregisterConsumer,
	}
}

// NewServer starts a server listening on 127.0.0.1 on a free port (see
// WithAddr). It serves HTTP/1.1 and HTTP/2 cleartext (prior knowledge).
// Stop it with Close.
func NewServer(opts ...Option) (*Server, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	ln, err := net.Listen("tcp", o.addr)
	if err != nil {
		return nil, fmt.Errorf("fakekinesis: listen on %s: %w", o.addr, err)
	}
	s := &Server{
		opts:       o,
		ln:         ln,
		endpoint:   "http://" + ln.Addr().String(),
		done:       make(chan struct{}),
		streams:    map[string]*stream{},
		changed:    make(chan struct{}),
		subs:       map[string]*subscription{},
		calls:      map[string]int{},
		shardCalls: map[[2]string]int{},
	}
	var protos http.Protocols
	protos.SetHTTP1(true)
	protos.SetUnencryptedHTTP2(true)
	s.http = &http.Server{
		Handler:           s,
		Protocols:         &protos,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          log.New(io.Discard, "", 0),
	}
	go func() { _ = s.http.Serve(ln) }()
	return s, nil
}

// Endpoint returns the base URL, http://127.0.0.1:PORT.
func (s *Server) Endpoint() string { return s.endpoint }

// Close stops the server, ending open subscriptions and connections.
func (s *Server) Close() {
	s.closeMu.Do(func() {
		close(s.done)
		_ = s.http.Close()
	})
}

// ServeHTTP serves one AWS JSON 1.1 request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	target := r.Header.Get("X-Amz-Target")
	op, ok := strings.CutPrefix(target, targetPrefix)
	if r.Method != http.MethodPost || !ok {
		writeError(w, errf(errUnknownOperation, "Unknown operation %q.", target))
		return
	}
	s.countCall(op)
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.opts.maxRequestBytes))
	if err != nil {
		writeError(w, errf(errSerialization, "Cannot read the request body: %v", err))
		return
	}
	c := &call{s: s, op: op, r: r, now: time.Now()}
	if op == "SubscribeToShard" {
		s.handleSubscribe(c, w, body)
		return
	}
	h, ok := handlers[op]
	if !ok {
		writeError(w, errf(errUnknownOperation, "Operation %s is not supported by fakekinesis.", op))
		return
	}
	out, err := h(c, body)
	if err != nil {
		s.writeCallError(w, r, err)
		return
	}
	b, err := json.Marshal(out)
	if err != nil {
		s.writeCallError(w, r, fmt.Errorf("encode %s output: %w", op, err))
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	// Kinesis declares its bodies' length; without it net/http would
	// send a large body chunked, which the service does not.
	w.Header().Set("Content-Length", strconv.Itoa(len(b)))
	_, _ = w.Write(b)
}

// writeCallError answers err: an API error, a connection reset or (any
// other error) HTTP 500.
func (s *Server) writeCallError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.Is(err, errResetConn):
		resetConn(w, r)
	case errors.As(err, &ae):
		writeError(w, ae)
	default:
		writeError(w, &apiError{status: http.StatusInternalServerError, typ: errInternalFailure, msg: err.Error()})
	}
}

// writeError writes an AWS JSON error body.
func writeError(w http.ResponseWriter, e *apiError) {
	b, _ := json.Marshal(errorBody{Type: e.typ, Message: e.msg})
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Header().Set("X-Amzn-ErrorType", e.typ)
	w.WriteHeader(e.status)
	_, _ = w.Write(b)
}

// resetConn resets the client's TCP connection (HTTP/1.1) or stream
// (HTTP/2).
func resetConn(w http.ResponseWriter, r *http.Request) {
	if r.ProtoMajor == 1 {
		if conn, _, err := http.NewResponseController(w).Hijack(); err == nil {
			if tc, ok := conn.(*net.TCPConn); ok {
				_ = tc.SetLinger(0)
			}
			_ = conn.Close()
			return
		}
	}
	panic(http.ErrAbortHandler)
}

// decode parses a JSON request body into v.
// pageSize checks an optional page size (field, 1 to 10000, as Kinesis
// validates them) and returns it capped at most, or def when absent.
func pageSize(v *int, field string, def, most int) (int, error) {
	if v == nil {
		return def, nil
	}
	if *v < 1 || *v > 10000 {
		return 0, errf(errValidation, "%s must be between 1 and 10000.", field)
	}
	return min(*v, most), nil
}

func decode(body []byte, v any) error {
	if len(body) == 0 {
		body = []byte("{}")
	}
	if err := json.Unmarshal(body, v); err != nil {
		return errf(errSerialization, "Cannot parse the request: %v", err)
	}
	return nil
}

// notifyLocked wakes everyone waiting for new records. s.mu must be held.
func (s *Server) notifyLocked() {
	close(s.changed)
	s.changed = make(chan struct{})
}

// streamARN returns the ARN of a stream name.
func (s *Server) streamARN(name string) string {
	return fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/%s", s.opts.region, s.opts.accountID, name)
}

// streamName resolves a name or ARN to a stream name.
func (s *Server) streamName(ref streamRef) (string, error) {
	name := ""
	if ref.StreamName != nil {
		name = *ref.StreamName
	}
	if ref.StreamARN != nil {
		n, err := s.nameFromARN(*ref.StreamARN)
		if err != nil {
			return "", err
		}
		if name != "" && name != n {
			return "", errf(errInvalidArgument, "StreamName %s does not match StreamARN %s.", name, *ref.StreamARN)
		}
		name = n
	}
	if name == "" {
		return "", errf(errInvalidArgument, "Either StreamName or StreamARN should be provided.")
	}
	return name, nil
}

// nameFromARN returns the stream name in a stream ARN of this server's
// region and account.
func (s *Server) nameFromARN(arn string) (string, error) {
	prefix := fmt.Sprintf("arn:aws:kinesis:%s:%s:stream/", s.opts.region, s.opts.accountID)
	name, ok := strings.CutPrefix(arn, prefix)
	if !ok {
		if strings.HasPrefix(arn, "arn:aws:kinesis:") {
			return "", errf(errResourceNotFound, "Stream %s not found.", arn)
		}
		return "", errf(errInvalidArgument, "Invalid StreamARN %q.", arn)
	}
	if i := strings.IndexByte(name, '/'); i >= 0 {
		name = name[:i] // a consumer ARN names its stream first
	}
	return name, nil
}

// lockStream injects the fault set for the call (and the shards named),
// then locks the server and looks up the stream. On success the caller
// holds s.mu and must call unlock; on error nothing is held. The fault
// comes first so that a slow response never holds the lock.
func (c *call) lockStream(ref streamRef, shards ...string) (*stream, func(), error) {
	if err := c.fault(shards...); err != nil {
		return nil, nil, err
	}
	c.s.mu.Lock()
	st, err := c.s.lookupLocked(ref)
	if err != nil {
		c.s.mu.Unlock()
		return nil, nil, err
	}
	return st, c.s.mu.Unlock, nil
}

// lookupLocked returns the stream a call addresses. s.mu must be held.
func (s *Server) lookupLocked(ref streamRef) (*stream, error) {
	name, err := s.streamName(ref)
	if err != nil {
		return nil, err
	}
	st, ok := s.streams[name]
	if !ok {
		return nil, s.notFoundStream(name)
	}
	return st, nil
}
