// Package beamtest runs Beam pipelines in tests with the SDK worker in a
// separate OS process, as Flink and Dataflow do.
//
// The usual test runner, ptest on in-process Prism, runs the SDK worker in
// LOOPBACK mode: inside the test process itself. Code that only works because
// the worker shares the submitter's memory (a package-level variable set
// while building the pipeline, a client or a fake stored in a global by the
// test) then passes in tests and fails on a real runner.
// RunInSeparateWorker closes that gap: it submits the pipeline to an
// in-process Prism job server with an EXTERNAL environment whose worker pool
// is a child process, the test binary itself re-executed in worker-pool mode.
// The child starts like a Beam worker container: it gets the pipeline options
// from the runner's provision service and then runs the SDK harness, so
// everything that reaches a real worker (the serialized DoFns, pipeline
// options, registered types) reaches it, and nothing else does.
//
// Use it from a test package's TestMain (see MainRet for a TestMain with
// setup of its own):
//
//	func TestMain(m *testing.M) { beamtest.Main(m) }
//
//	func TestMyPipeline(t *testing.T) {
//		p, s := beam.NewPipelineWithRoot()
//		// ... build the pipeline, with passert checks ...
//		pr, err := beamtest.RunInSeparateWorker(t, p)
//		if err != nil {
//			t.Fatal(err)
//		}
//		beamtest.CheckCounter(t, pr, "mypkg", "records", 10)
//	}
//
// DoFns must be registered (register.DoFnXxY, beam.RegisterType) in init(),
// as Prism and every portable runner require, because the worker process
// finds them by name.
//
// The worker process runs the test binary's own code: no worker binary is
// built or shipped (the runner is handed a small placeholder artifact).
//
// Runs are serialized within a test binary, on one Prism job server of
// their own. No global flag is changed: the
// environment is given to the job directly, so other tests of the package,
// including ptest.Run, are unaffected. Each run is bounded by Options.Timeout
// and by the test's own deadline; the child is stopped when the run ends, and
// it dies with the test process (parent-death signal on Linux, end of its
// standard input everywhere, and its own deadline).
package beamtest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/metricsx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/xlangx"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	pipepb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/pipeline_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/runnerlib"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

// DefaultTimeout bounds a RunInSeparateWorker call when Options.Timeout is
// zero. The test's own deadline (go test -timeout) bounds it too.
const DefaultTimeout = 2 * time.Minute

const (
	// deadlineMargin is kept free before the test binary's deadline, so that a
	// run that times out still reports its error before go test panics.
	deadlineMargin = 5 * time.Second
	// cleanupTimeout bounds each cleanup step: cancelling a job, fetching
	// metrics, stopping the worker process.
	cleanupTimeout = 10 * time.Second
	// exitReportDelay is how long a failed run waits for its worker process
	// to exit, to report a crash of the worker as such.
	exitReportDelay = 200 * time.Millisecond
	// jobServerStartTimeout bounds the start of the in-process Prism server.
	jobServerStartTimeout = 30 * time.Second
)

var (
	// mainCalled records that Main ran in this process.
	mainCalled atomic.Bool
	// runMu serializes runs: job submission reads and writes process-wide
	// Beam state (pipeline options, hooks).
	runMu sync.Mutex
	// runCount numbers the runs of this process, for job names.
	runCount atomic.Int64

	jobServerOnce   sync.Once
	jobServerClient jobpb.JobServiceClient
	errJobServer    error
)

// errRunTimeout is the cause of a run cancelled by its deadline.
var errRunTimeout = errors.New("beamtest: run timed out")

// Main is a replacement for ptest.Main, to be called from TestMain:
//
//	func TestMain(m *testing.M) { beamtest.Main(m) }
//
// In a process started by RunInSeparateWorker it serves as the worker pool
// and exits when the run ends, without running any test. Otherwise it behaves
// exactly like ptest.Main: it parses flags, calls beam.Init, runs the tests
// and exits with their status.
func Main(m *testing.M) {
	os.Exit(MainRet(m))
}

// MainRet is Main for a TestMain with its own setup and teardown: it returns
// the tests' exit code instead of exiting, like ptest.MainRet. In a worker
// process it serves and exits without returning. Setup that a worker does
// not need, such as starting an emulator, can be skipped in a worker
// process with IsWorkerProcess:
//
//	func TestMain(m *testing.M) {
//		if !beamtest.IsWorkerProcess() {
//			// start fixtures
//		}
//		code := beamtest.MainRet(m)
//		// stop fixtures
//		os.Exit(code)
//	}
func MainRet(m *testing.M) int {
	if IsWorkerProcess() {
		os.Exit(serveWorkerPool())
	}
	mainCalled.Store(true)
	return ptest.MainRet(m)
}

