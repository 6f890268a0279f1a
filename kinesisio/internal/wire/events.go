package wire

import (
	"bytes"
	"fmt"
	"io"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/aws/smithy-go/eventstream"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// Event stream header names and values the SDK's codec reads.
const (
	headerMessageType = ":message-type"
	headerEventType   = ":event-type"
	messageTypeEvent  = "event"
	subscribeEvent    = "SubscribeToShardEvent"
)

// Events wraps the protocol of ONE SubscribeToShard call (its event
// reader keeps per-stream state, as the SDK's does) so that the JSON
// payload of each SubscribeToShardEvent is decoded by this package. The
// event stream framing (prelude, headers, CRCs) is still decoded by
// smithy-go's eventstream.Decoder; any other message (the initial
// response, exceptions, errors, unknown events) and any payload this
// package does not handle is encoded again and handed to the wrapped
// protocol, which then decodes it as it would have.
func Events(inner smithyhttp.ClientProtocol) smithyhttp.ClientProtocol {
	return &eventProtocol{ClientProtocol: inner, dec: eventstream.NewDecoder()}
}

// maxEventBuffer bounds the payload buffer an event reader keeps.
const maxEventBuffer = 64 << 10

type eventProtocol struct {
	smithyhttp.ClientProtocol
	dec  *eventstream.Decoder
	buf  []byte // payload buffer, reused
	p    parser
	recs []Record

	// Decoded and Fallbacks count the events decoded here and the
	// messages handed to the wrapped protocol.
	Decoded, Fallbacks int64
}

// DeserializeEventMessage reads the next message from r.
func (e *eventProtocol) DeserializeEventMessage(schema *smithy.Schema, reg *smithy.TypeRegistry, r io.Reader) (smithy.Deserializable, error) {
	msg, err := e.dec.Decode(r, e.buf[:0])
	if err != nil {
		// As the SDK's codec reports them.
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return nil, io.EOF
		}
		return nil, fmt.Errorf("decode event: %w", err)
	}
	// Keep a grown payload buffer only while it is small: a subscription
	// lives per shard, and a burst's buffer (grown by doubling) would
	// otherwise stay pinned on a shard gone quiet.
	if c := cap(msg.Payload); c > cap(e.buf) && c <= maxEventBuffer {
		e.buf = msg.Payload[:0]
	}
	if header(msg, headerMessageType) == messageTypeEvent && header(msg, headerEventType) == subscribeEvent {
		if ev, ok := e.decodeEvent(msg.Payload); ok {
			e.Decoded++
			return ev, nil
		}
	}
	e.Fallbacks++
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		return nil, fmt.Errorf("decode event: %w", err)
	}
	return fallbackEvent(e.ClientProtocol, schema, reg, &b)
}

// decodeEvent decodes a SubscribeToShardEvent payload.
func (e *eventProtocol) decodeEvent(payload []byte) (*types.SubscribeToShardEvent, bool) {
	res, recs, err := e.p.decode(payload, e.recs, true)
	e.recs = recs
	if err != nil {
		return nil, false
	}
	ev := &types.SubscribeToShardEvent{
		Records:                    ToSDK(res.Records),
		ContinuationSequenceNumber: res.ContinuationSequenceNumber,
		MillisBehindLatest:         res.MillisBehindLatest,
		ChildShards:                res.ChildShards,
	}
	clear(e.recs) // the reused slice must not pin this event's data
	return ev, true
}

// DecodeEvent decodes a SubscribeToShardEvent payload without the SDK: for
// tests and benchmarks. ok is false when the payload is outside what the
// decoder handles.
func DecodeEvent(payload []byte) (ev *types.SubscribeToShardEvent, ok bool) {
	var e eventProtocol
	return e.decodeEvent(payload)
}

// header is a string header's value, "" when absent or not a string.
func header(msg eventstream.Message, name string) string {
	v := msg.Headers.Get(name)
	if s, ok := v.(eventstream.StringValue); ok {
		return string(s)
	}
	return ""
}

// fallbackEvent runs the wrapped protocol's event decoder on one message,
// turning a panic into an error (see fallback).
func fallbackEvent(proto smithyhttp.ClientProtocol, schema *smithy.Schema, reg *smithy.TypeRegistry, r io.Reader) (ev smithy.Deserializable, err error) {
	defer func() {
		if p := recover(); p != nil {
			ev, err = nil, &smithy.DeserializationError{Err: fmt.Errorf("the SDK's event deserializer panicked: %v", p)}
		}
	}()
	return proto.DeserializeEventMessage(schema, reg, r)
}
