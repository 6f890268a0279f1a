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
	"strconv"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/container/tools"
	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	beamruntime "github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	fnpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/fnexecution_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/universal/extworker"
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
	// extworker's Loopback also serves on a port of its own, which nothing
	// is told of: this pool is reached on lis, through workerPool.
	lb, err := extworker.StartLoopback(ctx, 0)
	if err != nil {
		logf("starting the loopback worker pool: %v", err)
		return 1
	}
	srv := grpc.NewServer()
	pool := &workerPool{Loopback: lb, fail: cancel}
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
	// Stop refuses new workers and cancels the running ones, which end with
	// this process.
	lb.Stop(context.Background())
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

// workerPool is extworker's Loopback, the FnAPI worker pool service that
// runs each SDK worker the runner asks for as a goroutine of this process,
// with what a worker started by Beam's container boot loader gets first:
// the pipeline options from the runner's provision service.
type workerPool struct {
	*extworker.Loopback

	// fail ends the pool with an error, for a worker that cannot start.
	fail context.CancelCauseFunc

	// The options of a process can be imported only once; one pool serves
	// one job.
	importOnce sync.Once
	importErr  error
}

// StartWorker imports the pipeline options, then starts an SDK worker with
// Loopback.StartWorker, implementing
// BeamFnExternalWorkerPoolServer.StartWorker. Prism panics on a StartWorker
// error, taking the test process down, so options that cannot be imported
// end this process instead.
func (p *workerPool) StartWorker(ctx context.Context, req *fnpb.StartWorkerRequest) (*fnpb.StartWorkerResponse, error) {
	p.importOnce.Do(func() {
		// The runner knows the worker by the ID in the call's metadata.
		wctx := grpcx.WriteWorkerID(ctx, req.GetWorkerId())
		p.importErr = importOptions(wctx, req.GetProvisionEndpoint().GetUrl())
	})
	if p.importErr != nil {
		p.fail(fmt.Errorf("provisioning worker %v: %w", req.GetWorkerId(), p.importErr))
		return &fnpb.StartWorkerResponse{}, nil
	}
	return p.Loopback.StartWorker(ctx, req)
}

// importOptions fetches the provision info and imports its pipeline
// options, as Beam's boot loader and harness init hook do for a worker.
func importOptions(ctx context.Context, endpoint string) error {
	if endpoint == "" {
		return errors.New("no provision endpoint")
	}
	ctx, cancel := context.WithTimeout(ctx, provisionTimeout)
	defer cancel()
	info, err := tools.ProvisionInfo(ctx, endpoint)
	if err != nil {
		return fmt.Errorf("fetching provision info: %w", err)
	}
	js, err := tools.ProtoToJSON(info.GetPipelineOptions())
	if err != nil {
		return fmt.Errorf("converting pipeline options: %w", err)
	}
	var raw beamruntime.RawOptionsWrapper
	if err := json.Unmarshal([]byte(js), &raw); err != nil {
		return fmt.Errorf("parsing pipeline options: %w", err)
	}
	beamruntime.GlobalOptions.Import(raw.Options)
	return nil
}
