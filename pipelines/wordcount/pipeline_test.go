package main

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/pipelines/wordcount/words"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// Scenario of the end-to-end tests: 4 shards, 200 records/s of 3 words
// for 2.5 s, counted in 1 s windows while they are put.
const (
	testShards  = 4
	testRate    = 200
	testRecords = 500
	testPerRec  = 3
	testWindow  = time.Second
	testSeed    = 7
)

// perWindow holds word counts by window start (Unix ms), then word.
type perWindow map[int64]map[string]int

// scenario is one stream on one endpoint.
type scenario struct {
	endpoint string
	client   *kinesis.Client
	stream   string
}

func newScenario(t *testing.T, endpoint string) *scenario {
	t.Helper()
	c := kinesistest.NewClient(endpoint)
	stream := kinesistest.StreamName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kinesistest.CreateStream(ctx, c, stream, testShards); err != nil {
		t.Fatal(err)
	}
	return &scenario{endpoint: endpoint, client: c, stream: stream}
}

// readOptions are the options the pipeline gets with --stream,
// --kinesis_endpoint, --kinesis_region and --max_records, plus a time
// bound for the test.
func (sc *scenario) readOptions() []kinesisio.ReadOption {
	return []kinesisio.ReadOption{
		kinesisio.Connection{Endpoint: sc.endpoint, Region: kinesistest.Region},
		kinesisio.WithMaxRecords(testRecords),
		kinesisio.WithMaxReadTime(time.Minute),
	}
}

