// Package writer is the engine of kinesisio.Write: it batches the records
// of a bundle into PutRecords calls (or PutRecord calls, one per record,
// with strict ordering), over lanes that keep each partition key's records
// in order, retries what fails with backoff, optionally paces each shard
// within its quota and packs records into KPL aggregates, and reports a
// Result per record. It has its own record and result types; the public
// package converts at its boundary.
//
// The shard map a Writer predicts shards with (rate limit, aggregation)
// and the rate limit are shared by the Writers of a process that write
// the same stream with the same connection, and freed when the last of
// them is closed.
package writer

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/partitionkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
)

// Error codes of Failed for records a Writer refuses before sending
// them (kinesisio.ErrCode* are these).
const (
	ErrCodeRecordTooLarge         = "RecordTooLarge"
	ErrCodeInvalidPartitionKey    = "InvalidPartitionKey"
	ErrCodeInvalidExplicitHashKey = "InvalidExplicitHashKey"
	ErrCodeRequestFailed          = "RequestFailed"
)

// Kinesis's limits on writes (1 MiB per record and 5 MiB per call, the
// defaults of streams; streams can be configured for records of up to
// 10 MiB).
const (
	MaxBatchRecords       = 500
	DefaultMaxRecordBytes = 1 << 20
	DefaultMaxBatchBytes  = 5 << 20
	LargeMaxRecordBytes   = 10 << 20
	LargeMaxBatchBytes    = 10 << 20
)

// Record is one record to write.
type Record struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey string
	// Orig is the caller's own form of the record, if it needs one back:
	// a Failed about the record carries it unchanged. nil otherwise.
	Orig any
}

// Written is the result of a record written. With aggregation, it is
// about one user record of the aggregate it went in.
type Written struct {
	ShardID           string
	SequenceNumber    string
	SubSequenceNumber int64 // index in its aggregate, 0 if plain
	PartitionKey      string
	ExplicitHashKey   string
	Size              int // data + partition key bytes
	Attempts          int
}

// Failed is the result of a record that could not be written.
type Failed struct {
	Record       Record
	ErrorCode    string // one of the ErrCode constants, or Kinesis's code
	ErrorMessage string
	Attempts     int // 0 for records refused before sending
}

// Config configures a Writer.
type Config struct {
	Stream         awsclient.Stream
	Settings       awsclient.Settings // the connection, to share state by
	MaxAttempts    int
	Backoff        backoff.Policy
	EmitFailed     bool // report failed records rather than fail the bundle
	NoWritten      bool // count written records, report nothing for them
	Lanes          int  // requests in flight at most
	Strict         bool // one PutRecord per record, chained per key
	MaxRecordBytes int
	MaxBatchBytes  int
	RateLimit      bool         // pace each shard within its write quota
	Aggregation    *Aggregation // nil: no aggregation
	// Explain turns a permanent error into one that says what to fix; nil
	// leaves errors as they are.
	Explain func(error) error
}

// Aggregation says how a Writer packs user records into KPL aggregates;
// every field is set.
type Aggregation struct {
	MaxBytes   int // data + partition key of an aggregate
	MaxRecords int
	MaxDelay   time.Duration
}

// New returns a Writer of cfg that calls api. With cfg.RateLimit or
// cfg.Aggregation, each bundle joins the process's shard map of the
// stream (and its rate limit) when it starts and leaves it when it ends.
func New(cfg Config, api API) *Writer {
	wc := writerConfig{
		stream:         cfg.Stream,
		settings:       cfg.Settings,
		maxAttempts:    cfg.MaxAttempts,
		backoff:        cfg.Backoff,
		emitFailed:     cfg.EmitFailed,
		noWritten:      cfg.NoWritten,
		lanes:          cfg.Lanes,
		strict:         cfg.Strict,
		maxRecordBytes: cfg.MaxRecordBytes,
		maxBatchBytes:  cfg.MaxBatchBytes,
		explain:        cfg.Explain,
	}
	if a := cfg.Aggregation; a != nil {
		wc.agg = &aggConfig{maxBytes: a.MaxBytes, maxRecords: a.MaxRecords, maxDelay: a.MaxDelay}
	}
	w := newWriter(wc, api)
	w.shareShards = cfg.RateLimit || cfg.Aggregation != nil
	w.shareLimits = cfg.RateLimit
	return w
}

