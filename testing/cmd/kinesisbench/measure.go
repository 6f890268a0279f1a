package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
	"math/bits"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/pprof/profile"
)

// Histogram resolution: each power of two above 2^subBits is split into
// 2^(subBits-1) buckets (1.6 % wide); values below have a bucket each.
const (
	subBits    = 7
	subCount   = 1 << subBits
	halfCount  = subCount / 2
	numBuckets = subCount + (64-subBits)*halfCount
)

// Histogram counts non-negative durations in log-linear buckets, safe for
// concurrent use and without allocation after newHistogram. Quantiles are
// exact to within 1.6 % and clamped to the exact min and max.
type Histogram struct {
	counts      [numBuckets]atomic.Int64
	n, max, min atomic.Int64
}

func newHistogram() *Histogram {
	h := &Histogram{}
	h.min.Store(math.MaxInt64)
	return h
}

func bucketOf(v int64) int {
	if v < subCount {
		return int(v)
	}
	shift := bits.Len64(uint64(v)) - subBits
	return subCount + (shift-1)*halfCount + int(v>>shift) - halfCount
}

// bucketMid is the middle of bucket i.
func bucketMid(i int) int64 {
	if i < subCount {
		return int64(i)
	}
	shift := (i-subCount)/halfCount + 1
	lo := int64((i-subCount)%halfCount+halfCount) << shift
	return lo + (int64(1)<<shift)/2
}

// Record adds d (negative counts as 0).
func (h *Histogram) Record(d time.Duration) {
	v := max(int64(d), 0)
	h.counts[bucketOf(v)].Add(1)
	h.n.Add(1)
	for m := h.max.Load(); v > m && !h.max.CompareAndSwap(m, v); m = h.max.Load() {
	}
	for m := h.min.Load(); v < m && !h.min.CompareAndSwap(m, v); m = h.min.Load() {
	}
}

// Count is how many durations were recorded.
func (h *Histogram) Count() int64 { return h.n.Load() }

// Max is the largest duration recorded (0 if none).
func (h *Histogram) Max() time.Duration {
	if h.n.Load() == 0 {
		return 0
	}
	return time.Duration(h.max.Load())
}

// Quantile is the q-quantile (0 <= q <= 1), 0 if nothing was recorded.
func (h *Histogram) Quantile(q float64) time.Duration {
	n := h.n.Load()
	if n == 0 {
		return 0
	}
	if q >= 1 {
		return h.Max()
	}
	rank := max(int64(math.Ceil(q*float64(n))), 1)
	var seen int64
	for i := range h.counts {
		if seen += h.counts[i].Load(); seen >= rank {
			return time.Duration(min(max(bucketMid(i), h.min.Load()), h.max.Load()))
		}
	}
	return h.Max()
}

// CDF returns (duration, fraction of the recorded durations <= it) for
// every non-empty bucket, in order.
func (h *Histogram) CDF() (ds []time.Duration, fs []float64) {
	n := float64(h.n.Load())
	var seen int64
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			seen += c
			ds = append(ds, time.Duration(min(max(bucketMid(i), h.min.Load()), h.max.Load())))
			fs = append(fs, float64(seen)/n)
		}
	}
	return ds, fs
}

// rss is this process's resident set size (VmRSS), 0 without /proc.
func rss() int64 { return procField("/proc/self/status", "VmRSS:") }

// procField reads a "Name:   123 kB" line of a /proc file, in bytes.
func procField(file, name string) int64 {
	b, err := os.ReadFile(file)
	if err != nil {
		return 0
	}
	for line := range strings.SplitSeq(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, name); ok {
			if f := strings.Fields(rest); len(f) > 0 {
				n, _ := strconv.ParseInt(f[0], 10, 64)
				return n * 1024
			}
		}
	}
	return 0
}

// memAfterGC is the RSS after a full GC that returns free memory to the OS.
func memAfterGC() int64 {
	runtime.GC()
	debug.FreeOSMemory()
	return rss()
}

