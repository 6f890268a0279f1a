package beamtest

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/passert"
)

func TestMain(m *testing.M) { Main(m) }

func init() {
	register.DoFn3x0[context.Context, int, func(string)](&probeFn{})
	register.DoFn2x0[context.Context, int](&sleepFn{})
	register.DoFn2x0[context.Context, int](&exitFn{})
	register.DoFn2x1[context.Context, int, error](&failFn{})
	register.Emitter1[string]()
}

const (
	metricsNamespace = "beamtest"
	// probeOption is a pipeline option: unlike a package-level variable, it
	// is shipped to the workers.
	probeOption = "beamtest_probe_option"
	probeValue  = "set-during-construction"
)

// constructionValue is set while the pipeline is built, so only in the test
// process: a worker in another process sees it empty.
var constructionValue string

var (
	elementsCounter      = beam.NewCounter(metricsNamespace, "elements")
	globalMissingCounter = beam.NewCounter(metricsNamespace, "global_missing")
	workerPIDGauge       = beam.NewGauge(metricsNamespace, "worker_pid")
)

// probeFn reports what the worker sees: the package-level variable, the
// pipeline option, and whether it runs in the submitting process.
type probeFn struct {
	// SubmitterPID is the PID of the process that built the pipeline.
	SubmitterPID int
}

func (f *probeFn) ProcessElement(ctx context.Context, _ int, emit func(string)) {
	elementsCounter.Inc(ctx, 1)
	workerPIDGauge.Set(ctx, int64(os.Getpid()))
	if constructionValue == "" {
		globalMissingCounter.Inc(ctx, 1)
	}
	emit(probeLine(constructionValue, beam.PipelineOptions.Get(probeOption), os.Getpid() == f.SubmitterPID))
}

func probeLine(global, option string, samePID bool) string {
	return fmt.Sprintf("global=%q option=%q same_pid=%v", global, option, samePID)
}

// buildProbePipeline builds a pipeline of n probeFn calls whose output must
// be want, and sets constructionValue on the way, as code that keeps
// construction-time state in a global would.
func buildProbePipeline(n int, want string) *beam.Pipeline {
	constructionValue = probeValue
	beam.PipelineOptions.Set(probeOption, "shipped")
	p, s := beam.NewPipelineWithRoot()
	in := make([]int, n)
	for i := range in {
		in[i] = i
	}
	out := beam.ParDo(s, &probeFn{SubmitterPID: os.Getpid()}, beam.CreateList(s, in))
	wants := make([]any, n)
	for i := range wants {
		wants[i] = want
	}
	passert.Equals(s, out, wants...)
	return p
}

// gauge returns the value of the gauge namespace/name in pr.
func gauge(pr beam.PipelineResult, namespace, name string) (int64, bool) {
	for _, g := range pr.Metrics().AllMetrics().Gauges() {
		if g.Key.Namespace == namespace && g.Key.Name == name {
			return g.Result().Value, true
		}
	}
	return 0, false
}

// requireExited fails t if the process pid still exists.
func requireExited(t *testing.T, pid int) {
	t.Helper()
	if runtime.GOOS == "windows" {
		return
	}
	if pid <= 0 {
		t.Fatalf("no worker PID")
	}
	proc, err := os.FindProcess(pid)
	if err != nil {
		return
	}
	if err := proc.Signal(syscall.Signal(0)); err == nil {
		t.Errorf("worker process %d is still running after the run", pid)
	}
}