// IsWorkerProcess reports whether this process is a worker process started
// by RunInSeparateWorker, in which Main and MainRet serve as a worker pool
// instead of running tests. It is meant for TestMain: Main and MainRet
// clear the marking of the process before serving.
func IsWorkerProcess() bool {
	return os.Getenv(envWorkerPool) != ""
}

// Options tune RunInSeparateWorkerWithOptions.
type Options struct {
	// Timeout bounds the whole run: starting the worker process, submitting
	// the job and waiting for it. Zero means DefaultTimeout. The run is also
	// bounded by the test's deadline, less a few seconds. A run that times
	// out is cancelled on the runner and its worker process is killed.
	Timeout time.Duration
}

// Result is the beam.PipelineResult of RunInSeparateWorker.
type Result struct {
	jobID   string
	metrics *metrics.Results

	// WorkerPID is the process ID of the worker-pool process that ran the
	// pipeline's DoFns. That process has exited when the run returns.
	WorkerPID int
	// Elapsed is the wall time of the run, from starting the worker process
	// to its exit.
	Elapsed time.Duration
}

// Metrics returns the job's metrics as reported by the runner: attempted
// and committed values of the counters, distributions and gauges updated in
// the worker process.
func (r *Result) Metrics() metrics.Results {
	if r == nil || r.metrics == nil {
		return metrics.Results{}
	}
	return *r.metrics
}

// JobID returns the runner's ID of the job.
func (r *Result) JobID() string {
	if r == nil {
		return ""
	}
	return r.jobID
}

// RunInProcess runs p with ptest on the default runner (in-process Prism with
// the worker in the test process). It has the signature of
// RunInSeparateWorker, so that a test can run the same pipeline both ways.
func RunInProcess(t testing.TB, p *beam.Pipeline) (beam.PipelineResult, error) {
	t.Helper()
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		return pr, fmt.Errorf("beamtest: in-process run: %w", err)
	}
	return pr, nil
}

// RunInSeparateWorker runs p on an in-process Prism job server with its SDK
// worker in a separate process, with the default Options. It returns the
// job's result, whose dynamic type is *Result, once the job is done. The
// test package's TestMain must call Main.
//
// On a job failure the error describes it, and the result, if not nil,
// still holds the metrics the runner reported.
func RunInSeparateWorker(t testing.TB, p *beam.Pipeline) (beam.PipelineResult, error) {
	t.Helper()
	return RunInSeparateWorkerWithOptions(t, p, Options{})
}

// RunInSeparateWorkerWithOptions is RunInSeparateWorker with options.
func RunInSeparateWorkerWithOptions(t testing.TB, p *beam.Pipeline, opts Options) (beam.PipelineResult, error) {
	t.Helper()
	res, err := runSeparate(t, p, opts)
	if res == nil {
		// Keep a nil interface for a nil result.
		return nil, err
	}
	return res, err
}

