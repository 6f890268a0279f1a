// Package wire decodes Kinesis GetRecords responses (awsJson1_1) and the
// JSON payloads of SubscribeToShard events in one pass, behind the SDK
// client: signing, endpoints, retries, error classification and the event
// stream framing stay the SDK's, only the success body's decode is ours
// (Decoder for GetRecords, Events for SubscribeToShard). The Decoder's
// option also writes the GetRecords request body (the SDK's bytes and
// headers, without its generic shape serializer; see
// protocol.SerializeRequest).
//
// The decoder accepts a strict subset of what the SDK's own deserializer
// accepts: a JSON object with the members the SDK models, records whose
// Data is plain base64, no duplicate members, empty or absent ChildShards.
// Anything else (an error status, an empty body, a field it does not know,
// an escaped Data string, child shards) goes to the SDK's deserializer on
// the same bytes, so the result is the SDK's by construction there and
// equal to it (fuzzed) everywhere else.
//
// Record data of one response is decoded into one fresh slab and handed
// out as sub-slices capped at their length: a slab is never reused, so
// data handed to a pipeline never aliases a buffer that is written again.
// The response body itself is read into a buffer the Decoder keeps and
// reuses from call to call.
package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Record is one Kinesis record as the decoder returns it: values, not
// pointers. Absent strings are "", an absent arrival time is the zero
// time, absent data is nil.
type Record struct {
	SequenceNumber string
	PartitionKey   string
	Data           []byte
	Arrival        time.Time
	EncryptionType types.EncryptionType

	has uint8 // which of the members were present (hasSeq, hasKey, hasArrival)
}

// Presence bits of Record.has: the SDK's pointers are nil for absent
// members, and ToSDK gives them back as the SDK would.
const (
	hasSeq = 1 << iota
	hasKey
	hasArrival
)

// FromSDK converts the SDK's records into dst (reused, truncated first).
func FromSDK(dst []Record, in []types.Record) []Record {
	dst = dst[:0]
	for _, r := range in {
		var rec Record
		if r.SequenceNumber != nil {
			rec.SequenceNumber = *r.SequenceNumber
			rec.has |= hasSeq
		}
		if r.PartitionKey != nil {
			rec.PartitionKey = *r.PartitionKey
			rec.has |= hasKey
		}
		if r.ApproximateArrivalTimestamp != nil {
			rec.Arrival = *r.ApproximateArrivalTimestamp
			rec.has |= hasArrival
		}
		rec.Data = r.Data
		rec.EncryptionType = r.EncryptionType
		dst = append(dst, rec)
	}
	return dst
}

// ToSDK converts records to the SDK's type with a handful of allocations
// in all (slabs for the strings and times the pointers point into), not
// a few per record. Data is shared, not copied.
func ToSDK(in []Record) []types.Record {
	if in == nil {
		return nil
	}
	out := make([]types.Record, len(in))
	strs := make([]string, 0, 2*len(in))
	var times []time.Time
	for i := range in {
		r := &in[i]
		o := &out[i]
		o.Data = r.Data
		o.EncryptionType = r.EncryptionType
		if r.has&hasSeq != 0 {
			strs = append(strs, r.SequenceNumber)
			o.SequenceNumber = &strs[len(strs)-1]
		}
		if r.has&hasKey != 0 {
			strs = append(strs, r.PartitionKey)
			o.PartitionKey = &strs[len(strs)-1]
		}
		if r.has&hasArrival != 0 {
			if times == nil {
				times = make([]time.Time, 0, len(in)-i)
			}
			times = append(times, r.Arrival)
			o.ApproximateArrivalTimestamp = &times[len(times)-1]
		}
	}
	return out
}

// Response is a decoded GetRecords response body (or SubscribeToShard
// event payload). Pointer fields are nil when the member was absent or
// null, as in the SDK's output.
type Response struct {
	Records            []Record // nil when absent; empty when []
	HasRecords         bool     // the Records member was present (as a list)
	NextShardIterator  *string
	MillisBehindLatest *int64
	// ContinuationSequenceNumber is set in SubscribeToShard events only.
	ContinuationSequenceNumber *string
	// ChildShards is nil when absent, empty when [] (non-empty lists are
	// not decoded: the SDK's deserializer handles those).
	ChildShards []types.ChildShard
}

