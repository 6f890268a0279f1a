package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	jobpb "github.com/apache/beam/sdks/v2/go/pkg/beam/model/jobmanagement_v1"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/runners/prism"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
)

const (
	// stopTimeout bounds the wait for a cancelled job to end.
	stopTimeout = 30 * time.Second
	// cancelRetry is how often a job that must stop is cancelled again
	// (it may not have been submitted yet).
	cancelRetry = 100 * time.Millisecond
	// rpcTimeout bounds the start of Prism and each call to its job
	// service.
	rpcTimeout = 10 * time.Second
)

// errStopTimeout is returned when a cancelled job did not end in time.
var errStopTimeout = fmt.Errorf("the pipeline did not stop within %v of being cancelled", stopTimeout)

// inProcessPrism reports whether beamx.Run would run the pipeline on
// Prism in this process: the prism runner (the default) without a job
// service --endpoint.
func inProcessPrism() bool {
	r := strings.ToLower(*runners.Runner)
	return (r == "" || r == "prism") && *jobopts.Endpoint == ""
}

// runPipeline runs p with beamx.Run, on the runner --runner names, until
// it ends or stop is done.
//
// On in-process Prism it starts Prism's job server itself (as the prism
// runner would, on a free port and, unless --environment_type says
// otherwise, with the LOOPBACK environment) and keeps a client of it:
// when stop is done the job is cancelled through the job service, and
// runPipeline returns nil once it ended. (Cancelling beamx.Run's context
// instead makes Prism log panics of its bundle goroutines.) On other
// runners, stop being done only stops the wait, as Beam does: the job may
// go on on the runner.
func runPipeline(stop context.Context, p *beam.Pipeline) error {
	if !inProcessPrism() {
		return beamx.Run(stop, p)
	}
	jobs, err := startPrism(context.WithoutCancel(stop))
	if err != nil {
		return err
	}
	ctx, hardStop := context.WithCancel(context.WithoutCancel(stop))
	defer hardStop()
	done := make(chan error, 1)
	go func() { done <- beamx.Run(ctx, p) }()
	select {
	case err := <-done:
		return err
	case <-stop.Done():
	}
	limit := time.NewTimer(stopTimeout)
	defer limit.Stop()
	retry := time.NewTicker(cancelRetry)
	defer retry.Stop()
	for {
		cancelJobs(jobs)
		select {
		case err := <-done:
			return err
		case <-retry.C:
		case <-limit.C:
			hardStop()
			return errStopTimeout
		}
	}
}

// startPrism starts a Prism job server in this process on a free port,
// and points Beam's --endpoint at it.
func startPrism(ctx context.Context) (jobpb.JobServiceClient, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("find a port for Prism: %w", err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	if err := l.Close(); err != nil {
		return nil, fmt.Errorf("find a port for Prism: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, rpcTimeout)
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

// cancelJobs cancels every job of the job service that has not ended.
func cancelJobs(jobs jobpb.JobServiceClient) {
	ctx, cancel := context.WithTimeout(context.Background(), rpcTimeout)
	defer cancel()
	resp, err := jobs.GetJobs(ctx, &jobpb.GetJobsRequest{})
	if err != nil {
		return // the caller tries again
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

// interrupted wraps the outcome of a run stopped by ctx.
func interrupted(ctx context.Context, err error) error {
	return fmt.Errorf("interrupted: %w", errors.Join(ctx.Err(), err))
}
