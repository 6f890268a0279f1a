package beamtest

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamruntime "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/graphx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime/harness"
	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/util/grpcx"
	"google.golang.org/grpc"
)

const (
	// provisionTimeout bounds a worker's call to the provision service.
	provisionTimeout = 30 * time.Second
	// poolStopTimeout bounds each step of the worker pool's shutdown.
	poolStopTimeout = 2 * time.Second
)

// errStdinClosed ends a worker pool normally: the test process closed the
// pool's standard input, or died.
var errStdinClosed = errors.New("standard input closed")

// serveWorkerPool runs this process as the worker pool of one run, until its
// standard input ends or its deadline passes, and returns its exit code.
func serveWorkerPool() int {
	fdStr, ppidStr, deadlineStr := os.Getenv(envWorkerPool), os.Getenv(envParentPID), os.Getenv(envDeadline)
	// Processes that user code may start must not take themselves for pools.
	for _, k := range []string{envWorkerPool, envParentPID, envDeadline} {
		os.Unsetenv(k)
	}
	logf := func(format string, args ...any) {
		fmt.Fprintf(os.Stderr, "beamtest worker pool %d: "+format+"\n", append([]any{os.Getpid()}, args...)...)
	}

	if ppidStr != strconv.Itoa(os.Getppid()) {
		logf("parent %s is gone (parent is now %d)", ppidStr, os.Getppid())
		return 2
	}
	deadline, err := time.Parse(time.RFC3339Nano, deadlineStr)
	if err != nil {
		logf("bad %s: %v", envDeadline, err)
		return 2
	}
	fd, err := strconv.Atoi(fdStr)
	if err != nil || fd < 3 {
		logf("bad %s %q", envWorkerPool, fdStr)
		return 2
	}
	handshake := os.NewFile(uintptr(fd), "beamtest-handshake")

	// As a worker binary started by a runner's boot loader does.
	if !flag.Parsed() {
		flag.Parse()
	}
	beam.Init()

	ctx, cancel := context.WithCancelCause(context.Background())
	defer cancel(nil)
	ctx, cancelDeadline := context.WithDeadlineCause(ctx, deadline, errors.New("worker pool deadline passed"))
	defer cancelDeadline()
	go func() {
		_, _ = io.Copy(io.Discard, os.Stdin)
		cancel(errStdinClosed)
	}()

	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		logf("listening: %v", err)
		return 1
	}
	srv := grpc.NewServer()
	pool := &workerPool{root: ctx, fail: cancel, workers: map[string]context.CancelFunc{}}
	fnpb.RegisterBeamFnExternalWorkerPoolServer(srv, pool)
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(lis) }()

	if _, err := fmt.Fprintf(handshake, "%s\n", lis.Addr()); err != nil {
		logf("writing the handshake: %v", err)
		return 1
	}
	handshake.Close()

	select {
	case <-ctx.Done():
	case err := <-serveErr:
		cancel(fmt.Errorf("serving the worker pool: %w", err))
	}
	pool.stopAll(poolStopTimeout)
	stopServer(srv, poolStopTimeout)

	if cause := context.Cause(ctx); !errors.Is(cause, errStdinClosed) {
		logf("exiting: %v", cause)
		return 1
	}
	return 0
}

// stopServer stops srv gracefully, or forcibly after timeout.
func stopServer(srv *grpc.Server, timeout time.Duration) {
	done := make(chan struct{})
	go func() {
		srv.GracefulStop()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
		srv.Stop()
	}
}

// workerPool implements the FnAPI worker pool service: a runner asks it to
// start SDK workers. Each runs as a goroutine of this process, after it
// fetched its pipeline options from the runner's provision service, as a
// worker started by Beam's container boot loader does.
type workerPool struct {
	fnpb.UnimplementedBeamFnExternalWorkerPoolServer

	root context.Context
	// fail ends the pool with an error, for a worker that cannot start.
	fail context.CancelCauseFunc

	importOnce sync.Once
	wg         sync.WaitGroup

	mu sync.Mutex
	// workers holds the cancel function of each running worker; nil once
	// the pool stops.
	workers map[string]context.CancelFunc
}