// errUnsupported says the body is outside the subset this decoder
// handles; the caller falls back to the SDK's deserializer.
var errUnsupported = errors.New("wire: body not handled by the fast decoder")

// Member names (case-sensitive, as the SDK matches them).
const (
	mRecords = 1 << iota
	mNext
	mMillis
	mChild
	mContinuation
)

const (
	rData = 1 << iota
	rKey
	rSeq
	rArrival
	rEncryption
)

// str is a decoded JSON string: a range of the body when it had no
// escapes, else its unquoted value, p.vals[esc-1]. It holds no pointer,
// so that the parser's pending records are neither scanned by the GC nor
// large (a 10,000-record call keeps 10,000 of them for the fetcher's
// life): body offsets fit in 32 bits (maxBody).
type str struct {
	start, end int32
	esc        int32 // 1 + the index of the unquoted value in p.vals; 0 when not escaped
	present    bool
}

// escaped reports whether the string had escapes (its value is in p.vals).
func (s *str) escaped() bool { return s.esc != 0 }

// pending is one record between the parse and the materialization
// (pointer-free: see str).
type pending struct {
	seq, key, enc str
	data          str   // never escaped (escaped data is unsupported)
	arrivalMillis int64 // epochMillis' argument, when hasArrival
	hasData       bool
	hasArrival    bool
}

// parser is the state of one decode; kept in the Decoder to reuse its
// slices.
type parser struct {
	b    []byte
	i    int
	recs []pending
	vals []string // the unquoted values of escaped strings, this decode's
}

// decode parses body into res, reusing p's and dst's storage for records.
// event selects the SubscribeToShardEvent member set (Records,
// ContinuationSequenceNumber, MillisBehindLatest, ChildShards) instead of
// GetRecords' (Records, NextShardIterator, MillisBehindLatest,
// ChildShards).
func (p *parser) decode(body []byte, dst []Record, event bool) (Response, []Record, error) {
	res, dst, err := p.parse(body, dst, event)
	// Hold no reference to the body: an event's payload buffer is let go
	// of once large (see Events), and must not stay pinned here.
	p.b = nil
	return res, dst, err
}

// parse is decode's work.
func (p *parser) parse(body []byte, dst []Record, event bool) (Response, []Record, error) {
	var res Response
	if len(body) > math.MaxInt32 {
		return res, dst, errUnsupported // str's offsets are 32 bits
	}
	p.b, p.i = body, 0
	p.recs = p.recs[:0]
	clear(p.vals)
	p.vals = p.vals[:0]
	var next, cont str
	seen := 0
	p.ws()
	if !p.eat('{') {
		return res, dst, errUnsupported
	}
	p.ws()
	if !p.eat('}') {
		for {
			key, ok := p.key()
			if !ok {
				return res, dst, errUnsupported
			}
			p.ws()
			if !p.eat(':') {
				return res, dst, errUnsupported
			}
			p.ws()
			var bit int
			switch {
			case key == "Records":
				bit = mRecords
			case key == "NextShardIterator" && !event:
				bit = mNext
			case key == "ContinuationSequenceNumber" && event:
				bit = mContinuation
			case key == "MillisBehindLatest":
				bit = mMillis
			case key == "ChildShards":
				bit = mChild
			default:
				return res, dst, errUnsupported
			}
			if seen&bit != 0 {
				return res, dst, errUnsupported // duplicate member
			}
			seen |= bit
			if p.null() {
				// The SDK skips null members: absent.
			} else {
				switch bit {
				case mRecords:
					if !p.records() {
						return res, dst, errUnsupported
					}
					res.HasRecords = true
				case mNext:
					if !p.str(&next) {
						return res, dst, errUnsupported
					}
				case mContinuation:
					if !p.str(&cont) {
						return res, dst, errUnsupported
					}
				case mMillis:
					n, ok := p.integer()
					if !ok {
						return res, dst, errUnsupported
					}
					res.MillisBehindLatest = &n
				case mChild:
					if !p.eat('[') {
						return res, dst, errUnsupported
					}
					p.ws()
					if !p.eat(']') {
						return res, dst, errUnsupported
					}
					res.ChildShards = []types.ChildShard{}
				}
			}
			p.ws()
			if p.eat(',') {
				p.ws()
				continue
			}
			if p.eat('}') {
				break
			}
			return res, dst, errUnsupported
		}
	}
	p.ws()
	if p.i != len(p.b) {
		return res, dst, errUnsupported
	}
	return p.materialize(res, dst, next, cont)
}