func runSeparate(t testing.TB, p *beam.Pipeline, opts Options) (_ *Result, retErr error) {
	t.Helper()
	if !mainCalled.Load() || !beam.Initialized() {
		return nil, errors.New("beamtest: TestMain must call beamtest.Main(m) before RunInSeparateWorker")
	}
	runMu.Lock()
	defer runMu.Unlock()

	timeout := runTimeout(t, opts.Timeout)
	deadline := time.Now().Add(timeout)
	ctx, cancel := context.WithDeadlineCause(context.Background(), deadline, errRunTimeout)
	defer cancel()

	client, err := jobService()
	if err != nil {
		return nil, err
	}

	start := time.Now()
	// The worker's own deadline lets it outlive the run a little, so that
	// the normal stop (below) is what ends it.
	wp, err := startWorkerPool(deadline.Add(cleanupTimeout))
	if err != nil {
		return nil, err
	}
	res := &Result{WorkerPID: wp.Pid()}
	defer func() {
		stopErr := wp.stop(cleanupTimeout)
		res.Elapsed = time.Since(start)
		if stopErr != nil {
			retErr = errors.Join(retErr, stopErr)
		} else if err := wp.Err(); err != nil && retErr == nil {
			t.Logf("beamtest: worker process %d ended abnormally after the run: %v", res.WorkerPID, err)
		}
		if retErr != nil {
			out := wp.output.String()
			if out == "" {
				out = "(none)"
			}
			t.Logf("beamtest: output of worker process %d (tail):\n%s", res.WorkerPID, out)
		}
	}()

	// A worker that dies mid-run would leave the job waiting for it forever.
	ctx, cancelRun := context.WithCancelCause(ctx)
	defer cancelRun(nil)
	go func() {
		select {
		case <-wp.Done():
			cancelRun(fmt.Errorf("beamtest: worker process %d exited during the run: %v", wp.Pid(), exitStatus(wp.Err())))
		case <-ctx.Done():
		}
	}()

	pipe, err := marshalPipeline(ctx, p, wp.addr)
	if err != nil {
		return nil, err
	}
	jobName := fmt.Sprintf("beamtest-%d-%d", os.Getpid(), runCount.Add(1))
	jobID, err := submit(ctx, client, pipe, jobName)
	if err != nil {
		return nil, withCause(ctx, deadline, err)
	}
	res.jobID = jobID

	waitErr := runnerlib.WaitForCompletion(ctx, client, jobID)
	if waitErr != nil {
		// The wait may end before the job does: on the run's deadline, when
		// the worker died, on a broken stream. Never leave the job running.
		state, done := jobDone(client, jobID)
		switch {
		case !done:
			cctx, ccancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer ccancel()
			if _, err := client.Cancel(cctx, &jobpb.CancelJobRequest{JobId: jobID}); err != nil {
				t.Logf("beamtest: cancelling job %v: %v", jobID, err)
			}
			return res, fmt.Errorf("beamtest: job %v did not finish (state %v): %w", jobID, state, withCause(ctx, deadline, waitErr))
		case state == jobpb.JobState_DONE:
			waitErr = nil // It ended just as the wait gave up.
		case ctx.Err() != nil:
			// The wait was cut short (the worker died) while the runner
			// ended the job: read the job's own error.
			rctx, rcancel := context.WithTimeout(context.Background(), cleanupTimeout)
			defer rcancel()
			if err := runnerlib.WaitForCompletion(rctx, client, jobID); err != nil {
				waitErr = err
			}
		}
	}

	mctx, mcancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer mcancel()
	resp, metricsErr := client.GetJobMetrics(mctx, &jobpb.GetJobMetricsRequest{JobId: jobID})
	if metricsErr == nil {
		m := resp.GetMetrics()
		res.metrics = metricsx.FromMonitoringInfos(pipe, m.GetAttempted(), m.GetCommitted())
	}
	if waitErr != nil {
		// Prism may see a dying worker disconnect before this process reaps it.
		if wp.WaitExit(exitReportDelay) {
			waitErr = fmt.Errorf("%w\nworker process %d exited: %v", waitErr, wp.Pid(), exitStatus(wp.Err()))
		}
		return res, fmt.Errorf("beamtest: job %v failed: %w", jobID, waitErr)
	}
	if metricsErr != nil {
		return res, fmt.Errorf("beamtest: fetching metrics of job %v: %w", jobID, metricsErr)
	}
	return res, nil
}

// jobDone returns the state of the job and whether it is terminal. A state
// that cannot be read counts as not terminal. It reads the first event of
// the state stream: Prism's GetState races with state changes (it reads the
// state's time without a lock).
func jobDone(client jobpb.JobServiceClient, jobID string) (jobpb.JobState_Enum, bool) {
	ctx, cancel := context.WithTimeout(context.Background(), cleanupTimeout)
	defer cancel()
	stream, err := client.GetStateStream(ctx, &jobpb.GetJobStateRequest{JobId: jobID})
	if err != nil {
		return jobpb.JobState_UNSPECIFIED, false
	}
	ev, err := stream.Recv()
	if err != nil {
		return jobpb.JobState_UNSPECIFIED, false
	}
	switch st := ev.GetState(); st {
	case jobpb.JobState_DONE, jobpb.JobState_FAILED, jobpb.JobState_CANCELLED,
		jobpb.JobState_UPDATED, jobpb.JobState_DRAINED:
		return st, true
	default:
		return st, false
	}
}

// runTimeout returns the time a run may take: the requested timeout, cut to
// the test's deadline less a margin.
func runTimeout(t testing.TB, requested time.Duration) time.Duration {
	timeout := requested
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if d, ok := t.(interface{ Deadline() (time.Time, bool) }); ok {
		if dl, ok := d.Deadline(); ok {
			if left := time.Until(dl) - deadlineMargin; left < timeout {
				timeout = max(left, time.Second)
			}
		}
	}
	return timeout
}