// Close aborts the bundle in progress, if any, which leaves the process's
// shared state of the stream. The Writer is not used after.
func (w *Writer) Close() { w.Abort() }

// join takes the process's shared shard map (and rate limit) of the
// stream for the bundle, if the Writer uses them.
func (w *Writer) join() {
	if !w.shareShards || w.release != nil {
		return
	}
	e, release := acquire(w.cfg.stream, w.cfg.settings, w.shareLimits)
	w.cfg.shards, w.release = e.shards, release
	if w.shareLimits {
		w.cfg.limits = e.limits
	}
}

// leave gives the shared state back at the end of the bundle; the last
// Writer to leave frees it (after sharedGrace).
func (w *Writer) leave() {
	if w.release == nil {
		return
	}
	w.release()
	w.release, w.cfg.shards, w.cfg.limits = nil, nil, nil
}

// Stats returns the Writer's metrics accumulated so far.
func (w *Writer) Stats() *Stats { return w.stats }

// API is the part of the Kinesis API a Writer calls. The SDK client
// implements it; tests may substitute their own.
type API interface {
	PutRecords(context.Context, *kinesis.PutRecordsInput, ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error)
	PutRecord(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error)
	awsclient.ShardLister
}

var _ API = (*kinesis.Client)(nil)

// writerConfig is what a writer needs, resolved on the worker.
type writerConfig struct {
	stream         awsclient.Stream
	settings       awsclient.Settings
	maxAttempts    int
	backoff        backoff.Policy
	emitFailed     bool
	noWritten      bool // count written records, emit nothing for them
	lanes          int
	strict         bool
	maxRecordBytes int
	maxBatchBytes  int
	limits         *shardLimits  // nil: no client-side rate limit
	agg            *aggConfig    // nil: no aggregation
	shards         *streamShards // the stream's shard map, with limits or agg
	// explain turns a permanent error into one that says what to fix.
	explain func(error) error
}

// pending is one Kinesis record on its way: a record as given to Write,
// or (with aggregation) an aggregate of the user records in users.
type pending struct {
	rec      Record
	ts       mtime.Time
	size     int // data + partition key bytes
	attempts int
	code     string // error code of the last attempt
	msg      string // error message of the last attempt
	shard    string // shard the shard map predicts, "" if unknown
	// users are the user records of an aggregate, in sub-sequence order;
	// nil for a plain record.
	users []userRecord
}

// userRecord is one record given to Write that went into an aggregate.
type userRecord struct {
	rec  Record
	ts   mtime.Time
	size int // data + partition key bytes
}

// count is how many records given to Write p carries.
func (p *pending) count() int64 {
	if p.users != nil {
		return int64(len(p.users))
	}
	return 1
}

// countAll sums count over ps.
func countAll(ps []*pending) int64 {
	var n int64
	for _, p := range ps {
		n += p.count()
	}
	return n
}

// Result is one output to emit: a Written, or a Failed when Failed is
// set, with the timestamp of the record it is about.
type Result struct {
	TS      mtime.Time
	Written Written
	Failed  *Failed
}

// OK reports whether the result is about a record written.
func (r Result) OK() bool { return r.Failed == nil }

// lane sends batches of the records whose partition keys hash to it, one
// call at a time, so records of one key are never in two calls at once.
type lane struct {
	buf   []*pending
	bytes int
	// slab holds the pending records of the lane's batches, allocated a
	// batch at a time rather than one by one.
	slab []pending
	// done is non-nil while a batch is in flight, and closed when it is
	// settled (every record written or failed for good).
	done chan struct{}
	// lastSeq is, with strict ordering, the sequence number of the last
	// record written per partition key in this bundle.
	lastSeq map[string]string
}