// materialize turns the parsed ranges into values: one string for all
// unescaped strings, one fresh slab for all data.
func (p *parser) materialize(res Response, dst []Record, next, cont str) (Response, []Record, error) {
	strLen, dataLen := 0, 0
	for k := range p.recs {
		r := &p.recs[k]
		strLen += r.seq.rawLen() + r.key.rawLen()
		if r.hasData {
			dataLen += base64.StdEncoding.DecodedLen(int(r.data.end - r.data.start))
		}
	}
	strLen += next.rawLen() + cont.rawLen()
	var sb strings.Builder
	sb.Grow(strLen)
	place := func(s *str) {
		if s.present && !s.escaped() {
			at := sb.Len()
			sb.Write(p.b[s.start:s.end])
			s.start, s.end = int32(at), int32(sb.Len()) // now a range of the one string
		}
	}
	for k := range p.recs {
		place(&p.recs[k].seq)
		place(&p.recs[k].key)
	}
	place(&next)
	place(&cont)
	all := sb.String()
	cut := func(s *str) string {
		if s.escaped() {
			return p.vals[s.esc-1]
		}
		return all[s.start:s.end]
	}
	var slab []byte
	if dataLen > 0 {
		slab = make([]byte, dataLen)
	}
	off := 0
	dst = dst[:0]
	for k := range p.recs {
		r := &p.recs[k]
		var rec Record
		if r.hasData {
			src := p.b[r.data.start:r.data.end]
			n, err := base64.StdEncoding.Decode(slab[off:], src)
			if err != nil || n != base64Len(src) {
				return res, dst, errUnsupported
			}
			if slab == nil {
				rec.Data = []byte{}
			} else {
				rec.Data = slab[off : off+n : off+n]
			}
			off += n
		}
		if r.seq.present {
			rec.SequenceNumber = cut(&r.seq)
			rec.has |= hasSeq
		}
		if r.key.present {
			rec.PartitionKey = cut(&r.key)
			rec.has |= hasKey
		}
		if r.hasArrival {
			rec.Arrival = epochMillis(r.arrivalMillis)
			rec.has |= hasArrival
		}
		if r.enc.present {
			rec.EncryptionType = types.EncryptionType(p.text(r.enc))
		}
		dst = append(dst, rec)
	}
	if next.present {
		s := cut(&next)
		res.NextShardIterator = &s
	}
	if cont.present {
		s := cut(&cont)
		res.ContinuationSequenceNumber = &s
	}
	if res.HasRecords {
		if dst == nil {
			dst = make([]Record, 0, 16)
		}
		res.Records = dst
	}
	return res, dst, nil
}

// rawLen is the length of an unescaped string's bytes, else 0.
func (s *str) rawLen() int {
	if !s.present || s.escaped() {
		return 0
	}
	return int(s.end - s.start)
}

// text is a short string's value (EncryptionType: a handful of values,
// allocated per record only when present).
func (p *parser) text(s str) string {
	if s.escaped() {
		return p.vals[s.esc-1]
	}
	switch b := p.b[s.start:s.end]; string(b) {
	case string(types.EncryptionTypeNone):
		return string(types.EncryptionTypeNone)
	case string(types.EncryptionTypeKms):
		return string(types.EncryptionTypeKms)
	default:
		return string(b)
	}
}

// records parses the Records list into p.recs.
func (p *parser) records() bool {
	if !p.eat('[') {
		return false
	}
	p.ws()
	if p.eat(']') {
		return true
	}
	for {
		p.ws()
		if !p.record() {
			return false
		}
		p.ws()
		if p.eat(',') {
			continue
		}
		return p.eat(']')
	}
}

