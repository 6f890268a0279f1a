package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// maxBody bounds the body the decoder reads into its own buffer: a full
// GetRecords response is at most 10 MiB of data, about 14 MiB as base64
// JSON. A larger declared length goes to the SDK's deserializer.
const maxBody = 32 << 20

// Decoder decodes the GetRecords responses of one reader (one shard's
// fetcher) behind the SDK client. It is not safe for concurrent use: one
// call at a time, and the records of a call must be taken with Records
// before the next call.
type Decoder struct {
	buf   []byte // the response body, reused from call to call
	small int    // calls in a row whose body used less than a quarter of buf
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
		var one [1]byte
		if m, _ := r.Read(one[:]); m > 0 {
			return nil, errors.New("the body is longer than its Content-Length")
		}
		d.keep(len(buf))
		return buf, nil
	}
	buf := d.buf[:0]
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
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