// withCause adds to err the reason the run was cut short: the cause of
// ctx's cancellation (the worker's death), or errRunTimeout once deadline
// has passed, even if ctx's timer has not fired yet.
func withCause(ctx context.Context, deadline time.Time, err error) error {
	cause := context.Cause(ctx)
	if cause == nil && !time.Now().Before(deadline) {
		cause = errRunTimeout
	}
	if cause == nil || errors.Is(err, cause) {
		return err
	}
	if err == nil {
		return cause
	}
	return fmt.Errorf("%w (%w)", cause, err)
}

// jobService returns a client of this process's Prism job server, started on
// first use. It is distinct from the one ptest starts, and its address is
// not written to any flag.
func jobService() (jobpb.JobServiceClient, error) {
	jobServerOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), jobServerStartTimeout)
		defer cancel()
		jobServerClient, errJobServer = prism.CreateJobServer(ctx, prism.Options{})
		if errJobServer != nil {
			errJobServer = fmt.Errorf("beamtest: starting the Prism job server: %w", errJobServer)
		}
	})
	return jobServerClient, errJobServer
}

// marshalPipeline builds the model pipeline of p with an EXTERNAL
// environment served by the worker pool at poolAddr.
func marshalPipeline(ctx context.Context, p *beam.Pipeline, poolAddr string) (*pipepb.Pipeline, error) {
	edges, _, err := p.Build()
	if err != nil {
		return nil, fmt.Errorf("beamtest: building the pipeline: %w", err)
	}
	// Cross-language transforms need their artifacts, as universal.Execute does.
	xlangx.ResolveArtifacts(ctx, edges, nil)
	env, err := graphx.CreateEnvironment(ctx, graphx.URNEnvExternal, func(context.Context) string { return poolAddr })
	if err != nil {
		return nil, fmt.Errorf("beamtest: creating the EXTERNAL environment: %w", err)
	}
	pipe, err := graphx.Marshal(edges, &graphx.Options{
		Environment:           env,
		PipelineResourceHints: jobopts.GetPipelineResourceHints(),
	})
	if err != nil {
		return nil, fmt.Errorf("beamtest: marshalling the pipeline: %w", err)
	}
	return pipe, nil
}

// submit prepares, stages and runs the job as runnerlib.Execute does, and
// returns its ID.
//
// The runner wants a worker binary staged, but the worker pool is the test
// binary itself and never fetches it. A small placeholder file is staged
// instead of the test binary (about 100 MB): that cuts a run from about
// 0.5 s to 0.15 s and the test process's peak memory from about 650 MB to
// 60 MB, since Prism keeps staged artifacts in memory. It also avoids the
// SDK's cross-compilation of a worker binary.
func submit(ctx context.Context, client jobpb.JobServiceClient, pipe *pipepb.Pipeline, jobName string) (string, error) {
	bin, err := writePlaceholderWorker()
	if err != nil {
		return "", err
	}
	defer os.Remove(bin)
	if err := runnerlib.UpdateGoEnvironmentWorker(bin, pipe); err != nil {
		return "", fmt.Errorf("beamtest: setting the worker binary: %w", err)
	}
	opt := &runnerlib.JobOptions{
		Name:        jobName,
		Experiments: jobopts.GetExperiments(),
		Worker:      bin,
		Parallelism: *jobopts.Parallelism,
	}
	prepID, artifactEndpoint, stagingToken, err := runnerlib.Prepare(ctx, client, pipe, opt)
	if err != nil {
		return "", fmt.Errorf("beamtest: preparing job %v: %w", jobName, err)
	}
	token, err := runnerlib.Stage(ctx, prepID, artifactEndpoint, bin, stagingToken)
	if err != nil {
		return "", fmt.Errorf("beamtest: staging job %v: %w", jobName, err)
	}
	jobID, err := runnerlib.Submit(ctx, client, prepID, token)
	if err != nil {
		return "", fmt.Errorf("beamtest: submitting job %v: %w", jobName, err)
	}
	return jobID, nil
}

// writePlaceholderWorker writes the file staged as the job's worker binary
// and returns its path.
func writePlaceholderWorker() (string, error) {
	f, err := os.CreateTemp("", "beamtest-worker-placeholder-*")
	if err != nil {
		return "", fmt.Errorf("beamtest: creating the placeholder worker artifact: %w", err)
	}
	_, werr := f.WriteString("beamtest placeholder: the worker pool is the test binary itself\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("beamtest: writing the placeholder worker artifact: %w", err)
	}
	return f.Name(), nil
}
