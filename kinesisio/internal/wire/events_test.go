package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go/eventstream"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// frame is one SubscribeToShardEvent message carrying payload.
func frame(t testing.TB, payload []byte) []byte {
	var msg eventstream.Message
	msg.Headers.Set(":event-type", eventstream.StringValue("SubscribeToShardEvent"))
	msg.Headers.Set(":message-type", eventstream.StringValue("event"))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = payload
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

var ignoreUnexported = cmpopts.IgnoreUnexported(types.SubscribeToShardEvent{}, types.Record{}, types.ChildShard{}, types.HashKeyRange{})

// checkEvent decodes one framed event both through Events and through the
// SDK's protocol alone: same event, or both fail. It reports whether the
// payload was decoded by this package.
func checkEvent(t *testing.T, payload []byte) bool {
	t.Helper()
	msg := frame(t, payload)
	sdk, sdkErr := fallbackEvent(awsjson.New11(schemas.Kinesis_20131202), schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, bytes.NewReader(msg))
	p := Events(awsjson.New11(schemas.Kinesis_20131202)).(*eventProtocol)
	ours, err := p.DeserializeEventMessage(schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, bytes.NewReader(msg))
	if (err != nil) != (sdkErr != nil) {
		t.Fatalf("payload %q: ours %v, SDK %v", payload, err, sdkErr)
	}
	if err != nil {
		return false
	}
	if d := cmp.Diff(sdk, ours, ignoreUnexported); d != "" {
		t.Fatalf("payload %q: event differs (-SDK +ours):\n%s", payload, d)
	}
	return p.Decoded == 1
}

// eventSeeds are GetRecords seeds made into event payloads.
func eventSeeds() []string {
	var out []string
	for _, s := range seeds {
		out = append(out, strings.ReplaceAll(s, "NextShardIterator", "ContinuationSequenceNumber"))
	}
	return append(out,
		`{"Records":[],"ContinuationSequenceNumber":"123","MillisBehindLatest":0}`,
		`{"Records":[],"NextShardIterator":"x"}`,
	)
}

func TestEventDecodeMatchesSDK(t *testing.T) {
	for i, s := range eventSeeds() {
		t.Run(fmt.Sprint(i), func(t *testing.T) { checkEvent(t, []byte(s)) })
	}
	if !checkEvent(t, []byte(`{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k","SequenceNumber":"1","ApproximateArrivalTimestamp":1700000000.123}],"ContinuationSequenceNumber":"1","MillisBehindLatest":12}`)) {
		t.Error("a plain event went to the SDK")
	}
	for _, p := range corpus(t, "events") {
		if !checkEvent(t, p) {
			t.Errorf("a captured event went to the SDK: %.200s", p)
		}
	}
}

// TestEventsPassOtherMessages: an exception message still comes out as
// the SDK's typed error, and an unknown event as the SDK's unknown member.
func TestEventsPassOtherMessages(t *testing.T) {
	var msg eventstream.Message
	msg.Headers.Set(":message-type", eventstream.StringValue("exception"))
	msg.Headers.Set(":exception-type", eventstream.StringValue("ResourceNotFoundException"))
	msg.Headers.Set(":content-type", eventstream.StringValue("application/json"))
	msg.Payload = []byte(`{"message":"gone"}`)
	var b bytes.Buffer
	if err := eventstream.NewEncoder().Encode(&b, msg); err != nil {
		t.Fatal(err)
	}
	p := Events(awsjson.New11(schemas.Kinesis_20131202))
	_, err := p.DeserializeEventMessage(schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, bytes.NewReader(b.Bytes()))
	var nf *types.ResourceNotFoundException
	if err == nil || !errors.As(err, &nf) {
		t.Fatalf("exception message: %T %v, want ResourceNotFoundException", err, err)
	}
	_, err = p.DeserializeEventMessage(schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, bytes.NewReader(nil))
	if err != io.EOF {
		t.Fatalf("end of stream: %v, want io.EOF", err)
	}
}

func FuzzDecodeEvent(f *testing.F) {
	for _, s := range eventSeeds() {
		f.Add([]byte(s))
	}
	for _, b := range corpus(f, "events") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkEvent(t, b) })
}

// noInitial is the fetcher's protocol for SubscribeToShard (no
// initial-response frame required: kinesis-mock sends none).
type noInitial struct{ smithyhttp.ClientProtocol }