// produceWhile runs the producer while run runs the pipeline, and
// returns what the producer put.
func (sc *scenario) produceWhile(t *testing.T, run func() error) words.Result {
	t.Helper()
	p, err := words.NewProducer(sc.client, words.Config{
		Stream: sc.stream, Rate: testRate, WordsPerRecord: testPerRec, Count: testRecords, Seed: testSeed,
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	type produced struct {
		res words.Result
		err error
	}
	done := make(chan produced, 1)
	go func() {
		res, err := p.Run(ctx)
		done <- produced{res, err}
	}()
	runErr := run()
	pr := <-done // bounded by ctx
	if runErr != nil {
		t.Fatalf("pipeline: %v", runErr)
	}
	if pr.err != nil {
		t.Fatalf("producer: %v", pr.err)
	}
	if pr.res.Records != testRecords || pr.res.TotalWords() != testRecords*testPerRec {
		t.Fatalf("producer put %d records, %d words; want %d, %d", pr.res.Records, pr.res.TotalWords(), testRecords, testRecords*testPerRec)
	}
	return pr.res
}

// expected reads the stream back and counts its words by the window of
// each record's arrival time: what the pipeline must print when no record
// is lost or dropped as late.
func (sc *scenario) expected(t *testing.T, res words.Result) perWindow {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all, err := kinesistest.ReadAll(ctx, sc.client, sc.stream)
	if err != nil {
		t.Fatal(err)
	}
	want := perWindow{}
	total := map[string]int64{}
	records := 0
	for _, recs := range all {
		for _, r := range recs {
			records++
			start := r.Arrival.UnixMilli() / testWindow.Milliseconds() * testWindow.Milliseconds()
			if want[start] == nil {
				want[start] = map[string]int{}
			}
			for _, w := range words.Split(r.Data) {
				want[start][w]++
				total[w]++
			}
		}
	}
	// The stream holds exactly what the producer reported.
	if records != testRecords {
		t.Fatalf("stream holds %d records, producer put %d", records, testRecords)
	}
	if diff := cmp.Diff(res.Words, total); diff != "" {
		t.Fatalf("words on the stream differ from the producer's counts (-producer +stream):\n%s", diff)
	}
	return want
}

// fromWindows arranges printed windows like expected does.
func fromWindows(t *testing.T, windows []WindowCounts) perWindow {
	t.Helper()
	got := perWindow{}
	for _, wc := range windows {
		if wc.End-wc.Start != testWindow.Milliseconds() {
			t.Errorf("window [%d, %d) is not %v long", wc.Start, wc.End, testWindow)
		}
		if got[wc.Start] != nil {
			t.Errorf("window starting at %d printed twice", wc.Start)
		}
		got[wc.Start] = map[string]int{}
		for i, c := range wc.Counts {
			got[wc.Start][c.Word] += c.Count
			if i > 0 && (c.Count > wc.Counts[i-1].Count || c.Count == wc.Counts[i-1].Count && c.Word < wc.Counts[i-1].Word) {
				t.Errorf("window %d: %v before %v: not sorted by count desc, then word", wc.Start, wc.Counts[i-1], c)
			}
		}
	}
	return got
}

// checkWindows compares the windows printed with the expected ones.
func checkWindows(t *testing.T, want, got perWindow) {
	t.Helper()
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("counts per window (-want, from the records' arrival times; +printed):\n%s", diff)
	}
	n := 0
	for _, ws := range got {
		for _, c := range ws {
			n += c
		}
	}
	t.Logf("%d words in %d windows, as expected", n, len(got))
}

// testCountWords runs the pipeline on Prism (in this process) while the
// producer puts words, and checks every window, on screen and in the
// tap.
func testCountWords(t *testing.T, endpoint string) {
	sc := newScenario(t, endpoint)
	tp := newTap()
	defer tp.unregister()
	out := filepath.Join(t.TempDir(), "counts.txt")
	p, err := buildPipeline(sc.stream, sc.readOptions(), nil, testWindow, out, tp.name)
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res := sc.produceWhile(t, func() error { return ptest.Run(p) })
	t.Logf("pipeline ran %.1fs", time.Since(start).Seconds())
	want := sc.expected(t, res)

	printed, _ := tp.snapshot()
	var windows []WindowCounts
	for _, w := range printed {
		windows = append(windows, w.counts)
	}
	checkWindows(t, want, fromWindows(t, windows))
	checkOutputFile(t, out, want)
}

func TestCountWordsInProcessServer(t *testing.T) {
	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	testCountWords(t, srv.Endpoint())
}

func TestCountWordsKinesalite(t *testing.T) {
	emu := emulators.Require(t, emulators.Kinesalite)
	testCountWords(t, emu.Endpoint)
}

// TestCountWordsSeparateWorker runs the pipeline with its worker in
// another process, as Flink and Dataflow do: whatever the workers need
// must reach them in the DoFns, not in this process's memory.
func TestCountWordsSeparateWorker(t *testing.T) {
	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	sc := newScenario(t, srv.Endpoint())
	out := filepath.Join(t.TempDir(), "counts.txt")
	p, err := buildPipeline(sc.stream, sc.readOptions(), nil, testWindow, out, "")
	if err != nil {
		t.Fatal(err)
	}
	var pr beam.PipelineResult
	res := sc.produceWhile(t, func() error {
		var err error
		pr, err = beamtest.RunInSeparateWorkerWithOptions(t, p, beamtest.Options{Timeout: time.Minute})
		return err
	})
	want := sc.expected(t, res)
	checkOutputFile(t, out, want)
	beamtest.CheckCounter(t, pr, MetricsNamespace, "words", testRecords*testPerRec)
	beamtest.CheckCounter(t, pr, MetricsNamespace, "windows", int64(len(want)))
}

// TestDemoTapRefusesSeparateWorker checks that the demo's in-process tap
// fails loudly in a worker that is not the demo's process.
func TestDemoTapRefusesSeparateWorker(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &printFn{Output: filepath.Join(t.TempDir(), "out.txt"), Tap: "demo-missing"},
		beam.Create(s, WindowCounts{Start: 0, End: 1000, Counts: []WordCount{{"the", 1}}}))
	_, err := beamtest.RunInSeparateWorkerWithOptions(t, p, beamtest.Options{Timeout: time.Minute})
	if err == nil || !strings.Contains(err.Error(), "LOOPBACK") {
		t.Fatalf("run with a tap missing in the worker: err = %v, want the tap's error", err)
	}
}

var (
	headerRE = regexp.MustCompile(`^window (\d\d:\d\d:\d\d)-(\d\d:\d\d:\d\d)  (\d+) words, (\d+) distinct$`)
	itemRE   = regexp.MustCompile(`^([a-z']+)=(\d+)$`)
)