// Writer batches and sends the records of one bundle at a time. Start,
// Add, Finish, Abort, TakeResults and Close are called from one goroutine
// (the DoFn's); batches are sent by one goroutine per busy lane.
type Writer struct {
	cfg   writerConfig
	api   API
	stats *Stats
	// shareShards and shareLimits say whether the Writer uses the
	// process's shared shard map and rate limit of the stream; release,
	// set while a bundle holds them, gives them back.
	shareShards, shareLimits bool
	release                  func()

	ctx    context.Context
	cancel context.CancelFunc
	lanes  []*lane

	// With aggregation, used by the DoFn's goroutine only: the open
	// aggregates by shard, the shard map they follow, and when the first
	// of them is due (zero if none is open).
	groups map[string]*aggGroup
	aggMap *hashkey.ShardMap
	due    time.Time
	clock  func() time.Time // time.Now but in tests

	mu       sync.Mutex // guards the fields below
	results  []Result
	err      error    // the first error that fails the bundle
	failures int      // records that failed, in FailBundle mode
	samples  []string // descriptions of the first few of them
}

func newWriter(cfg writerConfig, api API) *Writer {
	if cfg.explain == nil {
		cfg.explain = func(err error) error { return err }
	}
	w := &Writer{cfg: cfg, api: api, stats: &Stats{}, clock: time.Now}
	for range cfg.lanes {
		w.lanes = append(w.lanes, &lane{})
	}
	return w
}

// Start begins a bundle whose calls use ctx.
func (w *Writer) Start(ctx context.Context) {
	w.ctx, w.cancel = context.WithCancel(ctx)
	w.join()
	for _, l := range w.lanes {
		*l = lane{}
	}
	w.groups, w.due = nil, time.Time{}
	w.mu.Lock()
	w.results, w.err, w.failures, w.samples = nil, nil, 0, nil
	w.mu.Unlock()
}

// Add queues one record, sending its lane's batch when it is full. It
// returns the error that fails the bundle, if one happened.
func (w *Writer) Add(ts mtime.Time, r Record) error {
	if err := w.error(); err != nil {
		return err
	}
	size := len(r.Data) + len(r.PartitionKey)
	if code, msg := w.validate(r, size); code != "" {
		w.fail(&pending{rec: r, ts: ts, size: size}, code, msg)
		return nil
	}
	if w.cfg.agg != nil {
		return w.addAggregated(ts, r, size)
	}
	return w.addPlain(ts, r, size)
}

// addPlain queues a valid record in the lane of its partition key, sending
// the lane's batch when it is full.
func (w *Writer) addPlain(ts mtime.Time, r Record, size int) error {
	l := w.lanes[w.laneOf(r.PartitionKey)]
	if len(l.buf) > 0 && l.bytes+size > w.cfg.maxBatchBytes {
		if err := w.dispatch(l); err != nil {
			return err
		}
	}
	p := l.newPending()
	*p = pending{rec: r, ts: ts, size: size}
	l.buf = append(l.buf, p)
	l.bytes += p.size
	if len(l.buf) >= MaxBatchRecords || l.bytes >= w.cfg.maxBatchBytes {
		return w.dispatch(l)
	}
	return nil
}

// newPending returns a zero pending record from the lane's slab. Records
// given out stay valid: a full slab is replaced, never grown.
func (l *lane) newPending() *pending {
	if len(l.slab) == cap(l.slab) {
		l.slab = make([]pending, 0, MaxBatchRecords)
	}
	l.slab = l.slab[:len(l.slab)+1]
	return &l.slab[len(l.slab)-1]
}

// validate returns an error code and message for a record Kinesis would
// refuse, or "".
func (w *Writer) validate(r Record, size int) (code, msg string) {
	if msg := partitionkey.Check(r.PartitionKey); msg != "" {
		return ErrCodeInvalidPartitionKey, msg
	}
	if r.ExplicitHashKey != "" {
		if _, err := hashkey.Parse(r.ExplicitHashKey); err != nil {
			return ErrCodeInvalidExplicitHashKey, fmt.Sprintf("explicit hash key: %v (want a decimal integer in [0, 2^128-1])", err)
		}
	}
	if size > w.cfg.maxRecordBytes {
		return ErrCodeRecordTooLarge, fmt.Sprintf("record of %d bytes (data %d + partition key %d) is larger than %d bytes", size, len(r.Data), len(r.PartitionKey), w.cfg.maxRecordBytes)
	}
	return "", ""
}

