package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
	"unsafe"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

var (
	sdkProtocol = awsjson.New11(schemas.Kinesis_20131202)
	getRecords  = smithy.NewOperationSchema(schemas.GetRecords, schemas.GetRecordsInput, schemas.GetRecordsOutput)
)

// response is a 200 response with body.
func response(body []byte) *smithyhttp.Response {
	return &smithyhttp.Response{Response: &http.Response{
		StatusCode:    200,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}},
		ContentLength: int64(len(body)),
		Body:          io.NopCloser(bytes.NewReader(body)),
	}}
}

// sdkDecode is the SDK's own deserializer on body.
// A panic of the SDK's (see fallback) counts as an error.
func sdkDecode(body []byte) (*kinesis.GetRecordsOutput, error) {
	out := &kinesis.GetRecordsOutput{}
	err := fallback(sdkProtocol, context.Background(), getRecords, kinesis.TypeRegistry, response(bytes.Clone(body)), out)
	return out, err
}

// compare checks that res (ours) equals the SDK's output field by field.
func compare(t *testing.T, res Response, sdk *kinesis.GetRecordsOutput) {
	t.Helper()
	if (res.Records == nil) != (sdk.Records == nil) || len(res.Records) != len(sdk.Records) {
		t.Fatalf("records: ours %d (nil %v), SDK %d (nil %v)", len(res.Records), res.Records == nil, len(sdk.Records), sdk.Records == nil)
	}
	for i, s := range sdk.Records {
		o := res.Records[i]
		if !bytes.Equal(o.Data, s.Data) || (o.Data == nil) != (s.Data == nil) {
			t.Fatalf("record %d data: ours %q (nil %v), SDK %q (nil %v)", i, o.Data, o.Data == nil, s.Data, s.Data == nil)
		}
		if o.SequenceNumber != aws.ToString(s.SequenceNumber) || o.PartitionKey != aws.ToString(s.PartitionKey) || o.EncryptionType != s.EncryptionType {
			t.Fatalf("record %d: ours %q %q %q, SDK %q %q %q", i, o.SequenceNumber, o.PartitionKey, o.EncryptionType,
				aws.ToString(s.SequenceNumber), aws.ToString(s.PartitionKey), s.EncryptionType)
		}
		if !o.Arrival.Equal(aws.ToTime(s.ApproximateArrivalTimestamp)) || o.Arrival.Location() != aws.ToTime(s.ApproximateArrivalTimestamp).Location() {
			t.Fatalf("record %d arrival: ours %v, SDK %v", i, o.Arrival, aws.ToTime(s.ApproximateArrivalTimestamp))
		}
	}
	if (res.NextShardIterator == nil) != (sdk.NextShardIterator == nil) || aws.ToString(res.NextShardIterator) != aws.ToString(sdk.NextShardIterator) {
		t.Fatalf("next iterator: ours %v, SDK %v", res.NextShardIterator, sdk.NextShardIterator)
	}
	if (res.MillisBehindLatest == nil) != (sdk.MillisBehindLatest == nil) || aws.ToInt64(res.MillisBehindLatest) != aws.ToInt64(sdk.MillisBehindLatest) {
		t.Fatalf("millis behind: ours %v, SDK %v", res.MillisBehindLatest, sdk.MillisBehindLatest)
	}
	if (res.ChildShards == nil) != (sdk.ChildShards == nil) || len(res.ChildShards) != len(sdk.ChildShards) {
		t.Fatalf("child shards: ours %v, SDK %v", res.ChildShards, sdk.ChildShards)
	}
}

// check decodes body both ways: where ours accepts, the SDK must accept
// it with the same result.
func check(t *testing.T, body []byte) (ours bool) {
	t.Helper()
	d := NewDecoder()
	res, ok := d.Decode(body)
	sdk, err := sdkDecode(body)
	if !ok {
		return false
	}
	if err != nil {
		t.Fatalf("ours decoded %q, the SDK failed: %v", body, err)
	}
	compare(t, res, sdk)
	return true
}

