package awsclient

import (
	"context"
	"fmt"
	"reflect"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// getRecordsParams are the endpoint parameters of a GetRecords call by
// stream ARN, as the SDK binds them.
func getRecordsParams(region, endpoint, streamARN string) kinesis.EndpointParameters {
	p := kinesis.EndpointParameters{
		Region:                aws.String(region),
		UseDualStack:          aws.Bool(false),
		UseFIPS:               aws.Bool(false),
		OperationType:         aws.String("data"),
		AccountIdEndpointMode: aws.String("preferred"),
	}
	if endpoint != "" {
		p.Endpoint = aws.String(endpoint)
	}
	if streamARN != "" {
		p.StreamARN = aws.String(streamARN)
	}
	return p
}

func BenchmarkResolveEndpoint(b *testing.B) {
	for _, arn := range []string{"", "arn:aws:kinesis:us-east-1:123456789012:stream/s"} {
		p := getRecordsParams("us-east-1", "", arn)
		for _, name := range []string{"sdk", "cached"} {
			var r kinesis.EndpointResolverV2 = kinesis.NewDefaultEndpointResolverV2()
			if name == "cached" {
				r = newEndpointCache(r)
			}
			b.Run(fmt.Sprintf("%s/arn=%v", name, arn != ""), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for b.Loop() {
					if _, err := r.ResolveEndpoint(ctx, p); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
}

// TestEndpointKeyCoversParameters fails when the SDK adds an endpoint
// parameter that endpointKey does not hold: two calls differing only in
// it would share an endpoint.
func TestEndpointKeyCoversParameters(t *testing.T) {
	params := reflect.TypeFor[kinesis.EndpointParameters]()
	key := reflect.TypeFor[endpointKey]()
	if params.NumField() != key.NumField() {
		t.Fatalf("kinesis.EndpointParameters has %d fields, endpointKey %d: update endpointKey and keyOf", params.NumField(), key.NumField())
	}
	// Every field, set alone, changes the key.
	base := keyOf(kinesis.EndpointParameters{})
	for i := range params.NumField() {
		var p kinesis.EndpointParameters
		f := reflect.ValueOf(&p).Elem().Field(i)
		switch f.Type() {
		case reflect.TypeFor[*string]():
			f.Set(reflect.ValueOf(aws.String("")))
		case reflect.TypeFor[*bool]():
			f.Set(reflect.ValueOf(aws.Bool(false)))
		default:
			t.Fatalf("field %s has type %s: update endpointKey and keyOf", params.Field(i).Name, f.Type())
		}
		if keyOf(p) == base {
			t.Errorf("field %s is not in endpointKey", params.Field(i).Name)
		}
	}
}