func (w *Writer) laneOf(partitionKey string) int {
	if len(w.lanes) == 1 {
		return 0
	}
	h := fnv.New32a()
	h.Write([]byte(partitionKey))
	return int(h.Sum32() % uint32(len(w.lanes)))
}

// dispatch sends l's buffered records as one batch, after its previous
// batch is settled.
func (w *Writer) dispatch(l *lane) error {
	w.wait(l)
	if err := w.error(); err != nil {
		return err
	}
	batch := l.buf
	l.buf, l.bytes = nil, 0
	if len(batch) == 0 {
		return nil
	}
	done := make(chan struct{})
	l.done = done
	go func() {
		defer close(done)
		if w.cfg.strict {
			w.sendStrict(l, batch)
		} else {
			w.sendBatch(batch)
		}
	}()
	return nil
}

// wait blocks until l has no batch in flight. Batches always end: every
// call and every pause is bounded and stops when the bundle's context
// ends.
func (w *Writer) wait(l *lane) {
	if l.done != nil {
		<-l.done
		l.done = nil
	}
}

// flush sends every buffered record (and open aggregate) and waits until
// all are settled.
func (w *Writer) flush() error {
	if err := w.closeGroups(); err != nil {
		for _, l := range w.lanes {
			w.wait(l)
		}
		return err
	}
	for _, l := range w.lanes {
		if len(l.buf) > 0 {
			if err := w.dispatch(l); err != nil {
				break
			}
		}
	}
	for _, l := range w.lanes {
		w.wait(l)
	}
	return w.error()
}

