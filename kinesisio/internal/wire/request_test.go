package wire

import (
	"context"
	"errors"
	"io"
	"maps"
	"slices"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// errStop ends a call at its serialization.
var errStop = errors.New("stop")

// schemaCatcher records the operation schema the client hands its
// protocol, and stops the call there.
type schemaCatcher struct {
	smithyhttp.ClientProtocol
	schema *smithy.OperationSchema
}

func (s *schemaCatcher) SerializeRequest(_ context.Context, schema *smithy.OperationSchema, _ smithy.Serializable, _ *smithyhttp.Request) error {
	s.schema = schema
	return errStop
}

// sdkGetRecords returns the SDK's protocol of a Kinesis client and the
// GetRecords operation schema it serializes with.
func sdkGetRecords(t testing.TB) (smithyhttp.ClientProtocol, *smithy.OperationSchema) {
	t.Helper()
	c := kinesis.New(kinesis.Options{Region: "us-east-1", Credentials: aws.AnonymousCredentials{}})
	catcher := &schemaCatcher{ClientProtocol: c.Options().Protocol}
	_, err := c.GetRecords(context.Background(), &kinesis.GetRecordsInput{ShardIterator: aws.String("x")}, func(o *kinesis.Options) { o.Protocol = catcher })
	if !errors.Is(err, errStop) || catcher.schema == nil {
		t.Fatalf("catching the GetRecords schema: %v", err)
	}
	return c.Options().Protocol, catcher.schema
}

// serialized is what a protocol made of a request.
type serialized struct {
	method, url string
	header      map[string][]string
	body        string
	err         error
}

func serialize(t testing.TB, p smithyhttp.ClientProtocol, schema *smithy.OperationSchema, in *kinesis.GetRecordsInput) serialized {
	t.Helper()
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	err := p.SerializeRequest(context.Background(), schema, in, req)
	s := serialized{method: req.Method, url: req.URL.String(), header: req.Header, err: err}
	if r := req.GetStream(); r != nil {
		b, _ := io.ReadAll(r)
		s.body = string(b)
	}
	return s
}

// checkSameRequest fails unless the hook's protocol serializes in as the
// SDK's does.
func checkSameRequest(t *testing.T, sdk smithyhttp.ClientProtocol, schema *smithy.OperationSchema, in *kinesis.GetRecordsInput) {
	t.Helper()
	want := serialize(t, sdk, schema, in)
	got := serialize(t, &protocol{ClientProtocol: sdk, d: NewDecoder()}, schema, in)
	if got.method != want.method || got.url != want.url || got.body != want.body ||
		!maps.EqualFunc(got.header, want.header, slices.Equal) || (got.err == nil) != (want.err == nil) {
		t.Errorf("input %+v:\n got %s %s %v %q %v\nwant %s %s %v %q %v", in,
			got.method, got.url, got.header, got.body, got.err, want.method, want.url, want.header, want.body, want.err)
	}
}

// TestGetRecordsRequestIsTheSDKs: the GetRecords request the hook writes
// is the SDK's, byte for byte, headers included, for the inputs it
// handles and (through the SDK) the others.
func TestGetRecordsRequestIsTheSDKs(t *testing.T) {
	sdk, schema := sdkGetRecords(t)
	iter := "AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ+gIbSFlGKBq+ugrqNPNFNs+QJA0qiVFlIwLsVJiYV6rnOm/XCuSr9Lrf5c2ZY8="
	for _, in := range []*kinesis.GetRecordsInput{
		{ShardIterator: aws.String(iter)},
		{ShardIterator: aws.String(iter), Limit: aws.Int32(10000)},
		{ShardIterator: aws.String(iter), Limit: aws.Int32(-2147483648)},
		{ShardIterator: aws.String(iter), Limit: aws.Int32(0), StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/a-b_c.d")},
		{ShardIterator: aws.String("")},
		{ShardIterator: aws.String(`a"b\c<d>&e` + "\x00\x1f\u00e9\u2028")},
		{ShardIterator: aws.String(iter), StreamARN: aws.String("arn:aws:kinesis:us-east-1:1:stream/<&>")},
		{ShardIterator: aws.String(iter), StreamId: aws.String("sid")},
		{ShardIterator: aws.String(iter), DryRun: aws.Bool(true)},
		{Limit: aws.Int32(5)},
		{},
	} {
		checkSameRequest(t, sdk, schema, in)
	}
}

// FuzzGetRecordsRequest compares the hook's GetRecords requests with the
// SDK's on arbitrary iterators, ARNs and limits.
func FuzzGetRecordsRequest(f *testing.F) {
	f.Add("AAAA+/=", "", int32(10000), true)
	f.Add(`x"\<`, "arn:aws:kinesis:us-east-1:1:stream/s", int32(-1), false)
	f.Fuzz(func(t *testing.T, iter, arn string, limit int32, hasLimit bool) {
		sdk, schema := sdkGetRecords(t)
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String(iter)}
		if arn != "" {
			in.StreamARN = aws.String(arn)
		}
		if hasLimit {
			in.Limit = aws.Int32(limit)
		}
		checkSameRequest(t, sdk, schema, in)
	})
}

// BenchmarkSerializeGetRecords compares the SDK's serialization of a
// polling fetcher's GetRecords request with the hook's.
func BenchmarkSerializeGetRecords(b *testing.B) {
	sdk, schema := sdkGetRecords(b)
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ+gIbSFlGKBq+ugrqNPNFNs+QJA0qiVFlIwLsVJiYV6rnOm/XCuSr9Lrf5c2ZY8="), Limit: aws.Int32(10000)}
	for _, name := range []string{"none", "sdk", "hook"} {
		p := sdk
		if name == "hook" {
			p = &protocol{ClientProtocol: sdk, d: NewDecoder()}
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
				if name == "none" {
					continue
				}
				if err := p.SerializeRequest(ctx, schema, in, req); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