// checkOutputFile parses the --output file (Format blocks) and checks it
// against want: one block per window, in the window's local time, with
// its total and counts.
func checkOutputFile(t *testing.T, path string, want perWindow) {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	got := map[string]map[string]int{} // header "hh:mm:ss-hh:mm:ss" -> counts
	var cur map[string]int
	var curTotal, curDistinct int
	check := func(header string) {
		if cur == nil {
			return
		}
		sum := 0
		for _, n := range cur {
			sum += n
		}
		if sum != curTotal || len(cur) != curDistinct {
			t.Errorf("block %s: header says %d words, %d distinct; its counts sum to %d, %d distinct", header, curTotal, curDistinct, sum, len(cur))
		}
	}
	var header string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if m := headerRE.FindStringSubmatch(line); m != nil {
			check(header)
			header = m[1] + "-" + m[2]
			if got[header] != nil {
				t.Errorf("block %s printed twice", header)
			}
			cur = map[string]int{}
			got[header] = cur
			curTotal, _ = strconv.Atoi(m[3])
			curDistinct, _ = strconv.Atoi(m[4])
			continue
		}
		if cur == nil || !strings.HasPrefix(line, "  ") {
			t.Fatalf("unexpected line in %s: %q", path, line)
		}
		for _, item := range strings.Fields(line) {
			m := itemRE.FindStringSubmatch(item)
			if m == nil {
				t.Fatalf("unexpected item %q in %s", item, path)
			}
			n, _ := strconv.Atoi(m[2])
			cur[m[1]] += n
		}
	}
	check(header)
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	wantText := map[string]map[string]int{}
	for start, counts := range want {
		s := time.UnixMilli(start)
		wantText[s.Format("15:04:05")+"-"+s.Add(testWindow).Format("15:04:05")] = counts
	}
	if diff := cmp.Diff(wantText, got); diff != "" {
		t.Errorf("%s (-want +got):\n%s", path, diff)
	}
}

func TestFormat(t *testing.T) {
	start := time.Date(2025, 6, 1, 12, 0, 2, 0, time.Local)
	wc := WindowCounts{Start: start.UnixMilli(), End: start.Add(2 * time.Second).UnixMilli()}
	for i := range 30 {
		wc.Counts = append(wc.Counts, WordCount{Word: fmt.Sprintf("word%02d", i), Count: 100 - i})
	}
	got := Format(wc)
	want := "window 12:00:02-12:00:04  2565 words, 30 distinct\n" +
		"  word00=100 word01=99 word02=98 word03=97 word04=96 word05=95 word06=94 word07=93 word08=92\n" +
		"  word09=91 word10=90 word11=89 word12=88 word13=87 word14=86 word15=85 word16=84 word17=83\n" +
		"  word18=82 word19=81 word20=80 word21=79 word22=78 word23=77 word24=76 word25=75 word26=74\n" +
		"  word27=73 word28=72 word29=71\n"
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
	for _, line := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
		if len(line) > lineWidth {
			t.Errorf("line of %d columns, more than %d: %q", len(line), lineWidth, line)
		}
	}
	half := WindowCounts{Start: start.UnixMilli(), End: start.Add(500 * time.Millisecond).UnixMilli(), Counts: []WordCount{{"the", 2}}}
	if got, want := Format(half), "window 12:00:02.000-12:00:02.500  2 words, 1 distinct\n  the=2\n"; got != want {
		t.Errorf("Format(sub-second window) = %q, want %q", got, want)
	}
}

func TestSortCounts(t *testing.T) {
	cs := []WordCount{{"of", 2}, {"the", 5}, {"a", 2}, {"and", 3}}
	sortCounts(cs)
	want := []WordCount{{"the", 5}, {"and", 3}, {"a", 2}, {"of", 2}}
	if diff := cmp.Diff(want, cs); diff != "" {
		t.Errorf("sortCounts (-want +got):\n%s", diff)
	}
}

func TestParseStart(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want string
	}{
		{"trim_horizon", "TRIM_HORIZON"},
		{"TRIM_HORIZON", "TRIM_HORIZON"},
		{"latest", "LATEST"},
		{"2025-06-01T12:00:00Z", "AT_TIMESTAMP(2025-06-01T12:00:00Z)"},
		{"2025-06-01T14:00:00.5+02:00", "AT_TIMESTAMP(2025-06-01T12:00:00.5Z)"},
	} {
		got, err := parseStart(tc.in)
		if err != nil || got.String() != tc.want {
			t.Errorf("parseStart(%q) = %v, %v; want %s", tc.in, got, err, tc.want)
		}
	}
	if _, err := parseStart("yesterday"); err == nil {
		t.Error("parseStart(yesterday): no error")
	}
}