// loadAvg is the 1-minute load average, "" without /proc.
func loadAvg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if f := strings.Fields(string(b)); err == nil && len(f) > 0 {
		return f[0]
	}
	return ""
}

// machine describes the machine and toolchain in one line.
func machine() string {
	cpu := runtime.GOARCH + " CPU"
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
				cpu = strings.TrimSpace(v)
				break
			}
		}
		f.Close()
	}
	parts := []string{fmt.Sprintf("%s, %d cores", cpu, runtime.NumCPU())}
	if m := procField("/proc/meminfo", "MemTotal:"); m > 0 {
		parts = append(parts, fmt.Sprintf("%.0f GiB", float64(m)/(1<<30)))
	}
	parts = append(parts, runtime.GOOS, runtime.Version())
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, d := range bi.Deps {
			if name := map[string]string{"github.com/apache/beam/sdks/v2": "Beam", "github.com/aws/aws-sdk-go-v2/service/kinesis": "aws-sdk-go-v2/service/kinesis"}[d.Path]; name != "" {
				parts = append(parts, name+" "+d.Version)
			}
		}
	}
	return strings.Join(parts, ", ")
}

// part is a share of a CPU profile, recognised by goroutine label or by a
// frame of the stack; the first of parts that matches wins.
type part struct {
	name   string
	label  string   // side=label
	frames []string // any frame containing one of them
}

// parts split the profiles. The SDK's middleware makes stacks deeper than
// the profiler keeps, so the fetcher's root is often cut off: SDK and
// net/http frames outside the labelled goroutines are the fetcher's.
var parts = []part{
	{name: "in-process Kinesis server", label: "server"},
	{name: "producer", label: "producer"},
	{name: "bare SDK loop", label: "bare"},
	{name: "GC workers", frames: []string{"runtime.gcBgMarkWorker"}},
	{name: "fetchers: call + decode", frames: []string{"kinesisio/internal/fetcher.", "kinesisio/internal/wire.", "github.com/aws/", "net/http.(*persistConn)", "net/http.(*Transport)"}},
	{name: "benchmark's counting DoFn", frames: []string{"main.(*sinkFn)"}},
	{name: "readFn: claim, emit, watermark", frames: []string{"kinesisio.(*readFn).ProcessElement"}},
	{name: "other connector code", frames: []string{"beam-kinesis/kinesisio"}},
	{name: "Beam SDK harness", frames: []string{"beam/core/runtime/"}},
	{name: "Prism runner", frames: []string{"beam/runners/prism"}},
	{name: "gRPC, HTTP/2", frames: []string{"google.golang.org/grpc", "golang.org/x/net/http2"}},
	{name: "other (runtime, syscalls)"},
}

// readSide reports whether part i is spent by the reading side (what a
// worker reading a real stream spends too).
func readSide(i int) bool { return i > 2 }

// partsOf splits a CPU profile as runtime/pprof writes it by part, in ns.
func partsOf(data []byte) ([]int64, error) {
	p, err := profile.ParseData(data)
	if err != nil {
		return nil, fmt.Errorf("profile: %w", err)
	}
	idx := -1
	for i, st := range p.SampleType {
		if st.Type == "cpu" {
			idx = i
		}
	}
	if idx < 0 {
		return nil, fmt.Errorf("profile without cpu values")
	}
	sums := make([]int64, len(parts))
	for _, s := range p.Sample {
		sums[partOfSample(s)] += s.Value[idx]
	}
	return sums, nil
}

func partOfSample(s *profile.Sample) int {
	side := ""
	if v := s.Label["side"]; len(v) > 0 {
		side = v[0]
	}
	for i, pt := range parts {
		if pt.label != "" && pt.label == side {
			return i
		}
		for _, loc := range s.Location {
			for _, l := range loc.Line {
				for _, f := range pt.frames {
					if l.Function != nil && strings.Contains(l.Function.Name, f) {
						return i
					}
				}
			}
		}
	}
	return len(parts) - 1
}

// captureCPU runs f under the CPU profiler and returns the profile, nil
// (f still run) when the profiler is busy, e.g. under go test -cpuprofile.
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
