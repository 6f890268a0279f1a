//go:build linux

package kinesisio_test

import (
	"bufio"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/childproc"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// The crash test runs a job in a child process (this test binary,
// re-executed in the child mode crashChildMode) and kills it with
// SIGKILL. The child reads the stream with checkpoints in a directory and
// appends each record to a file, from a sink fused with the read.

const (
	crashChildMode = "checkpoint-crash"
	// crashConfigEnv holds the child's crashConfig, as JSON.
	crashConfigEnv = "KINESISIO_CRASH_CONFIG"
	// crashChildExitHeld is the child's exit code when the application's
	// lease was still held by the job killed before it.
	crashChildExitHeld = 3
	// crashChildLifetime bounds a child process, should nothing kill it.
	crashChildLifetime = 3 * time.Minute

	crashApp          = "crash"
	crashInterval     = 500 * time.Millisecond
	crashLeaseTimeout = time.Second
)

// crashConfig is what a child job reads and where it writes.
type crashConfig struct {
	Endpoint string
	Stream   string
	Dir      string // the checkpoint directory
	Out      string // the file the sink appends to
	// Final makes the read bounded (WithStopAtLatest): the child ends by
	// itself.
	Final bool
	// Mode is the child's mode (childModes); crashChildMode when empty.
	Mode string
	// LeaseTimeout is the read's lease timeout; crashLeaseTimeout when 0.
	LeaseTimeout time.Duration
}

func init() {
	register.DoFn1x1[kinesisio.Record, error](&crashSinkFn{})
	childModes[crashChildMode] = crashChildMain
}

// crashSinkFn appends one line per record to the file Path:
// "shard seq data unixmillis\n", with one write(2) of a file opened with
// O_APPEND, so that a SIGKILL leaves whole lines only. The time is when
// the line was written (the child's clock, this machine's), for the
// figures of the report.
type crashSinkFn struct {
	Path string

	f *os.File
}

func (fn *crashSinkFn) Setup() (err error) {
	fn.f, err = openCrashOut(fn.Path)
	return err
}

func (fn *crashSinkFn) ProcessElement(r kinesisio.Record) error { return writeCrashLine(fn.f, r) }

func (fn *crashSinkFn) Teardown() error { return closeCrashOut(fn.f) }

// openCrashOut opens the out file path of a crash sink, for appending.
func openCrashOut(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
}

// writeCrashLine appends r's line to the out file f, in one write(2):
// "shard seq data unixmillis\n".
func writeCrashLine(f *os.File, r kinesisio.Record) error {
	_, err := f.Write(fmt.Appendf(nil, "%s %s %s %d\n", r.ShardID, r.SequenceNumber, r.Data, time.Now().UnixMilli()))
	return err
}

// closeCrashOut closes the out file f, if it was opened.
func closeCrashOut(f *os.File) error {
	if f == nil {
		return nil
	}
	return f.Close()
}

// crashChildInit begins a crash child process (who names it in its
// messages): it reads the parent's configuration, initializes Beam and
// arms the lifetime bound. ok is false when the configuration is bad.
func crashChildInit(who string) (cfg crashConfig, ok bool) {
	if err := json.Unmarshal([]byte(os.Getenv(crashConfigEnv)), &cfg); err != nil {
		fmt.Fprintf(os.Stderr, "%s: bad %s: %v\n", who, crashConfigEnv, err)
		return cfg, false
	}
	flag.Parse()
	beam.Init()
	// The parent kills this process; should it not (a parent that died
	// is handled by the parent-death signal), this ends it.
	time.AfterFunc(crashChildLifetime, func() {
		fmt.Fprintf(os.Stderr, "%s: still running after %v, exiting\n", who, crashChildLifetime)
		os.Exit(4)
	})
	return cfg, true
}

// crashChildMain is the child process: it runs the job on in-process
// Prism and returns its exit code.
func crashChildMain() int {
	cfg, ok := crashChildInit("crash child")
	if !ok {
		return 2
	}
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &crashSinkFn{Path: cfg.Out}, kinesisio.Read(s, cfg.Stream, crashReadOpts(cfg, kinesisio.LocalDirectory(cfg.Dir))...))
	return runCrashChild("crash child", p)
}