// record parses one record object.
func (p *parser) record() bool {
	if !p.eat('{') {
		return false // null or anything else: the SDK's
	}
	p.recs = append(p.recs, pending{})
	r := &p.recs[len(p.recs)-1]
	p.ws()
	if p.eat('}') {
		return true
	}
	seen := 0
	for {
		key, ok := p.key()
		if !ok {
			return false
		}
		p.ws()
		if !p.eat(':') {
			return false
		}
		p.ws()
		var bit int
		switch key {
		case "Data":
			bit = rData
		case "PartitionKey":
			bit = rKey
		case "SequenceNumber":
			bit = rSeq
		case "ApproximateArrivalTimestamp":
			bit = rArrival
		case "EncryptionType":
			bit = rEncryption
		default:
			return false
		}
		if seen&bit != 0 {
			return false
		}
		seen |= bit
		if !p.null() {
			switch bit {
			case rData:
				if !p.data(&r.data) {
					return false
				}
				r.hasData = true
			case rKey:
				if !p.str(&r.key) {
					return false
				}
			case rSeq:
				if !p.str(&r.seq) {
					return false
				}
			case rArrival:
				ms, ok := p.epochSeconds()
				if !ok {
					return false
				}
				r.arrivalMillis, r.hasArrival = ms, true
			case rEncryption:
				if !p.str(&r.enc) {
					return false
				}
			}
		}
		p.ws()
		if p.eat(',') {
			p.ws()
			continue
		}
		return p.eat('}')
	}
}

func (p *parser) ws() {
	for p.i < len(p.b) {
		switch p.b[p.i] {
		case ' ', '\t', '\n', '\r':
			p.i++
		default:
			return
		}
	}
}

func (p *parser) eat(c byte) bool {
	if p.i < len(p.b) && p.b[p.i] == c {
		p.i++
		return true
	}
	return false
}

func (p *parser) null() bool {
	if len(p.b)-p.i >= 4 && string(p.b[p.i:p.i+4]) == "null" {
		p.i += 4
		return true
	}
	return false
}

// key parses an object key without escapes (an escaped key is the SDK's).
func (p *parser) key() (string, bool) {
	var s str
	if !p.str(&s) || s.escaped() {
		return "", false
	}
	// A member name compares without allocating (string(b) in a switch).
	return stringOf(p.b[s.start:s.end]), true
}

// stringOf returns a known member name for b without allocating, or ""
// for anything else.
func stringOf(b []byte) string {
	switch string(b) {
	case "Records":
		return "Records"
	case "NextShardIterator":
		return "NextShardIterator"
	case "MillisBehindLatest":
		return "MillisBehindLatest"
	case "ChildShards":
		return "ChildShards"
	case "ContinuationSequenceNumber":
		return "ContinuationSequenceNumber"
	case "Data":
		return "Data"
	case "PartitionKey":
		return "PartitionKey"
	case "SequenceNumber":
		return "SequenceNumber"
	case "ApproximateArrivalTimestamp":
		return "ApproximateArrivalTimestamp"
	case "EncryptionType":
		return "EncryptionType"
	}
	return ""
}

// str parses a JSON string. Control characters and bad escapes fail, as
// in the SDK's scanner; a string with escapes is unquoted with
// encoding/json, whose rules the SDK's unquote copies.
func (p *parser) str(s *str) bool {
	if !p.eat('"') {
		return false
	}
	start := p.i
	// Fast path: up to the next quote, no escape and no control byte
	// (the common case, and every base64 Data string).
	if end := bytes.IndexByte(p.b[start:], '"'); end >= 0 && plain(p.b[start:start+end]) {
		p.i = start + end + 1
		s.start, s.end, s.esc, s.present = int32(start), int32(start+end), 0, true
		return true
	}
	escaped := false
	for p.i < len(p.b) {
		c := p.b[p.i]
		switch {
		case c == '"':
			s.start, s.end, s.esc, s.present = int32(start), int32(p.i), 0, true
			p.i++
			if escaped {
				v, ok := unquote(p.b[start-1 : p.i])
				if !ok {
					return false
				}
				p.vals = append(p.vals, v)
				s.esc = int32(len(p.vals))
			}
			return true
		case c < 0x20:
			return false
		case c == '\\':
			escaped = true
			if p.i+1 >= len(p.b) {
				return false
			}
			switch p.b[p.i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				p.i += 2
			case 'u':
				if p.i+6 > len(p.b) {
					return false
				}
				for _, h := range p.b[p.i+2 : p.i+6] {
					if !isHex(h) {
						return false
					}
				}
				p.i += 6
			default:
				return false
			}
		default:
			p.i++
		}
	}
	return false
}