// StartWorker starts an SDK worker, implementing
// BeamFnExternalWorkerPoolServer.StartWorker. Provisioning happens in the
// background: Prism panics on a StartWorker error, taking the test process
// down, so a worker that cannot start ends this process instead.
func (p *workerPool) StartWorker(_ context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	id := req.GetWorkerId()
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.workers == nil:
		return &fnpb.StartWorkerResponse{Error: "worker pool shutting down"}, nil
	case p.workers[id] != nil:
		return &fnpb.StartWorkerResponse{Error: fmt.Sprintf("worker with ID %q already exists", id)}, nil
	case req.GetControlEndpoint().GetUrl() == "" || req.GetLoggingEndpoint().GetUrl() == "":
		return &fnpb.StartWorkerResponse{Error: fmt.Sprintf("missing control or logging endpoint for worker %q", id)}, nil
	}
	ctx, cancel := context.WithCancel(grpcx.WriteWorkerID(p.root, id))
	p.workers[id] = cancel
	p.wg.Add(1)
	go func() {
		defer p.wg.Done()
		p.runWorker(ctx, req)
	}()
	return &fnpb.StartWorkerResponse{}, nil
}

// runWorker provisions the worker and runs the SDK harness until the runner
// closes its control stream or the worker is stopped.
func (p *workerPool) runWorker(ctx context.Context, req *fnpb.StartWorkerRequest) {
	id := req.GetWorkerId()
	opts, err := p.provision(ctx, req.GetProvisionEndpoint().GetUrl())
	if err != nil {
		p.fail(fmt.Errorf("provisioning worker %v: %w", id, err))
		return
	}
	err = harness.MainWithOptions(ctx, req.GetLoggingEndpoint().GetUrl(), req.GetControlEndpoint().GetUrl(), opts)
	if err != nil && ctx.Err() == nil {
		fmt.Fprintf(os.Stderr, "beamtest worker pool %d: worker %v ended: %v\n", os.Getpid(), id, err)
	}
}

// provision fetches the worker's provision info and installs the pipeline
// options, as Beam's boot loader and harness init hook do for a worker.
func (p *workerPool) provision(ctx context.Context, endpoint string) (harness.Options, error) {
	var opts harness.Options
	if endpoint == "" {
		return opts, errors.New("no provision endpoint")
	}
	ctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	defer cancel()
	info, err := tools.ProvisionInfo(ctx, endpoint)
	if err != nil {
		return opts, fmt.Errorf("fetching provision info: %w", err)
	}
	js, err := tools.ProtoToJSON(info.GetPipelineOptions())
	if err != nil {
		return opts, fmt.Errorf("converting pipeline options: %w", err)
	}
	var raw beamruntime.RawOptionsWrapper
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return opts, fmt.Errorf("parsing pipeline options: %w", err)
	}
	// The options of a process can be imported only once; one pool serves
	// one job.
	p.importOnce.Do(func() { beamruntime.GlobalOptions.Import(raw.Options) })

	caps := info.GetRunnerCapabilities()
	if slices.Contains(strings.Split(raw.Options.Options["experiments"], ","), "enable_data_sampling") {
		caps = append(caps, graphx.URNDataSampling)
	}
	opts.StatusEndpoint = info.GetStatusEndpoint().GetUrl()
	opts.RunnerCapabilities = caps
	return opts, nil
}

// StopWorker stops an SDK worker, implementing
// BeamFnExternalWorkerPoolServer.StopWorker.
func (p *workerPool) StopWorker(_ context.Context, req *fnpb.StopWorkerRequest) (*fnpb.StopWorkerResponse, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.workers == nil {
		return &fnpb.StopWorkerResponse{}, nil
	}
	cancel, ok := p.workers[req.GetWorkerId()]
	if !ok {
		return &fnpb.StopWorkerResponse{Error: fmt.Sprintf("no worker with ID %q", req.GetWorkerId())}, nil
	}
	cancel()
	delete(p.workers, req.GetWorkerId())
	return &fnpb.StopWorkerResponse{}, nil
}

// stopAll stops every worker and waits for them, at most timeout.
func (p *workerPool) stopAll(timeout time.Duration) {
	p.mu.Lock()
	for _, cancel := range p.workers {
		cancel()
	}
	p.workers = nil
	p.mu.Unlock()

	done := make(chan struct{})
	go func() {
		p.wg.Wait()
		close(done)
	}()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-done:
	case <-t.C:
	}
}