// crashReadOpts are the options of a crash child's read of cfg, with
// checkpoints in store, and extra.
func crashReadOpts(cfg crashConfig, store kinesisio.CheckpointStore, extra ...kinesisio.ReadOption) []kinesisio.ReadOption {
	opts := []kinesisio.ReadOption{
		kinesisio.Connection{Endpoint: cfg.Endpoint, Region: kinesistest.Region},
		kinesisio.Polling{IdleInterval: 50 * time.Millisecond},
		kinesisio.WithCheckpoints(crashApp, store),
		kinesisio.WithCommitInterval(crashInterval),
		kinesisio.WithLeaseTimeout(cmp.Or(cfg.LeaseTimeout, crashLeaseTimeout)),
	}
	if cfg.Final {
		opts = append(opts, kinesisio.WithStopAtLatest(), kinesisio.WithMaxReadTime(time.Minute))
	}
	return append(opts, extra...)
}

// runCrashChild runs a crash child's pipeline p (who names the child in
// its messages) and returns the child's exit code: crashChildExitHeld
// when the lease was still held.
func runCrashChild(who string, p *beam.Pipeline) int {
	start := time.Now()
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		fmt.Fprintf(os.Stderr, "%s: pipeline failed after %v: %v\n", who, time.Since(start), err)
		if strings.Contains(err.Error(), "held by run") {
			return crashChildExitHeld
		}
		return 1
	}
	// The parent looks for this line (lastLine), whatever the child.
	fmt.Printf("crash child: pipeline ran in %v: read_records %d, read_commits %d, read_commit_failures %d\n",
		time.Since(start), counter(res, "read_records"), counter(res, "read_commits"), counter(res, "read_commit_failures"))
	return 0
}

// crashChild is a child process seen from the test.
type crashChild struct {
	*childproc.Process
	log string
}

// startCrashChild starts the child job with cfg, its output going to the
// file logPath. The child leads a process group of its own, which kill
// kills, and gets SIGKILL should this process die (childproc).
func startCrashChild(t *testing.T, cfg crashConfig, logPath string) *crashChild {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	js, err := json.Marshal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	lf, err := os.Create(logPath)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	mode := cfg.Mode
	if mode == "" {
		mode = crashChildMode
	}
	cmd.Env = append(os.Environ(), childModeEnv+"="+mode, crashConfigEnv+"="+string(js))
	cmd.Stdout, cmd.Stderr = lf, lf
	p, err := childproc.StartGroup(cmd)
	lf.Close() // the child holds its own copy
	if err != nil {
		t.Fatalf("starting the child: %v", err)
	}
	c := &crashChild{Process: p, log: logPath}
	t.Cleanup(func() {
		c.kill()
		c.WaitExit(10 * time.Second)
	})
	return c
}

// kill SIGKILLs the child's process group.
func (c *crashChild) kill() {
	if err := c.Kill(); err != nil {
		panic(fmt.Sprintf("killing process group %d: %v", c.Pid(), err))
	}
}

