package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// A MEASURE only (issue 24: "Write's PutRecords request encoding if the
// same approach pays there"): the SDK's serializer of a 500 x 100 B
// PutRecords request against a hand encoder writing the same JSON into a
// reused buffer. Nothing in Write uses the hand encoder.
//
//	go test -run '^$' -bench PutRecordsEncode -benchmem ./kinesisio/internal/wire/

func putInput() *kinesis.PutRecordsInput {
	in := &kinesis.PutRecordsInput{StreamName: aws.String("bench")}
	for i := range 500 {
		in.Records = append(in.Records, types.PutRecordsRequestEntry{
			Data:         bytes.Repeat([]byte{byte(i)}, 100),
			PartitionKey: aws.String(fmt.Sprintf("key-%d", i)),
		})
	}
	return in
}

func BenchmarkPutRecordsEncodeSDK(b *testing.B) {
	in := putInput()
	op := smithy.NewOperationSchema(schemas.PutRecords, schemas.PutRecordsInput, schemas.PutRecordsOutput)
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
		if err := sdkProtocol.SerializeRequest(context.Background(), op, in, req); err != nil {
			b.Fatal(err)
		}
		if _, err := io.Copy(io.Discard, req.GetStream()); err != nil {
			b.Fatal(err)
		}
	}
	perRecord(b, 500, cpu0)
}

// handEncode writes in as PutRecords JSON into buf. It escapes nothing:
// enough for the measure (keys and names here are plain ASCII).
func handEncode(buf []byte, in *kinesis.PutRecordsInput) []byte {
	buf = append(buf[:0], `{"Records":[`...)
	for i, r := range in.Records {
		if i > 0 {
			buf = append(buf, ',')
		}
		buf = append(buf, `{"Data":"`...)
		buf = base64.StdEncoding.AppendEncode(buf, r.Data)
		buf = append(buf, `","PartitionKey":"`...)
		buf = append(buf, *r.PartitionKey...)
		buf = append(buf, `"}`...)
	}
	buf = append(buf, `],"StreamName":"`...)
	buf = append(buf, *in.StreamName...)
	return append(buf, `"}`...)
}

func BenchmarkPutRecordsEncodeHand(b *testing.B) {
	in := putInput()
	var buf []byte
	b.ReportAllocs()
	cpu0 := processCPU()
	for b.Loop() {
		buf = handEncode(buf, in)
	}
	perRecord(b, 500, cpu0)
}

// TestHandEncodeMatchesSDK keeps the measure honest: both encoders write
// the same JSON value.
func TestHandEncodeMatchesSDK(t *testing.T) {
	in := putInput()
	op := smithy.NewOperationSchema(schemas.PutRecords, schemas.PutRecordsInput, schemas.PutRecordsOutput)
	req := smithyhttp.NewStackRequest().(*smithyhttp.Request)
	if err := sdkProtocol.SerializeRequest(context.Background(), op, in, req); err != nil {
		t.Fatal(err)
	}
	sdk, err := io.ReadAll(req.GetStream())
	if err != nil {
		t.Fatal(err)
	}
	var a, b any
	if err := json.Unmarshal(sdk, &a); err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(handEncode(nil, in), &b); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("the encoders differ:\nSDK  %.300s\nhand %.300s", sdk, handEncode(nil, in))
	}
}