// data parses a record's Data string up to the next quote without
// checking its bytes: base64 decoding does (materialize), and refuses a
// backslash (so any escape) and every control byte but CR and LF, which
// it skips and base64Len's check then refuses. It saves a pass over the
// largest string of a record.
func (p *parser) data(s *str) bool {
	if !p.eat('"') {
		return false
	}
	start := p.i
	end := bytes.IndexByte(p.b[start:], '"')
	if end < 0 {
		return false
	}
	p.i = start + end + 1
	s.start, s.end, s.esc, s.present = int32(start), int32(start+end), 0, true
	return true
}

// base64Len is the length of the bytes the padded base64 text b decodes
// to, or -1 when b is not a whole number of quanta: a decode of b that
// gives another length skipped CRs or LFs, which a JSON string cannot
// hold unescaped.
func base64Len(b []byte) int {
	if len(b)%4 != 0 {
		return -1
	}
	n := len(b) / 4 * 3
	for i := len(b) - 1; i >= 0 && i >= len(b)-2 && b[i] == '='; i-- {
		n--
	}
	return n
}

// unquote is a quoted JSON string's value (in a function of its own so
// that only escaped strings cost an allocation).
func unquote(tok []byte) (string, bool) {
	var v string
	if err := json.Unmarshal(tok, &v); err != nil {
		return "", false
	}
	return v, true
}