func (noInitial) HasInitialEventMessage() bool { return false }

// streamRecorder keeps a copy of SubscribeToShard response bodies.
type streamRecorder struct {
	mu     sync.Mutex
	bodies []*bytes.Buffer
}

func (r *streamRecorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".SubscribeToShard") {
		return resp, err
	}
	b := &bytes.Buffer{}
	r.mu.Lock()
	r.bodies = append(r.bodies, b)
	r.mu.Unlock()
	resp.Body = struct {
		io.Reader
		io.Closer
	}{io.TeeReader(resp.Body, &syncWriter{mu: &r.mu, w: b}), resp.Body}
	return resp, nil
}

type syncWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(p)
}

// TestEventsBehindClient subscribes through Events on the in-process
// server and kinesis-mock (kinesalite has no SubscribeToShard): the
// records come right and every event was decoded by this package. With
// WIRE_CAPTURE set it writes the event payloads to testdata/events.
func TestEventsBehindClient(t *testing.T) {
	srv, err := fakekinesis.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	endpoints := map[string]string{"fakekinesis": srv.Endpoint(), "kinesis-mock": emulators.Require(t, emulators.KinesisMock).Endpoint}
	for name, ep := range endpoints {
		t.Run(name, func(t *testing.T) {
			rec := &streamRecorder{}
			c := client(ep, rec)
			ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
			defer cancel()
			put, stream := putAndRead(t, c, NewDecoder())
			sum, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
			if err != nil {
				t.Fatal(err)
			}
			reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: sum.StreamDescriptionSummary.StreamARN, ConsumerName: aws.String("wire")})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; ; i++ {
				d, err := c.DescribeStreamConsumer(ctx, &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
				if err != nil {
					t.Fatal(err)
				}
				if d.ConsumerDescription.ConsumerStatus == types.ConsumerStatusActive {
					break
				}
				if i > 300 {
					t.Fatal("consumer not ACTIVE")
				}
				time.Sleep(50 * time.Millisecond)
			}
			var ep *eventProtocol
			out, err := c.SubscribeToShard(ctx, &kinesis.SubscribeToShardInput{
				ConsumerARN: reg.Consumer.ConsumerARN, ShardId: aws.String("shardId-000000000000"),
				StartingPosition: &types.StartingPosition{Type: types.ShardIteratorTypeTrimHorizon},
			}, func(o *kinesis.Options) {
				ep = Events(noInitial{awsjson.New11(schemas.Kinesis_20131202)}).(*eventProtocol)
				o.Protocol = ep
			})
			if err != nil {
				t.Fatal(err)
			}
			events := out.GetStream()
			var got []types.Record
			for len(got) < len(put) {
				select {
				case ev, ok := <-events.Events():
					if !ok {
						t.Fatalf("stream ended after %d records: %v", len(got), events.Err())
					}
					if e, ok := ev.(*types.SubscribeToShardEventStreamMemberSubscribeToShardEvent); ok {
						got = append(got, e.Value.Records...)
					}
				case <-ctx.Done():
					t.Fatalf("%d of %d records", len(got), len(put))
				}
			}
			events.Close()
			for i, r := range got {
				if !bytes.Equal(r.Data, put[i].Data) || aws.ToString(r.PartitionKey) != put[i].PartitionKey || aws.ToString(r.SequenceNumber) != put[i].SequenceNumber {
					t.Fatalf("record %d differs", i)
				}
			}
			if ep.Decoded == 0 {
				t.Errorf("no event decoded here (%d handed to the SDK)", ep.Fallbacks)
			}
			rec.mu.Lock()
			defer rec.mu.Unlock()
			n := 0
			for _, b := range rec.bodies {
				dec := eventstream.NewDecoder()
				for {
					msg, err := dec.Decode(b, nil)
					if err != nil {
						break
					}
					if header(msg, ":event-type") != "SubscribeToShardEvent" {
						continue
					}
					if !checkEvent(t, msg.Payload) {
						t.Errorf("captured payload refused: %.300s", msg.Payload)
					}
					if os.Getenv("WIRE_CAPTURE") != "" && n < 6 {
						if err := os.WriteFile(filepath.Join("testdata", "events", fmt.Sprintf("%s-%d.json", name, n)), msg.Payload, 0o644); err != nil {
							t.Fatal(err)
						}
					}
					n++
				}
			}
		})
	}
}