// Finish flushes the bundle and returns the error that fails it, if any.
func (w *Writer) Finish() error {
	defer w.leave()
	defer w.cancel()
	defer func() { w.groups = nil }() // their buffers are not kept between bundles
	if err := w.flush(); err != nil {
		return err
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.failures > 0 {
		more := ""
		if n := w.failures - len(w.samples); n > 0 {
			more = fmt.Sprintf("; and %d more", n)
		}
		return fmt.Errorf("kinesisio: %d record(s) could not be written to stream %v: %s%s (WithFailedRecords emits such records in WriteResult.Failed instead of failing the bundle)",
			w.failures, w.cfg.stream, strings.Join(w.samples, "; "), more)
	}
	return nil
}

// Abort stops the bundle's calls and waits for its lanes.
func (w *Writer) Abort() {
	if w.cancel == nil {
		return
	}
	w.cancel()
	for _, l := range w.lanes {
		w.wait(l)
	}
	w.groups = nil
	w.leave()
}

// TakeResults returns the outputs ready to emit.
func (w *Writer) TakeResults() []Result {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := w.results
	w.results = nil
	return r
}

func (w *Writer) error() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// setErr records the error that fails the bundle (the first one wins) and
// stops the other lanes.
func (w *Writer) setErr(err error) {
	w.mu.Lock()
	if w.err == nil {
		w.err = err
	}
	w.mu.Unlock()
	w.cancel()
}

// written reports the records of todo that out says were written (those
// without an error code), under one lock.
func (w *Writer) written(todo []*pending, out []types.PutRecordsResultEntry) {
	var n, bytes, aggs, aggregated int64
	w.mu.Lock()
	for i, r := range out {
		if r.ErrorCode != nil {
			continue
		}
		p := todo[i]
		shardID, seq := aws.ToString(r.ShardId), aws.ToString(r.SequenceNumber)
		if w.cfg.shards != nil {
			w.cfg.shards.observe(p.shard, shardID)
		}
		if p.users != nil {
			// An aggregate: one result per user record, with its index.
			aggs++
			aggregated += int64(len(p.users))
			n += int64(len(p.users))
			for j, u := range p.users {
				bytes += int64(u.size)
				if !w.cfg.noWritten {
					w.results = append(w.results, Result{TS: u.ts, Written: Written{
						ShardID: shardID, SequenceNumber: seq, SubSequenceNumber: int64(j), PartitionKey: u.rec.PartitionKey,
						ExplicitHashKey: u.rec.ExplicitHashKey, Size: u.size, Attempts: p.attempts,
					}})
				}
			}
			continue
		}
		n++
		bytes += int64(p.size)
		if w.cfg.noWritten {
			continue
		}
		w.results = append(w.results, Result{TS: p.ts, Written: Written{
			ShardID: shardID, SequenceNumber: seq, PartitionKey: p.rec.PartitionKey,
			ExplicitHashKey: p.rec.ExplicitHashKey, Size: p.size, Attempts: p.attempts,
		}})
	}
	w.mu.Unlock()
	w.stats.Records.Add(n)
	w.stats.Bytes.Add(bytes)
	w.stats.Aggregates.Add(aggs)
	w.stats.Aggregated.Add(aggregated)
}

// fail reports a record that cannot be written; for an aggregate, each of
// its user records.
func (w *Writer) fail(p *pending, code, msg string) {
	w.stats.Failures.Add(p.count())
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.cfg.emitFailed {
		if p.users == nil {
			w.results = append(w.results, Result{TS: p.ts, Failed: &Failed{Record: p.rec, ErrorCode: code, ErrorMessage: msg, Attempts: p.attempts}})
			return
		}
		for _, u := range p.users {
			w.results = append(w.results, Result{TS: u.ts, Failed: &Failed{Record: u.rec, ErrorCode: code, ErrorMessage: msg, Attempts: p.attempts}})
		}
		return
	}
	w.failures += int(p.count())
	if len(w.samples) >= 3 {
		return
	}
	if p.users != nil {
		w.samples = append(w.samples, fmt.Sprintf("%s after %d attempt(s) (an aggregated record of %d user records, first partition key %q, %d bytes; all %d failed with it): %s",
			code, p.attempts, len(p.users), truncate(p.rec.PartitionKey, 64), p.size, len(p.users), msg))
		return
	}
	w.samples = append(w.samples, fmt.Sprintf("%s after %d attempt(s) (partition key %q, %d bytes): %s", code, p.attempts, truncate(p.rec.PartitionKey, 64), p.size, msg))
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// sendBatch writes batch with PutRecords, retrying the records that fail
// until each is written or out of attempts. Nothing else of the lane is
// sent meanwhile.
func (w *Writer) sendBatch(batch []*pending) {
	todo := batch
	for round := 1; len(todo) > 0; round++ {
		if err := w.pace(todo); err != nil {
			w.setErr(err)
			return
		}
		retry, err := w.putRecords(todo)
		if err != nil {
			w.setErr(err)
			return
		}
		var next []*pending
		for _, p := range retry {
			if p.attempts >= w.cfg.maxAttempts {
				w.fail(p, p.code, p.msg)
			} else {
				next = append(next, p)
			}
		}
		if len(next) > 0 {
			w.stats.Retries.Add(countAll(next))
			if err := w.sleep(w.cfg.backoff.Delay(round)); err != nil {
				w.setErr(err)
				return
			}
		}
		todo = next
	}
}

// putRecords makes one PutRecords call of todo and returns the records to
// try again, with their error codes set, or an error that fails the
// bundle.
func (w *Writer) putRecords(todo []*pending) ([]*pending, error) {
	entries := make([]types.PutRecordsRequestEntry, len(todo))
	for i, p := range todo {
		// The SDK only reads the strings: point into the pending record
		// rather than copy each into a new allocation.
		entries[i] = types.PutRecordsRequestEntry{Data: dataOf(p.rec), PartitionKey: &p.rec.PartitionKey}
		if p.rec.ExplicitHashKey != "" {
			entries[i].ExplicitHashKey = &p.rec.ExplicitHashKey
		}
		p.attempts++
	}
	name, arn := w.cfg.stream.Ref()
	out, err := w.api.PutRecords(w.ctx, &kinesis.PutRecordsInput{StreamName: name, StreamARN: arn, Records: entries})
	w.stats.call(len(todo))
	if err == nil && len(out.Records) != len(todo) {
		err = fmt.Errorf("kinesisio: PutRecords answered %d results for %d records", len(out.Records), len(todo))
	}
	if err != nil {
		if awsclient.IsInvalidRequest(err) {
			return w.isolate(todo, err)
		}
		if err := w.fatal(err); err != nil {
			return nil, err
		}
		code, msg := callError(err)
		if awsclient.Classify(err) == awsclient.Throttled {
			w.stats.Throttled.Add(countAll(todo))
		}
		for _, p := range todo {
			p.code, p.msg = code, msg
		}
		return todo, nil
	}
	var retry []*pending
	for i, r := range out.Records {
		if r.ErrorCode == nil {
			continue
		}
		p := todo[i]
		p.code, p.msg = *r.ErrorCode, aws.ToString(r.ErrorMessage)
		if p.code == "ProvisionedThroughputExceededException" {
			w.stats.Throttled.Add(p.count())
		}
		retry = append(retry, p)
	}
	w.written(todo, out.Records)
	return retry, nil
}

// isolate deals with a call of todo refused as malformed as a whole (by
// the SDK's validation before it was sent, or by the service): retrying
// it cannot help. When the refusal names the records at fault ("Records[2]"
// in the SDK's errors, "records.2.member" in the service's), those fail at
// once with the call's error and the others are sent again at once, in
// their order, not charged an attempt for the refused call. A refusal that
// names no record is about the call itself (the stream, say) and fails the
// bundle, as other permanent errors do. It returns the records to retry,
// like putRecords.
func (w *Writer) isolate(todo []*pending, err error) ([]*pending, error) {
	bad := refusedRecords(err, len(todo))
	if len(bad) == 0 {
		return nil, w.cfg.explain(err)
	}
	code, msg := callError(err)
	var rest []*pending
	for i, p := range todo {
		if bad[i] {
			w.fail(p, code, msg)
			continue
		}
		p.attempts--
		rest = append(rest, p)
	}
	if len(rest) == 0 {
		return nil, nil
	}
	return w.putRecords(rest)
}

// recordIndexRE finds the records a refusal names: Records[i] in the SDK's
// validation errors ("missing required field, PutRecordsInput.Records[2].Data"),
// records.i.member in the service's ("Value null at 'records.2.member.data'
// failed to satisfy constraint").
var recordIndexRE = regexp.MustCompile(`(?i)records(?:\[(\d+)\]|\.(\d+)\.member)`)

// refusedRecords returns the indexes below n of the records err names.
func refusedRecords(err error, n int) map[int]bool {
	bad := map[int]bool{}
	for _, m := range recordIndexRE.FindAllStringSubmatch(err.Error(), -1) {
		i, perr := strconv.Atoi(m[1] + m[2])
		if perr == nil && i < n {
			bad[i] = true
		}
	}
	return bad
}

// dataOf is the Data to send for r: never nil, since the SDK refuses a
// call with a nil Data ("missing required field") while Kinesis accepts
// empty data (0 bytes is its minimum), and the Record coder decodes empty
// data as nil.
func dataOf(r Record) []byte {
	if r.Data == nil {
		return []byte{}
	}
	return r.Data
}

// sendStrict writes batch one record at a time with PutRecord, chaining
// the sequence numbers of each partition key, each record settled
// (written or out of attempts) before the next is sent.
func (w *Writer) sendStrict(l *lane, batch []*pending) {
	if l.lastSeq == nil {
		l.lastSeq = map[string]string{}
	}
	name, arn := w.cfg.stream.Ref()
	for _, p := range batch {
		for round := 1; ; round++ {
			if err := w.pace([]*pending{p}); err != nil {
				w.setErr(err)
				return
			}
			in := &kinesis.PutRecordInput{StreamName: name, StreamARN: arn, Data: dataOf(p.rec), PartitionKey: aws.String(p.rec.PartitionKey)}
			if p.rec.ExplicitHashKey != "" {
				in.ExplicitHashKey = aws.String(p.rec.ExplicitHashKey)
			}
			if seq, ok := l.lastSeq[p.rec.PartitionKey]; ok {
				in.SequenceNumberForOrdering = aws.String(seq)
			}
			p.attempts++
			out, err := w.api.PutRecord(w.ctx, in)
			w.stats.call(1)
			if err == nil {
				seq := aws.ToString(out.SequenceNumber)
				l.lastSeq[p.rec.PartitionKey] = seq
				w.written([]*pending{p}, []types.PutRecordsResultEntry{{ShardId: out.ShardId, SequenceNumber: out.SequenceNumber}})
				break
			}
			if awsclient.IsSDKValidation(err) {
				// The SDK refused the record before sending it:
				// retrying cannot help.
				p.code, p.msg = callError(err)
				w.fail(p, p.code, p.msg)
				break
			}
			if err := w.fatal(err); err != nil {
				w.setErr(err)
				return
			}
			if awsclient.Classify(err) == awsclient.Throttled {
				w.stats.Throttled.Add(1)
			}
			p.code, p.msg = callError(err)
			if p.attempts >= w.cfg.maxAttempts {
				w.fail(p, p.code, p.msg)
				break
			}
			w.stats.Retries.Add(1)
			if err := w.sleep(w.cfg.backoff.Delay(round)); err != nil {
				w.setErr(err)
				return
			}
		}
	}
}

// fatal returns the error that fails the bundle for a call error that
// retrying cannot fix, or nil.
func (w *Writer) fatal(err error) error {
	switch awsclient.Classify(err) {
	case awsclient.Permanent:
		return w.cfg.explain(err)
	case awsclient.Canceled:
		return fmt.Errorf("kinesisio: writing to stream %v: %w", w.cfg.stream, err)
	}
	if w.ctx.Err() != nil {
		return fmt.Errorf("kinesisio: writing to stream %v: %w", w.cfg.stream, w.ctx.Err())
	}
	return nil
}

// pace waits until the client-side rate limit lets todo go, if enabled.
func (w *Writer) pace(todo []*pending) error {
	if w.cfg.limits == nil {
		return nil
	}
	d, err := w.cfg.limits.reserve(w.ctx, w.api, todo)
	if err != nil {
		if awsclient.Classify(err) == awsclient.Permanent {
			return fmt.Errorf("kinesisio: WithShardRateLimit lists the shards of the stream: %w", w.cfg.explain(err))
		}
		log.Warnf(w.ctx, "kinesisio: listing the shards of %v for the rate limit failed, sending without it: %v", w.cfg.stream, err)
		return nil
	}
	return w.sleep(d)
}

// sleep pauses for d, or until the bundle's context ends.
func (w *Writer) sleep(d time.Duration) error {
	if d <= 0 {
		return w.ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-w.ctx.Done():
		return fmt.Errorf("kinesisio: writing to stream %v: %w", w.cfg.stream, w.ctx.Err())
	case <-t.C:
		return nil
	}
}

// callError returns the error code and message a FailedRecord reports
// for a call that failed as a whole.
func callError(err error) (code, msg string) {
	var params smithy.InvalidParamsError
	if errors.As(err, &params) {
		return "InvalidParameter", params.Error()
	}
	var api smithy.APIError
	if errors.As(err, &api) {
		return api.ErrorCode(), api.ErrorMessage()
	}
	var resp *smithyhttp.ResponseError
	if errors.As(err, &resp) {
		return fmt.Sprintf("HTTP%d", resp.HTTPStatusCode()), err.Error()
	}
	return ErrCodeRequestFailed, err.Error()
}

// Stats accumulates a Writer's metrics between reports (the lanes'
// goroutines have no bundle context to report with): the records and
// bytes written, the records retried and failed, the calls made, the
// records throttled, and the aggregates written with the user records in
// them.
type Stats struct {
	Records, Bytes, Retries, Failures, Calls, Throttled atomic.Int64
	Aggregates, Aggregated                              atomic.Int64

	mu    sync.Mutex
	sizes []int64 // records per call
}

func (s *Stats) call(records int) {
	s.Calls.Add(1)
	s.mu.Lock()
	s.sizes = append(s.sizes, int64(records))
	s.mu.Unlock()
}

// TakeSizes returns the records of each call since the last TakeSizes.
func (s *Stats) TakeSizes() []int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.sizes
	s.sizes = nil
	return r
}