// plain reports that b holds no byte below 0x20 and no backslash,
// eight bytes at a time.
func plain(b []byte) bool {
	const lo, hi = 0x0101010101010101, 0x8080808080808080
	i := 0
	for ; i+8 <= len(b); i += 8 {
		v := binary.LittleEndian.Uint64(b[i:])
		less := (v - lo*0x20) & ^v & hi
		x := v ^ (lo * '\\')
		bs := (x - lo) & ^x & hi
		if less|bs != 0 {
			return false
		}
	}
	for ; i < len(b); i++ {
		if b[i] < 0x20 || b[i] == '\\' {
			return false
		}
	}
	return true
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// number scans a JSON number token (the SDK's grammar: no leading zeros,
// digits after '.' and after the exponent).
func (p *parser) number() ([]byte, bool) {
	start := p.i
	i := p.i
	b := p.b
	if i < len(b) && b[i] == '-' {
		i++
	}
	d := i
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	if i == d || b[d] == '0' && i-d > 1 {
		return nil, false
	}
	if i < len(b) && b[i] == '.' {
		i++
		d = i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		d = i
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
		if i == d {
			return nil, false
		}
	}
	p.i = i
	return b[start:i], true
}

// integer parses an int64 the way the SDK's readInt does.
func (p *parser) integer() (int64, bool) {
	tok, ok := p.number()
	if !ok {
		return 0, false
	}
	return parseInt(tok)
}

// epochSeconds parses a timestamp the way the SDK's ReadTime does for
// epoch-seconds: a number (strings such as "NaN" are the SDK's), then
// smithytime.ParseEpochSeconds without its big.Float. It returns the
// milliseconds that epochMillis turns into the time.
func (p *parser) epochSeconds() (int64, bool) {
	tok, ok := p.number()
	if !ok {
		return 0, false
	}
	var f float64
	if n, ok := parseInt(tok); ok {
		f = float64(n)
	} else {
		v, err := strconv.ParseFloat(string(tok), 64)
		if err != nil {
			return 0, false
		}
		f = v
	}
	return millisOf(f), true
}

// millisOf is smithytime.ParseEpochSeconds' first half: value*1000
// rounded to 53 bits (as big.Float's Mul at precision 53, nearest even),
// truncated toward zero and clamped to int64.
func millisOf(v float64) int64 {
	const two63 = 9223372036854775808.0
	m := v * 1e3
	switch {
	case m >= two63: // and +Inf (never reached: ParseFloat fails first)
		return math.MaxInt64
	case m <= -two63:
		return math.MinInt64
	default:
		return int64(m)
	}
}

// epochMillis is smithytime.ParseEpochSeconds' second half:
// time.Unix(0, ms*1e6).UTC(), overflow included.
func epochMillis(ms int64) time.Time {
	return time.Unix(0, ms*1e6).UTC()
}

// parseInt is the SDK's parseInt (decimal, optional '-', int64 range).
func parseInt(b []byte) (int64, bool) {
	if len(b) == 0 {
		return 0, false
	}
	neg := false
	if b[0] == '-' {
		neg = true
		b = b[1:]
		if len(b) == 0 {
			return 0, false
		}
	}
	const cutoff = math.MaxUint64/10 + 1
	var n uint64
	for _, c := range b {
		if c < '0' || c > '9' {
			return 0, false
		}
		if n >= cutoff {
			return 0, false
		}
		nn := n*10 + uint64(c-'0')
		if nn < n {
			return 0, false
		}
		n = nn
		if n > uint64(math.MaxInt64) {
			if neg && n == uint64(math.MaxInt64)+1 {
				return math.MinInt64, true
			}
			return 0, false
		}
	}
	if neg {
		return -int64(n), true
	}
	return int64(n), true
}

// maxBody bounds the body the decoder reads into its own buffer: a full
// GetRecords response is at most 10 MiB of data, about 14 MiB as base64
// JSON. A larger declared length goes to the SDK's deserializer.
const maxBody = 32 << 20

// Decoder decodes the GetRecords responses of one reader (one shard's
// fetcher) behind the SDK client. It is not safe for concurrent use: one
// call at a time, and the records of a call must be taken with Records
// before the next call.
type Decoder struct {
	buf   []byte  // the response body, reused from call to call
	one   [1]byte // read's probe for EOF (a local escapes: one allocation per call)
	small int     // calls in a row whose body used less than a quarter of buf
	p     parser
	recs  []Record // Records' result, reused

	proto  protocol
	opt    func(*kinesis.Options)
	filled *kinesis.GetRecordsOutput // the output the last call decoded, nil when the SDK did
	res    Response

	// Decoded and Fallbacks count the successful responses decoded here
	// and those handed to the SDK's deserializer.
	Decoded, Fallbacks int64
}

// NewDecoder returns a Decoder with an empty buffer.
func NewDecoder() *Decoder {
	d := &Decoder{}
	d.proto.d = d
	d.opt = d.apply
	return d
}

// Option is the per-call option of GetRecords that routes the response
// body through d. The client's protocol (signing and serialization are
// not the protocol's; error bodies, non-200 statuses and anything d does
// not handle) stays the SDK's.
func (d *Decoder) Option() func(*kinesis.Options) { return d.opt }

func (d *Decoder) apply(o *kinesis.Options) {
	if o.Protocol == nil {
		return
	}
	if p, ok := o.Protocol.(*protocol); ok && p == &d.proto {
		return // already routed (the option given twice)
	}
	d.proto.ClientProtocol = o.Protocol
	o.Protocol = &d.proto
}

// Records returns the records of a GetRecords output: those d decoded
// when the output came through d, else the SDK's converted. The slice
// (not the data, strings or times in it) is reused by the next call;
// clear it once used, so that it does not keep the call's data alive.
func (d *Decoder) Records(out *kinesis.GetRecordsOutput) []Record {
	if out == nil {
		return nil
	}
	if d.filled == out {
		d.filled = nil
		return d.res.Records
	}
	d.recs = FromSDK(d.recs, out.Records)
	return d.recs
}

// protocol wraps the client's protocol for one Decoder.
type protocol struct {
	smithyhttp.ClientProtocol
	d *Decoder
}

// DeserializeResponse decodes a 200 GetRecords response itself and hands
// everything else to the wrapped protocol, on the same bytes.
func (p *protocol) DeserializeResponse(ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) error {
	d := p.d
	d.filled = nil
	o, ok := out.(*kinesis.GetRecordsOutput)
	if !ok || resp == nil || resp.Response == nil || resp.StatusCode != http.StatusOK || resp.ContentLength > maxBody {
		return p.ClientProtocol.DeserializeResponse(ctx, schema, reg, resp, out)
	}
	body, err := d.read(resp.Body, resp.ContentLength)
	if err != nil {
		return &smithy.DeserializationError{Err: fmt.Errorf("reading the GetRecords response: %w", err)}
	}
	res, recs, err := d.p.decode(body, d.recs, false)
	d.recs = recs
	if err != nil {
		d.Fallbacks++
		// The SDK's deserializer may keep what it reads: give it a copy,
		// never the reused buffer.
		hr := *resp.Response
		hr.Body = io.NopCloser(bytes.NewReader(bytes.Clone(body)))
		return fallback(p.ClientProtocol, ctx, schema, reg, &smithyhttp.Response{Response: &hr}, out)
	}
	d.Decoded++
	o.Records = nil
	o.NextShardIterator = res.NextShardIterator
	o.MillisBehindLatest = res.MillisBehindLatest
	o.ChildShards = res.ChildShards
	d.res = res
	d.filled = o
	return nil
}

// fallback runs the SDK's deserializer on a body this package refused,
// turning a panic into an error: smithy-go v1.28.9 panics on a timestamp
// given as the string "NaN" (big.NewFloat(NaN)), and a malformed body
// must fail the call, not the worker.
func fallback(proto smithyhttp.ClientProtocol, ctx context.Context, schema *smithy.OperationSchema, reg *smithy.TypeRegistry, resp *smithyhttp.Response, out smithy.Deserializable) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &smithy.DeserializationError{Err: fmt.Errorf("the SDK's deserializer panicked: %v", r)}
		}
	}()
	return proto.DeserializeResponse(ctx, schema, reg, resp, out)
}