// exitCode is the child's exit code once it exited (-1 when a signal
// ended it).
func (c *crashChild) exitCode() int {
	var ee *exec.ExitError
	switch err := c.Err(); {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	return -1
}

// logTail returns the end of the child's output.
func (c *crashChild) logTail() string {
	b, err := os.ReadFile(c.log)
	if err != nil {
		return err.Error()
	}
	if len(b) > 4000 {
		b = b[len(b)-4000:]
	}
	return string(b)
}

// timedPut is a record the producer put, with when PutRecords returned.
type timedPut struct {
	kinesistest.Put
	at time.Time
}

// crashProducer puts records on the stream in the background: batches of
// 5 every 100 ms (about 50 records/s), at most maxBatches, for at most
// 3 minutes.
type crashProducer struct {
	t    *testing.T
	e    *env
	stop chan struct{}
	done chan struct{}
	once sync.Once

	mu      sync.Mutex
	puts    []timedPut
	errors  int
	lastErr error
}

func startCrashProducer(t *testing.T, e *env) *crashProducer {
	p := &crashProducer{t: t, e: e, stop: make(chan struct{}), done: make(chan struct{})}
	go p.loop()
	return p
}

func (p *crashProducer) loop() {
	defer close(p.done)
	const (
		maxBatches = 5000
		perBatch   = 5
		every      = 100 * time.Millisecond
		attempts   = 10
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	n := 0
	for b := 0; b < maxBatches; b++ {
		select {
		case <-p.stop:
			return
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		data := make([][]byte, perBatch)
		for i := range data {
			data[i] = fmt.Appendf(nil, "r%06d", n)
			n++
		}
		for a := 1; ; a++ {
			puts, err := kinesistest.PutRecords(ctx, p.e.client, p.e.stream, data)
			at := time.Now()
			if err == nil {
				p.mu.Lock()
				for _, put := range puts {
					p.puts = append(p.puts, timedPut{put, at})
				}
				p.mu.Unlock()
				break
			}
			p.mu.Lock()
			p.errors++
			p.lastErr = err
			p.mu.Unlock()
			if a == attempts || ctx.Err() != nil {
				// Reported by halt; the records of the batch are not
				// counted as put (some may have been: they then show up
				// in the output as records the test did not put).
				return
			}
			time.Sleep(time.Duration(a) * 50 * time.Millisecond)
		}
	}
}

// gaveUp returns why the producer stopped by itself (PutRecords kept
// failing: the emulator may have exited), or nil while it runs.
func (p *crashProducer) gaveUp() error {
	select {
	case <-p.done:
	default:
		return nil
	}
	select {
	case <-p.stop:
		return nil
	default:
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	return fmt.Errorf("the producer stopped after %d records (%d PutRecords calls failed; the last: %v)", len(p.puts), p.errors, p.lastErr)
}

// halt stops the producer and returns what it put.
func (p *crashProducer) halt() []timedPut {
	p.once.Do(func() { close(p.stop) })
	select {
	case <-p.done:
	case <-time.After(time.Minute):
		p.t.Fatal("the producer did not stop within a minute")
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.errors > 0 {
		p.t.Logf("producer: %d PutRecords calls failed (retried)", p.errors)
	}
	return append([]timedPut(nil), p.puts...)
}

// killAndRestart is the crash harness of both levels: while a producer
// writes, it starts the crash child (cfg) kills times, splitting a shard
// before run 3 when split is set, kills each with SIGKILL at a random
// moment 1-4 s in and waits until the lease is free; then it stops the
// producer and runs the child a last time, bounded, to its end. It
// returns every run and the records put.
func killAndRestart(t *testing.T, e *env, store checkpoint.Store, cfg crashConfig, outDir string, rng *rand.Rand, kills int, split bool) ([]*crashRun, []timedPut) {
	t.Helper()
	prod := startCrashProducer(t, e)
	defer prod.halt()
	var runs []*crashRun
	for k := 1; k <= kills; k++ {
		if k == 3 && split {
			e.split(t)
			t.Logf("split a shard before run 3: shards %v", e.shardIDs(t))
		}
		c, run := startCrashRun(t, cfg, outDir, k, true)
		if len(runs) > 0 {
			// What fast takeover buys: the lease of a killed holder on this
			// machine is taken at once (before, 10-14 s at the default
			// lease timeout).
			t.Logf("run %d: first record %v after the SIGKILL of run %d (%d start attempts)", k, run.flowing.Sub(runs[len(runs)-1].killed).Round(time.Millisecond), k-1, len(run.outs))
		}
		wait := time.Second + time.Duration(rng.Int64N(int64(3*time.Second)))
		time.Sleep(wait)
		run.killed = time.Now()
		c.kill()
		if !c.WaitExit(10 * time.Second) {
			t.Fatalf("run %d: not reaped 10 s after SIGKILL", k)
		}
		if c.Exited() && c.exitCode() != -1 {
			t.Fatalf("run %d: the child ended by itself (%v) before it was killed; its output:\n%s", k, c.Err(), c.logTail())
		}
		waitLeaseFree(t, store, crashApp, cfg.Stream)
		run.cycle = time.Since(run.started)
		t.Logf("run %d: records flowing %v after start, killed %v later; cycle (start to a free lease) %v",
			k, run.flowing.Sub(run.started).Round(time.Millisecond), wait.Round(time.Millisecond), run.cycle.Round(time.Millisecond))
		runs = append(runs, run)
		if err := prod.gaveUp(); err != nil {
			t.Fatal(err)
		}
	}

	puts := prod.halt()
	c, last := runToEnd(t, cfg, outDir, kills+1, true)
	last.cycle = time.Since(last.started)
	t.Logf("last run: %v; %s", last.cycle.Round(time.Millisecond), strings.TrimSpace(lastLine(c.logTail(), "crash child: pipeline ran")))
	return append(runs, last), puts
}

// runToEnd starts run n of cfg bounded (Final), to end by itself, and
// fails the test unless it ends well within 2 minutes. When retryHeld, a
// run that finds the lease still held is started again (5 attempts).
func runToEnd(t *testing.T, cfg crashConfig, outDir string, n int, retryHeld bool) (*crashChild, *crashRun) {
	t.Helper()
	cfg.Final = true
	c, last := startCrashRun(t, cfg, outDir, n, false)
	for a := 1; ; a++ {
		if !c.WaitExit(2 * time.Minute) {
			t.Fatalf("the last run did not end within 2 minutes; its output:\n%s", c.logTail())
		}
		if retryHeld && c.exitCode() == crashChildExitHeld && a < 5 {
			t.Logf("last run, attempt %d: the lease was still held; starting again", a)
			time.Sleep(crashLeaseTimeout / 2)
			var again *crashRun
			c, again = startCrashRun(t, cfg, outDir, n, false)
			last.outs = append(last.outs, again.outs...)
			continue
		}
		break
	}
	if c.exitCode() != 0 {
		t.Fatalf("the last run failed (%v); its output:\n%s", c.Err(), c.logTail())
	}
	return c, last
}

// crashRun is one child job of the test.
type crashRun struct {
	outs    []string  // the out files of its attempts
	started time.Time // when the attempt that ran started
	flowing time.Time // when its out file first grew
	killed  time.Time // zero for the last run
	cycle   time.Duration
}

// startCrashRun starts run number n and, when waitOutput, waits until its
// out file grows. A child that finds the lease of the job killed before it
// still live exits at once: it is started again, a bounded number of
// times.
func startCrashRun(t *testing.T, cfg crashConfig, outDir string, n int, waitOutput bool) (*crashChild, *crashRun) {
	t.Helper()
	run := &crashRun{}
	const attempts = 5
	for a := 1; a <= attempts; a++ {
		cfg.Out = filepath.Join(outDir, fmt.Sprintf("run%02d-a%d.out", n, a))
		run.outs = append(run.outs, cfg.Out)
		run.started = time.Now()
		c := startCrashChild(t, cfg, filepath.Join(outDir, fmt.Sprintf("run%02d-a%d.log", n, a)))
		if !waitOutput {
			return c, run
		}
		deadline := time.Now().Add(time.Minute)
		for {
			if fi, err := os.Stat(cfg.Out); err == nil && fi.Size() > 0 {
				run.flowing = time.Now()
				return c, run
			}
			if c.Exited() {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("run %d: no record reached the sink within a minute; child output:\n%s", n, c.logTail())
			}
			time.Sleep(20 * time.Millisecond)
		}
		if c.exitCode() != crashChildExitHeld {
			t.Fatalf("run %d: the child exited (%v) before any record reached its sink; its output:\n%s", n, c.Err(), c.logTail())
		}
		t.Logf("run %d, attempt %d: the lease was still held; starting again", n, a)
		time.Sleep(crashLeaseTimeout / 2)
	}
	t.Fatalf("run %d: the lease was still held after %d attempts", n, attempts)
	return nil, nil
}

// waitLeaseFree waits (at most 10 s) until the lease of app and stream
// in store may be taken over: released, without a heartbeat for its
// timeout, or held by processes provably dead (a killed holder on this
// machine: at once).
func waitLeaseFree(t *testing.T, store checkpoint.Store, app, stream string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		l, ok, err := store.ReadLease(context.Background(), app, stream)
		if err != nil {
			t.Fatal(err)
		}
		if dead, _ := l.ProvablyDead(time.Now()); !ok || !l.Live(time.Now()) || dead {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("lease %+v still live 10 s after its holder was killed", l)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// newDetachedProxy starts a reverse proxy to target on a loopback port,
// closed when the test ends, whose calls to target run to their end even
// when the client that made them is gone. kinesalite exits (an uncaught
// "aborted" error, index.js:99 of kinesalite 3.3) when a client closes its
// connection while a call is in flight, as a SIGKILLed job does: the job's
// calls go through this proxy, which keeps its own connections to
// kinesalite and lets every call finish.
func newDetachedProxy(t *testing.T, target string) string {
	t.Helper()
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	transport := &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16, ResponseHeaderTimeout: 30 * time.Second}
	rp := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			r.SetURL(u)
			r.Out = r.Out.WithContext(context.WithoutCancel(r.Out.Context()))
		},
		Transport: transport,
		// Answers to a killed job cannot be delivered: no log of it.
		ErrorLog: log.New(io.Discard, "", 0),
	}
	srv := httptest.NewServer(rp)
	t.Cleanup(func() {
		srv.CloseClientConnections()
		srv.Close()
		transport.CloseIdleConnections()
	})
	return srv.URL
}

// crashLine is one line of an out file.
type crashLine struct {
	shard, seq, data string
	written          time.Time
}

// readCrashOut reads an out file (absent: empty). A last line cut short
// (which O_APPEND writes of one line should never leave) is reported.
func readCrashOut(t *testing.T, path string) []crashLine {
	t.Helper()
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var lines []crashLine
	r := bufio.NewReader(f)
	for {
		s, err := r.ReadString('\n')
		if err == io.EOF {
			if s != "" {
				t.Errorf("%s: last line cut short: %q", filepath.Base(path), s)
			}
			return lines
		}
		if err != nil {
			t.Fatal(err)
		}
		fs := strings.Fields(s)
		if len(fs) != 4 {
			t.Errorf("%s: bad line %q", filepath.Base(path), s)
			continue
		}
		ms, err := strconv.ParseInt(fs[3], 10, 64)
		if err != nil {
			t.Errorf("%s: bad line %q", filepath.Base(path), s)
			continue
		}
		lines = append(lines, crashLine{shard: fs[0], seq: fs[1], data: fs[2], written: time.UnixMilli(ms)})
	}
}

// TestCheckpointsSurviveSIGKILL: a job in a process of its own, killed
// with SIGKILL at random moments while a producer writes, and started
// again each time under the same application name (with a split between
// the second and the third run), loses no record with its sink in the
// read's stage; a last bounded run ends by itself. What is read again
// after a kill is bounded by what the stream got in the commit interval
// and a bundle or two before it.
func TestCheckpointsSurviveSIGKILL(t *testing.T) {
	const (
		kills = 5
		// window is how far behind the sink the stored position may be at
		// a kill: the commit interval, plus the call whose bundle was not
		// committed (maxCallTime, 1 s), plus slack for scheduling on a
		// loaded machine.
		window = crashInterval + 2*time.Second
	)
	testStart := time.Now()
	e, store, cfg, outDir := newChildJobEnv(t)
	runs, puts := killAndRestart(t, e, store, cfg, outDir, crashRand(t), kills, true)
	checkCrashRuns(t, runs, puts, window, level1Check)

	// The bounded run wrote every shard's final position.
	cps := checkLastCommitted(t, store, e.stream, puts)
	// A kill during a write leaves its temporary file (readers skip it).
	tmps := 0
	filepath.WalkDir(cfg.Dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() && strings.Contains(d.Name(), ".tmp-") {
			tmps++
		}
		return nil
	})
	t.Logf("%d checkpoints, %d temporary files left in the checkpoint directory", len(cps), tmps)
	t.Logf("%d records put in %v; test ran %v", len(puts), puts[len(puts)-1].at.Sub(puts[0].at).Round(time.Millisecond), time.Since(testStart).Round(time.Millisecond))
}

// lastLine returns the last line of s that contains sub, or "".
func lastLine(s, sub string) string {
	lines := strings.Split(s, "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		if strings.Contains(lines[i], sub) {
			return lines[i]
		}
	}
	return ""
}

// crashRand returns the random source of a crash test, its seed logged.
func crashRand(t *testing.T) *rand.Rand {
	seed := uint64(time.Now().UnixNano())
	t.Logf("seed %d", seed)
	return rand.New(rand.NewPCG(seed, seed))
}

// checkLastCommitted checks that the checkpoints of stream in store hold
// every shard's last record put (or the shard's end), as the last,
// bounded run leaves them, and returns them.
func checkLastCommitted(t *testing.T, store checkpoint.Store, stream string, puts []timedPut) []checkpoint.Checkpoint {
	t.Helper()
	cps, err := store.Load(context.Background(), crashApp, stream)
	if err != nil {
		t.Fatal(err)
	}
	lastSeq := map[string]string{}
	for _, p := range puts {
		if seqLess(lastSeq[p.ShardID], p.SequenceNumber) {
			lastSeq[p.ShardID] = p.SequenceNumber
		}
	}
	for _, cp := range cps {
		if want, ok := lastSeq[cp.ShardID]; ok && !cp.Finished && cp.Seq != want {
			t.Errorf("shard %s: checkpoint at %s, want its last record %s", cp.ShardID, cp.Seq, want)
		}
	}
	return cps
}

// crashCheck is what checkCrashRuns checks of the out files of one
// level's runs, and how it words it.
type crashCheck struct {
	// ordered: each out file holds each shard's records in sequence
	// order (level 1: the sink is fused with the read; at level 2 the
	// windows of a shard reach the sink in any order).
	ordered bool
	// once: no run writes a record twice (level 2).
	once bool
	// again and did say what a run did with a record ("read", "read" at
	// level 1; "written", "wrote" at level 2); from, what a run resumes
	// from.
	again, did, from string
}

var (
	level1Check = crashCheck{ordered: true, again: "read", did: "read", from: "the checkpoints"}
	level2Check = crashCheck{once: true, again: "written", did: "wrote", from: "the committed windows"}
)

// checkCrashRuns checks the out files of the runs against what was put:
// nothing lost, what level says of each file, and what each run read (or
// wrote) again of the runs before it bounded by what the stream got in
// window before the kill that ended the run before.
func checkCrashRuns(t *testing.T, runs []*crashRun, puts []timedPut, window time.Duration, level crashCheck) {
	t.Helper()
	type key = crashKey
	want := map[key]timedPut{}
	byData := map[string]bool{}
	for _, p := range puts {
		want[key{p.ShardID, p.SequenceNumber}] = p
		byData[string(p.Data)] = true
	}
	seenIn := map[key]int{} // the last run that read the record, 1-based
	reads := map[key]int{}
	total, totalDups, within := 0, 0, 0
	for i, run := range runs {
		n := i + 1
		dups, lines := 0, 0
		for _, out := range run.outs {
			last := map[string]string{}
			for _, l := range readCrashOut(t, out) {
				lines++
				k := key{l.shard, l.seq}
				if prev := last[l.shard]; level.ordered && prev != "" && !seqLess(prev, l.seq) {
					t.Errorf("%s: shard %s: %s after %s: sequence order broken", filepath.Base(out), l.shard, l.seq, prev)
				}
				last[l.shard] = l.seq
				if p, ok := want[k]; ok && string(p.Data) != l.data {
					t.Errorf("%s: shard %s seq %s: data %q, want %q", filepath.Base(out), l.shard, l.seq, l.data, p.Data)
				}
				if _, ok := want[k]; !ok && !byData[l.data] {
					t.Errorf("%s: shard %s seq %s data %q: a record the test did not put", filepath.Base(out), l.shard, l.seq, l.data)
				}
				switch {
				case seenIn[k] == n:
					within++
				case seenIn[k] > 0:
					dups++
				}
				seenIn[k] = n
				reads[k]++
			}
		}
		total += lines
		totalDups += dups
		if n == 1 {
			t.Logf("run 1: %d records", lines)
			continue
		}
		// What the stream got in window before the kill that ended the run
		// before: a reader that keeps up emitted about that much since
		// the last position it wrote.
		prev := runs[i-1]
		recent := 0
		for _, p := range puts {
			if !p.at.Before(prev.killed.Add(-window)) && !p.at.After(prev.killed) {
				recent++
			}
		}
		// Margin: a batch or two of the producer (5 records per 100 ms),
		// which reaches the shards at once and is committed at once.
		bound := recent + 25
		t.Logf("run %d: %d records, %d %s again after kill %d (%d put in the %v before it; bound %d)", n, lines, dups, level.again, n-1, recent, window, bound)
		if dups > bound {
			t.Errorf("run %d %s %d records again after kill %d, more than %d: did it resume from %s?", n, level.did, dups, n-1, bound, level.from)
		}
	}
	if level.once && within > 0 {
		t.Errorf("%d records written twice by the same run", within)
	}
	checkNoneLost(t, puts, want, reads, total, totalDups, level.again)
}

// crashKey names one Kinesis record: its shard and sequence number.
type crashKey struct{ shard, seq string }

// checkNoneLost logs how many times the crash runs read (or wrote, as
// verb says) each record put, and fails for every record put that no run
// read.
func checkNoneLost(t *testing.T, puts []timedPut, want map[crashKey]timedPut, reads map[crashKey]int, total, totalDups int, verb string) {
	t.Helper()
	hist := map[int]int{}
	for _, r := range reads {
		hist[r]++
	}
	var counts []int
	for r := range hist {
		counts = append(counts, r)
	}
	sort.Ints(counts)
	var h []string
	for _, r := range counts {
		h = append(h, fmt.Sprintf("%d× %d", r, hist[r]))
	}
	t.Logf("%d records put, %d lines over all runs, %d %s again in all (%.1f%%); records by times %s: %s",
		len(puts), total, totalDups, verb, 100*float64(totalDups)/float64(max(len(puts), 1)), verb, strings.Join(h, ", "))
	missing := map[string][]string{}
	nMissing := 0
	for k := range want {
		if reads[k] == 0 {
			missing[k.shard] = append(missing[k.shard], k.seq)
			nMissing++
		}
	}
	for shard, seqs := range missing {
		sort.Slice(seqs, func(i, j int) bool { return seqLess(seqs[i], seqs[j]) })
		if len(seqs) > 20 {
			seqs = append(seqs[:20], "...")
		}
		t.Errorf("shard %s: %d records lost: %v", shard, len(missing[shard]), seqs)
	}
	if nMissing > 0 {
		t.Errorf("%d of %d records lost", nMissing, len(puts))
	}
}
