package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/x/beamx"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

// runPipeline runs p with beamx.Run, on the runner --runner names, until
// it ends or stop is done.
//
// On in-process Prism (prismrun.InProcess) it starts Prism's job server
// itself (prismrun.Start: a free port and, unless --environment_type says
// otherwise, the LOOPBACK environment) and keeps a client of it: when stop
// is done the job is cancelled through the job service, and runPipeline
// returns once it ended, or prismrun.ErrStopTimeout after
// prismrun.StopTimeout. (Cancelling beamx.Run's context instead makes
// Prism log panics of its bundle goroutines.) On other runners, stop being
// done only stops the wait, as Beam does: the job may go on on the runner.
func runPipeline(stop context.Context, p *beam.Pipeline) error {
	if !prismrun.InProcess() {
		return beamx.Run(stop, p)
	}
	jobs, err := prismrun.Start(stop)
	if err != nil {
		return err
	}
	_, err = prismrun.Run(stop, jobs, func(ctx context.Context) error { return beamx.Run(ctx, p) })
	return err
}

// interrupted wraps the outcome of a run stopped by ctx.
func interrupted(ctx context.Context, err error) error {
	return fmt.Errorf("interrupted: %w", errors.Join(ctx.Err(), err))
}