// Decode decodes a GetRecords body with d's parser alone, without the
// SDK: for tests and benchmarks. ok is false when the body is outside
// what the decoder handles (the SDK's deserializer decides then). The
// records slice is reused by d's next decode.
func (d *Decoder) Decode(body []byte) (res Response, ok bool) {
	res, recs, err := d.p.decode(body, d.recs, false)
	d.recs = recs
	return res, err == nil
}

// read reads a body into d's buffer, which it grows as needed and lets
// go of after 8 calls in a row that used less than a quarter of it (a
// burst must not pin its buffer on a shard gone quiet).
func (d *Decoder) read(r io.Reader, n int64) ([]byte, error) {
	if n >= 0 && n <= maxBody {
		if int64(cap(d.buf)) < n {
			d.buf = make([]byte, n)
		}
		buf := d.buf[:n]
		if _, err := io.ReadFull(r, buf); err != nil {
			return nil, err
		}
		// Read on to EOF (net/http reuses a connection only when the
		// body was read to its end; it usually says EOF with the last
		// bytes already).
		if m, _ := r.Read(d.one[:]); m > 0 {
			return nil, errors.New("the body is longer than its Content-Length")
		}
		d.keep(len(buf))
		return buf, nil
	}
	buf := d.buf[:0]
	for {
		if len(buf) == cap(buf) {
			// At least double, from 64 KiB: append's growth from nothing
			// (1.25x past 256 bytes) copied a 3 MB body about five times
			// over in 40-odd steps.
			buf = slices.Grow(buf, max(cap(buf), 64<<10))
		}
		m, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+m]
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
	}
	d.buf = buf[:0]
	d.keep(len(buf))
	return buf, nil
}

// keep applies the buffer's shrink rule after a body of n bytes.
func (d *Decoder) keep(n int) {
	const floor = 64 << 10
	if cap(d.buf) <= floor || n >= cap(d.buf)/4 {
		d.small = 0
		return
	}
	d.small++
	if d.small >= 8 {
		d.buf, d.small = nil, 0
	}
}
