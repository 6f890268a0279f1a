package main

import (
	"bytes"
	"os"
	"runtime/pprof"
	"strings"

	"github.com/kinesisio/beam-kinesis/testing/bench"
)

// part is a share of a CPU profile, recognized by label or stack.
type part struct {
	name  string
	match func(bench.Sample) bool
}

func labelIs(key, value string) func(bench.Sample) bool {
	return func(s bench.Sample) bool { return s.Labels[key] == value }
}

func hasAny(substrs ...string) func(bench.Sample) bool {
	return func(s bench.Sample) bool {
		for _, sub := range substrs {
			if s.Has(sub) {
				return true
			}
		}
		return false
	}
}

const gcPart = "GC background workers"

// producerPart is the part of the producers' goroutines.
const producerPart = "producer (label side=producer)"

// prismSpinNote explains the Prism part of the profiles.
const prismSpinNote = "Prism's part is almost all stage.Execute's progress loop (runtime.selectgo, lock2/unlock2, procyield under it): in Prism v2.77 it selects on the bundle's data channel, which is closed from the start when the stage has no outputs (here the Read's stage ends in the counting DoFn) and otherwise from the end of the data to the bundle's response, so it busy-waits for that time. --unfused-sink gives the stage an output; setting dataReady = nil once it fired (stage.go:217) removes the spin."

// parts split a profile of this process; the first that matches wins.
var parts = []part{
	{"in-process Kinesis server (label side=server)", labelIs("side", "server")},
	{"bare loop: SDK call + decode + counting (label side=bare)", labelIs("side", "bare")},
	{producerPart, labelIs("side", "producer")},
	{gcPart, hasAny("runtime.gcBgMarkWorker")},
	// The SDK's middleware makes stacks deeper than the profiler keeps
	// (64 frames, the outermost dropped), so the fetcher's goroutine root
	// is often cut off: SDK and net/http client frames outside the bare
	// loop are the fetcher's too (discovery's few ListShards aside).
	{"connector fetcher goroutines: GetRecords call or SubscribeToShard stream + SDK decode", hasAny("kinesisio/internal/fetcher.(*Fetcher).run",
		"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go", "net/http.(*persistConn)", "net/http.(*Transport)")},
	{"benchmark's counting DoFn (after Read)", hasAny("main.(*sinkFn).ProcessElement")},
	{"readFn.ProcessElement: claim, emit, watermark", hasAny("kinesisio.(*readFn).ProcessElement")},
	{"other connector code (discovery, restriction, coders)", hasAny("beam-kinesis/kinesisio")},
	{"Beam SDK harness (bundles, data channel, coders)", hasAny("beam/core/runtime/harness", "beam/core/runtime/exec")},
	{"Prism runner", hasAny("beam/runners/prism")},
	{"gRPC and HTTP/2 (runner <-> worker)", hasAny("google.golang.org/grpc", "golang.org/x/net/http2")},
	{"other (Go runtime, scheduler, syscalls)", func(bench.Sample) bool { return true }},
}

func partOf(s bench.Sample) int {
	for i, p := range parts {
		if p.match(s) {
			return i
		}
	}
	return len(parts) - 1
}

// partSums sums the CPU of p's samples by part.
func partSums(p *bench.Profile) []int64 {
	sums := make([]int64, len(parts))
	idx := p.ValueIndex("cpu")
	for _, s := range p.Samples {
		sums[partOf(s)] += s.Values[idx]
	}
	return sums
}

// isOurs reports whether a function is the connector's, Beam's, Prism's
// or this command's.
func isOurs(name string) bool {
	return strings.Contains(name, "beam-kinesis/kinesisio") || strings.Contains(name, "beam/core/runtime/exec.") ||
		strings.Contains(name, "beam/core/runtime/harness.") || strings.Contains(name, "beam/runners/prism/") || strings.HasPrefix(name, "main.")
}

// notServer keeps the samples outside the in-process server.
func notServer(s bench.Sample) bool { return s.Labels["side"] != "server" }

// captureCPU runs f under the CPU profiler and returns the profile, or
// nil (f still run) when the profiler is busy, e.g. under go test
// -cpuprofile.
func captureCPU(f func()) []byte {
	var buf bytes.Buffer
	if pprof.StartCPUProfile(&buf) != nil {
		f()
		return nil
	}
	f()
	pprof.StopCPUProfile()
	return buf.Bytes()
}

// saveProfile writes a CPU profile to the --cpuprofile file with suffix,
// if one was asked for.
func (b *benchRun) saveProfile(suffix string, data []byte) error {
	if b.c.cpuProfile == "" || data == nil {
		return nil
	}
	name := b.c.cpuProfile + suffix
	if err := os.WriteFile(name, data, 0o644); err != nil {
		return err
	}
	b.progress("wrote %s (go tool pprof -top %s)", name, name)
	return nil
}

// profView is what the function tables of one profile share: the
// samples kept, the total that percentages are of, and how a CPU value is
// shown (its unit, µs/rec or cores, and its formatting).
type profView struct {
	prof  *bench.Profile
	keep  func(bench.Sample) bool
	total float64
	unit  string
	val   func(int64) string
}

func (v profView) pct(x int64) string { return fixed(100*float64(x)/v.total, 1) }

// flatTable lists the top n functions by flat CPU; withCum adds their
// cumulative share.
func (v profView) flatTable(title string, n int, withCum bool) *bench.Table {
	t := &bench.Table{Title: title, Columns: []string{"function", "flat " + v.unit, "flat %"}}
	if withCum {
		t.Columns = append(t.Columns, "cum %")
	}
	for _, f := range v.prof.Top(v.prof.ValueIndex("cpu"), v.keep, n, false) {
		row := []any{shortFunc(f.Name), v.val(f.Flat), v.pct(f.Flat)}
		if withCum {
			row = append(row, v.pct(f.Cum))
		}
		t.AddRow(row...)
	}
	return t
}

// oursTable lists the first n functions that are ours (isOurs) by
// cumulative CPU.
func (v profView) oursTable(title string, n int) *bench.Table {
	t := &bench.Table{Title: title, Columns: []string{"function", "cum " + v.unit, "cum %"}}
	for _, f := range v.prof.Top(v.prof.ValueIndex("cpu"), v.keep, 0, true) {
		if isOurs(f.Name) && len(t.Rows) < n {
			t.AddRow(shortFunc(f.Name), v.val(f.Cum), v.pct(f.Cum))
		}
	}
	return t
}

// shortFunc shortens a function name from a profile: module prefixes
// abbreviated, generic type arguments elided.
func shortFunc(name string) string {
	if i := strings.IndexByte(name, '['); i >= 0 {
		depth, j := 0, i
		for ; j < len(name); j++ {
			switch name[j] {
			case '[':
				depth++
			case ']':
				depth--
			}
			if depth == 0 {
				break
			}
		}
		if j < len(name) {
			name = name[:i] + "[...]" + name[j+1:]
		}
	}
	for _, p := range []struct{ from, to string }{
		{"github.com/apache/beam/sdks/v2/go/pkg/beam/", "beam/"},
		{"github.com/kinesisio/beam-kinesis/", ""},
		{"github.com/aws/aws-sdk-go-v2/", "aws/"},
		{"github.com/aws/smithy-go/", "smithy/"},
		{"google.golang.org/grpc/", "grpc/"},
		{"google.golang.org/protobuf/", "protobuf/"},
	} {
		if strings.HasPrefix(name, p.from) {
			return p.to + name[len(p.from):]
		}
	}
	return name
}