// TestPackageStateNotShared runs the same pipeline in-process and in a
// separate worker: only the in-process worker sees the package-level
// variable set during construction, both see the shipped pipeline option.
func TestPackageStateNotShared(t *testing.T) {
	const n = 3
	t.Run("in-process", func(t *testing.T) {
		p := buildProbePipeline(n, probeLine(probeValue, "shipped", true))
		start := time.Now()
		pr, err := RunInProcess(t, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("in-process run: %v", time.Since(start))
		CheckCounter(t, pr, metricsNamespace, "global_missing", 0)
		if pid, ok := gauge(pr, metricsNamespace, "worker_pid"); !ok || pid != int64(os.Getpid()) {
			t.Errorf("worker_pid = %d (found %v), want the test's PID %d", pid, ok, os.Getpid())
		}
	})
	t.Run("separate-worker", func(t *testing.T) {
		p := buildProbePipeline(n, probeLine("", "shipped", false))
		start := time.Now()
		pr, err := RunInSeparateWorker(t, p)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("separate-worker run: %v", time.Since(start))
		res := pr.(*Result)
		CheckCounter(t, pr, metricsNamespace, "global_missing", n)
		pid, ok := gauge(pr, metricsNamespace, "worker_pid")
		switch {
		case !ok:
			t.Errorf("no worker_pid gauge")
		case pid == int64(os.Getpid()):
			t.Errorf("worker_pid = %d, the test's own PID", pid)
		case pid != int64(res.WorkerPID):
			t.Errorf("worker_pid = %d, want the worker process %d", pid, res.WorkerPID)
		}
		requireExited(t, res.WorkerPID)
	})
}

// TestCountersFromSeparateWorker checks that user counters come back from
// the worker process, including one updated in many bundles.
func TestCountersFromSeparateWorker(t *testing.T) {
	const n = 100
	p := buildProbePipeline(n, probeLine("", "shipped", false))
	pr, err := RunInSeparateWorker(t, p)
	if err != nil {
		t.Fatal(err)
	}
	CheckCounter(t, pr, metricsNamespace, "elements", n)
	CheckCounter(t, pr, "", "elements", n)
	if pr.JobID() == "" {
		t.Errorf("empty job ID")
	}
	requireExited(t, pr.(*Result).WorkerPID)
}

// sleepFn sleeps in the worker, up to a bound.
type sleepFn struct {
	Sleep time.Duration
}

func (f *sleepFn) ProcessElement(ctx context.Context, _ int) {
	select {
	case <-ctx.Done():
	case <-time.After(f.Sleep):
	}
}

// TestTimeoutCancelsRun checks that a run whose job does not end in time
// fails with a timeout, soon, and leaves no worker process behind.
func TestTimeoutCancelsRun(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &sleepFn{Sleep: 30 * time.Second}, beam.Create(s, 1))
	const timeout = 3 * time.Second
	start := time.Now()
	pr, err := RunInSeparateWorkerWithOptions(t, p, Options{Timeout: timeout})
	elapsed := time.Since(start)
	t.Logf("timed-out run returned after %v: %v", elapsed, err)
	if !errors.Is(err, errRunTimeout) {
		t.Fatalf("error %v, want a timeout", err)
	}
	if elapsed > timeout+gracefulStopTimeout+5*time.Second {
		t.Errorf("returned after %v, want about %v", elapsed, timeout)
	}
	if pr == nil {
		t.Fatal("nil result")
	}
	requireExited(t, pr.(*Result).WorkerPID)
}

// exitFn kills its worker process, unless that is the submitting process.
type exitFn struct {
	SubmitterPID int
}

func (f *exitFn) ProcessElement(ctx context.Context, _ int) {
	if os.Getpid() != f.SubmitterPID {
		os.Exit(3)
	}
}

// TestWorkerDeathFailsRun checks that a worker process that dies makes the
// run fail at once instead of leaving the job waiting for it.
func TestWorkerDeathFailsRun(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &exitFn{SubmitterPID: os.Getpid()}, beam.Create(s, 1))
	start := time.Now()
	pr, err := RunInSeparateWorkerWithOptions(t, p, Options{Timeout: time.Minute})
	elapsed := time.Since(start)
	t.Logf("run with a dying worker returned after %v: %v", elapsed, err)
	if err == nil || !strings.Contains(err.Error(), "exit status 3") {
		t.Fatalf("error %v, want the worker's exit", err)
	}
	if elapsed > 20*time.Second {
		t.Errorf("returned after %v, want well before the timeout", elapsed)
	}
	if pr != nil {
		requireExited(t, pr.(*Result).WorkerPID)
	}
}

// TestGlobalFlagsUnchanged checks that a separate-worker run leaves every
// flag as it was, and that ptest still runs in-process afterwards.
func TestGlobalFlagsUnchanged(t *testing.T) {
	snapshot := func() map[string]string {
		m := map[string]string{}
		flag.VisitAll(func(f *flag.Flag) { m[f.Name] = f.Value.String() })
		return m
	}
	before := snapshot()
	if _, err := RunInSeparateWorker(t, buildProbePipeline(1, probeLine("", "shipped", false))); err != nil {
		t.Fatal(err)
	}
	after := snapshot()
	for k, v := range before {
		if after[k] != v {
			t.Errorf("flag -%s changed from %q to %q", k, v, after[k])
		}
	}
	if _, err := RunInProcess(t, buildProbePipeline(1, probeLine(probeValue, "shipped", true))); err != nil {
		t.Fatal(err)
	}
}

// failFn fails every element.
type failFn struct{}

func (f *failFn) ProcessElement(_ context.Context, _ int) error {
	return errors.New("failFn: boom")
}

// TestDoFnErrorFailsRun checks that a DoFn error in the worker process fails
// the run with the DoFn's message.
func TestDoFnErrorFailsRun(t *testing.T) {
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &failFn{}, beam.Create(s, 1))
	pr, err := RunInSeparateWorker(t, p)
	if err == nil || !strings.Contains(err.Error(), "failFn: boom") {
		t.Fatalf("error %v, want the DoFn's error", err)
	}
	if pr != nil {
		requireExited(t, pr.(*Result).WorkerPID)
	}
}
