package wire

import (
	"bytes"
	"context"
	"encoding/base64"
	"fmt"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/schemas"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	smithyhttp "github.com/aws/smithy-go/transport/http"
	"github.com/aws/smithy-go/transport/http/protocol/awsjson"
)

// The decode benchmarks run on the same 1,000-record bodies; each reports
// ns/record (and B/record), so that their ratios read off one run:
//
//	go test -run '^$' -bench 'Decode' -benchmem ./kinesisio/internal/wire/
//
// SDK is the SDK's deserializer (awsJson1_1 protocol) on the body; Wire is
// this package's decoder; WireBehindProtocol is the decoder as the client
// calls it (the wrapped protocol, body read into the reused buffer);
// Base64 is base64.StdEncoding.Decode of the records' data alone, the
// floor of any decoder.
var benchSizes = []int{100, 10 << 10}

// perRecord reports wall and process CPU time per record (the CPU figure
// holds up better on a loaded machine: waiting for a core is not in it).
func perRecord(b *testing.B, n int, cpu0 time.Duration) {
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/record")
	b.ReportMetric(float64((processCPU()-cpu0).Nanoseconds())/float64(b.N*n), "cpu-ns/record")
}

// processCPU is the process's user and system CPU time so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func BenchmarkDecodeSDK(b *testing.B) {
	for _, size := range benchSizes {
		body := body(1000, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				out := &kinesis.GetRecordsOutput{}
				if err := sdkProtocol.DeserializeResponse(context.Background(), getRecords, kinesis.TypeRegistry, response(body), out); err != nil {
					b.Fatal(err)
				}
			}
			perRecord(b, 1000, cpu0)
		})
	}
}

func BenchmarkDecodeWire(b *testing.B) {
	for _, size := range benchSizes {
		body := body(1000, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			d := NewDecoder()
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				if _, ok := d.Decode(body); !ok {
					b.Fatal("refused")
				}
			}
			perRecord(b, 1000, cpu0)
		})
	}
}

func BenchmarkDecodeWireBehindProtocol(b *testing.B) {
	for _, size := range benchSizes {
		body := body(1000, size)
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			d := NewDecoder()
			o := &kinesis.Options{Protocol: sdkProtocol}
			d.Option()(o)
			b.SetBytes(int64(len(body)))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				out := &kinesis.GetRecordsOutput{}
				if err := o.Protocol.DeserializeResponse(context.Background(), getRecords, kinesis.TypeRegistry, response(body), out); err != nil {
					b.Fatal(err)
				}
				if len(d.Records(out)) != 1000 {
					b.Fatal("records lost")
				}
			}
			perRecord(b, 1000, cpu0)
		})
	}
}

func BenchmarkDecodeBase64(b *testing.B) {
	for _, size := range benchSizes {
		enc := []byte(base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{'x'}, size)))
		b.Run(fmt.Sprint(size), func(b *testing.B) {
			b.SetBytes(int64(len(body(1000, size))))
			b.ReportAllocs()
			cpu0 := processCPU()
			for b.Loop() {
				// One slab per body, as the decoder does.
				dst := make([]byte, 1000*size)
				for i := range 1000 {
					if _, err := base64.StdEncoding.Decode(dst[i*size:], enc); err != nil {
						b.Fatal(err)
					}
				}
			}
			perRecord(b, 1000, cpu0)
		})
	}
}

// BenchmarkDecodeEvent decodes framed SubscribeToShardEvent messages of 1
// and 100 records of 100 B: the SDK's codec against Events (the framing
// is smithy-go's in both). At low rates fan-out carries one record per
// event, so the per-event cost is what matters there.
func BenchmarkDecodeEvent(b *testing.B) {
	for _, n := range []int{1, 100} {
		payload := bytes.ReplaceAll(body(n, 100), []byte("NextShardIterator"), []byte("ContinuationSequenceNumber"))
		msg := frame(b, payload)
		for _, mode := range []string{"sdk", "wire"} {
			b.Run(fmt.Sprintf("%s/%d", mode, n), func(b *testing.B) {
				var p smithyhttp.ClientProtocol = awsjson.New11(schemas.Kinesis_20131202)
				if mode == "wire" {
					p = Events(p)
				}
				r := bytes.NewReader(msg)
				b.ReportAllocs()
				cpu0 := processCPU()
				for b.Loop() {
					r.Reset(msg)
					ev, err := p.DeserializeEventMessage(schemas.SubscribeToShardEventStream, kinesis.TypeRegistry, r)
					if err != nil || len(ev.(*types.SubscribeToShardEvent).Records) != n {
						b.Fatal(err)
					}
				}
				perRecord(b, n, cpu0)
			})
		}
	}
}
