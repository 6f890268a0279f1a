// Package prismrun runs Beam pipelines on a Prism job server started in
// this process, so that a job can be cancelled through the job service
// when it must stop. Cancelling beam.Run's (or beamx.Run's) context
// instead makes Prism log panics of its bundle goroutines.
//
// It is shared by the word count (pipelines/wordcount) and the benchmark
// command (testing/cmd/kinesisbench); it imports neither, nor kinesisio.
package prismrun

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
)

const (
	// StopTimeout bounds the wait for a cancelled job to end.
	StopTimeout = 30 * time.Second
	// CancelRetry is how often a job that must stop is cancelled again
	// (it may not have been submitted yet).
	CancelRetry = 100 * time.Millisecond
	// RPCTimeout bounds the start of Prism and each call to its job
	// service.
	RPCTimeout = 10 * time.Second
)

// ErrStopTimeout is returned by Run when a cancelled job did not end
// within StopTimeout.
var ErrStopTimeout = fmt.Errorf("the pipeline did not stop within %v of being cancelled", StopTimeout)

// InProcess reports whether beamx.Run would run a pipeline on Prism in
// this process: the prism runner (the default) without a job service
// --endpoint.
func InProcess() bool {
	r := strings.ToLower(*runners.Runner)
	return (r == "" || r == "prism") && *jobopts.Endpoint == ""
}

// Start starts a Prism job server in this process on a free loopback
// port and points Beam's --endpoint at it, as the prism runner would do
// itself, with the LOOPBACK environment unless --environment_type says
// otherwise. It returns a client of the job service, for Run and
// CancelJobs. An --endpoint already set (a job server started before, by
// a test for instance) is kept, and the client is then nil. ctx bounds
// only the start (at most RPCTimeout); its cancellation later does not
// stop the server.
func Start(ctx context.Context) (jobpb.JobServiceClient, error) {
	if *jobopts.Endpoint != "" {
		return nil, nil
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a port for Prism: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("find a port for Prism: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), RPCTimeout)
	defer cancel()
	client, err := prism.CreateJobServer(ctx, prism.Options{Port: port})
	if err != nil {
		return nil, fmt.Errorf("start Prism: %w", err)
	}
	*jobopts.Endpoint = fmt.Sprintf("localhost:%d", port)
	if *jobopts.EnvironmentType == "" {
		*jobopts.EnvironmentType = "LOOPBACK"
	}
	return client, nil
}

// Run calls run (which runs a pipeline: beam.Run, beamx.Run) in the
// background, with a context that stop does not cancel, and waits until
// it returns or stop is done. Once stop is done it cancels every
// unfinished job of jobs (nil: none) every CancelRetry until run returns,
// and reports stopped; if run has not returned within StopTimeout, it
// cancels run's context and returns ErrStopTimeout. Otherwise err is
// run's. While it cancels, a QuietCancel handler drops the log records of
// the cancellation.
func Run(stop context.Context, jobs jobpb.JobServiceClient, run func(context.Context) error) (stopped bool, err error) {
	ctx, hardStop := context.WithCancel(context.WithoutCancel(stop))
	defer hardStop()
	done := make(chan error, 1)
	go func() { done <- run(ctx) }()
	select {
	case err := <-done:
		return false, err
	case <-stop.Done():
	}
	defer beginCancel()()
	limit := time.NewTimer(StopTimeout)
	defer limit.Stop()
	retry := time.NewTicker(CancelRetry)
	defer retry.Stop()
	for {
		CancelJobs(jobs)
		select {
		case err := <-done:
			return true, err
		case <-retry.C:
		case <-limit.C:
			hardStop()
			return true, ErrStopTimeout
		}
	}
}

// CancelJobs cancels every job of the job service jobs (nil: none) that
// has not ended. Errors are ignored: callers try again.
func CancelJobs(jobs jobpb.JobServiceClient) {
	if jobs == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), RPCTimeout)
	defer cancel()
	resp, err := jobs.GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil {
		return
	}
	for _, j := range resp.GetJobInfo() {
		switch j.GetState() {
		case jobpb.JobState_DONE, jobpb.JobState_FAILED, jobpb.JobState_CANCELLED, jobpb.JobState_CANCELLING,
			jobpb.JobState_DRAINED, jobpb.JobState_UPDATED:
			continue
		}
		_, _ = jobs.Cancel(ctx, &jobpb.CancelJobRequest{JobId: j.GetJobId()})
	}
}