// body builds a GetRecords body of n records of size bytes each.
func body(n, size int) []byte {
	var b bytes.Buffer
	b.WriteString(`{"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAH3dLBv1wXx8rLkO5A8mrxq5GIw2uTk0ZJ9EQ6p0d0K8hvUZP6n6BjFn9tqrYRdR2lEZJq2JSvH6b2Wb6LR0Ib4fD9nKb7wL7u1Qme6bX1kU7qGgTzF5E2dVt5cL1bLm5v6PvA4tO8hj6vJ2Z3p8HXQ7b1w==","Records":[`)
	data := bytes.Repeat([]byte{'x'}, size)
	enc := base64.StdEncoding.EncodeToString(data)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"SequenceNumber":"4959%036d","ApproximateArrivalTimestamp":1.765080000123E9,"Data":"%s","PartitionKey":"key-%d","EncryptionType":"NONE"}`, i, enc, i)
	}
	b.WriteString(`]}`)
	return b.Bytes()
}

// seeds are hand-written bodies covering the shapes the decoder takes
// and those it leaves to the SDK.
var seeds = []string{
	`{"Records":[],"NextShardIterator":"it","MillisBehindLatest":0}`,
	`{"Records":[{"Data":"aGVsbG8=","PartitionKey":"k","SequenceNumber":"1","ApproximateArrivalTimestamp":1700000000.123}],"NextShardIterator":"it","MillisBehindLatest":12}`,
	`{"Records":[],"MillisBehindLatest":0,"ChildShards":[]}`,
	`{"Records":[],"MillisBehindLatest":0,"ChildShards":[{"ShardId":"shardId-000000000002","ParentShards":["shardId-000000000000"],"HashKeyRange":{"StartingHashKey":"0","EndingHashKey":"1"}}]}`,
	`{"Records":null,"NextShardIterator":null,"MillisBehindLatest":null}`,
	` { "Records" : [ { } , {"Data":""} ] } `,
	`{"Records":[{"Data":"aGVsbG8=","PartitionKey":"a\"b\u00e9\ud83d\ude00","SequenceNumber":"1"}]}`,
	`{"Records":[{"Data":"aGVsb\/G8="}]}`,
	`{"Records":[{"Data":"aGVsbG8"}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":1e3},{"ApproximateArrivalTimestamp":-0},{"ApproximateArrivalTimestamp":-1.5},{"ApproximateArrivalTimestamp":99999999999999999999}]}`,
	`{"Records":[{"ApproximateArrivalTimestamp":"NaN"}]}`,
	`{"MillisBehindLatest":1.0}`,
	`{"MillisBehindLatest":9223372036854775808}`,
	`{"Records":[],"Records":[]}`,
	`{"Unknown":1,"Records":[]}`,
	`{"Records":[null]}`,
	`{"Records":[]} x`,
	`{"Records":[{"PartitionKey":"\xff\xfe"}]}`,
	`{"Records":[{"PartitionKey":"\ud800"}]}`,
	``,
	`[]`,
	`{}`,
}

func TestDecodeMatchesSDK(t *testing.T) {
	for i, s := range seeds {
		t.Run(fmt.Sprint(i), func(t *testing.T) { check(t, []byte(s)) })
	}
	for _, size := range []int{0, 1, 100, 10 << 10} {
		if !check(t, body(50, size)) {
			t.Fatalf("ours refused a plain body of %d-byte records", size)
		}
	}
	for _, f := range corpus(t, "bodies") {
		if !check(t, f) {
			t.Errorf("ours refused a captured body: %.200s", f)
		}
	}
}

// corpus are the captured bodies in testdata/<dir>: GetRecords responses
// ("bodies") or SubscribeToShard event payloads ("events").
func corpus(t testing.TB, dir string) [][]byte {
	files, err := filepath.Glob(filepath.Join("testdata", dir, "*.json"))
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, b)
	}
	return out
}

// TestDataNeverAliases checks that data handed out survives the next
// decode through the same Decoder (the body buffer and records slice are
// reused; the data slab must not be).
func TestDataNeverAliases(t *testing.T) {
	d := NewDecoder()
	first, ok := d.Decode([]byte(`{"Records":[{"Data":"AAAA","SequenceNumber":"1"},{"Data":"AQEB","SequenceNumber":"2"}]}`))
	if !ok {
		t.Fatal("refused")
	}
	a, b := first.Records[0].Data, first.Records[1].Data
	if cap(a) != len(a) {
		t.Fatalf("data slices must be capped: len %d cap %d", len(a), cap(a))
	}
	_ = append(a, 9, 9, 9) // must not write into b
	if _, ok := d.Decode([]byte(`{"Records":[{"Data":"/////w==","SequenceNumber":"3"}]}`)); !ok {
		t.Fatal("refused")
	}
	if !bytes.Equal(a, []byte{0, 0, 0}) || !bytes.Equal(b, []byte{1, 1, 1}) {
		t.Fatalf("data changed: %v %v", a, b)
	}
}

func TestEpochMillis(t *testing.T) {
	for _, v := range []float64{0, 1.5, -1.5, 1765080000.123, 1765080000.1239, 1e20, -1e20, 9.2233720368547758e15, 0.0005, -0.0005} {
		got := epochMillis(millisOf(v))
		body := fmt.Sprintf(`{"Records":[{"ApproximateArrivalTimestamp":%v}]}`, strings.TrimSuffix(fmt.Sprint(v), "+00"))
		sdk, err := sdkDecode([]byte(body))
		if err != nil {
			t.Fatalf("%v: %v", v, err)
		}
		if want := aws.ToTime(sdk.Records[0].ApproximateArrivalTimestamp); !got.Equal(want) {
			t.Errorf("%v: ours %v, SDK %v", v, got, want)
		}
	}
	_ = time.Now
	_ = types.EncryptionTypeKms
}

func FuzzDecode(f *testing.F) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Add(body(3, 10))
	for _, b := range corpus(f, "bodies") {
		f.Add(b)
	}
	f.Fuzz(func(t *testing.T, b []byte) { check(t, b) })
}

// TestPlain checks the eight-bytes-at-a-time scan against a plain loop
// for every byte value at every position of a 17-byte string.
func TestPlain(t *testing.T) {
	for c := range 256 {
		for at := range 17 {
			b := bytes.Repeat([]byte{'A'}, 17)
			b[at] = byte(c)
			want := c >= 0x20 && c != '\\'
			if got := plain(b); got != want {
				t.Fatalf("byte %#x at %d: plain %v, want %v", c, at, got, want)
			}
		}
	}
}

// The parser keeps its pending records for the Decoder's life (as many
// as the largest call had): they must hold no pointer, so that the GC
// neither scans nor zeroes their backing array for its pointers, and
// stay small (232 B each when they held strings and times).
func TestPendingIsSmallAndPointerFree(t *testing.T) {
	if size := unsafe.Sizeof(pending{}); size > 96 {
		t.Errorf("pending is %d bytes, want at most 96", size)
	}
	var walk func(reflect.Type, string)
	walk = func(rt reflect.Type, path string) {
		switch rt.Kind() {
		case reflect.Struct:
			for i := range rt.NumField() {
				walk(rt.Field(i).Type, path+"."+rt.Field(i).Name)
			}
		case reflect.Array:
			walk(rt.Elem(), path+"[]")
		case reflect.Pointer, reflect.String, reflect.Slice, reflect.Map, reflect.Interface, reflect.Chan, reflect.Func, reflect.UnsafePointer:
			t.Errorf("%s is a %v: pending must hold no pointer", path, rt.Kind())
		}
	}
	walk(reflect.TypeFor[pending](), "pending")
}
