package main

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/options/jobopts"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn2x1[context.Context, []byte, error](&holdFn{})
}

// holdStarted receives a value each time holdFn starts an element: the
// worker runs in the test process (in-process Prism, LOOPBACK).
var holdStarted = make(chan struct{}, 16)

// holdFn holds its bundle for Hold, so that a cancellation finds a
// bundle executing; with Fail set it fails instead, as a broken job
// does.
type holdFn struct {
	Hold time.Duration
	Fail bool
}

func (f *holdFn) ProcessElement(ctx context.Context, _ []byte) error {
	select {
	case holdStarted <- struct{}{}:
	default:
	}
	if f.Fail {
		return errors.New("holdFn: a real failure")
	}
	time.Sleep(f.Hold)
	return nil
}

// syncBuffer is a bytes.Buffer safe for concurrent writers.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// captureLogs sends the process's slog records at INFO and above to a
// buffer, through the same set-up as main (setupLogging), and points
// runPipeline at a Prism job server of its own; both are undone when the
// test ends.
func captureLogs(t *testing.T) *syncBuffer {
	t.Helper()
	buf := &syncBuffer{}
	old := slog.Default()
	endpoint, env := *jobopts.Endpoint, *jobopts.EnvironmentType
	t.Cleanup(func() {
		slog.SetDefault(old)
		*jobopts.Endpoint, *jobopts.EnvironmentType = endpoint, env
	})
	slog.SetDefault(slog.New(slog.NewTextHandler(buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	quietCancelLogs()
	*jobopts.Endpoint, *jobopts.EnvironmentType = "", "" // runPipeline starts its own job server
	return buf
}

// warnings returns the WARN and ERROR lines of a log.
func warnings(log string) []string {
	var out []string
	for _, line := range strings.Split(log, "\n") {
		if strings.Contains(line, "level=WARN") || strings.Contains(line, "level=ERROR") {
			out = append(out, line)
		}
	}
	return out
}

// TestInterruptLogsNothingAlarming cancels a job while one of its bundles
// runs, as Ctrl-C does: the job ends and nothing is logged as a failure
// (Prism logs "Bundle Failed." error="pipeline canceled" and "state
// request after bundle inactive" for the bundles it cuts short). A real
// failure afterwards is still logged.
func TestInterruptLogsNothingAlarming(t *testing.T) {
	logs := captureLogs(t)

	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &holdFn{Hold: 3 * time.Second}, beam.Impulse(s))
	stop, interrupt := context.WithCancel(context.Background())
	defer interrupt()
	done := make(chan error, 1)
	go func() { done <- runPipeline(stop, p) }()
	select {
	case <-holdStarted:
	case err := <-done:
		t.Fatalf("the job ended before its bundle started: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("the bundle did not start within a minute")
	}
	interrupt()
	var err error
	select {
	case err = <-done:
	case <-time.After(time.Minute):
		t.Fatal("the cancelled job did not end within a minute")
	}
	if err != nil {
		t.Errorf("runPipeline after the interruption: %v, want nil (a clean stop)", err)
	}
	// Lines logged after the job ended count too: the worker finishes
	// the bundle Prism cut short.
	time.Sleep(4 * time.Second)
	if w := warnings(logs.String()); len(w) > 0 {
		t.Errorf("a clean stop logged %d warnings or errors:\n%s", len(w), strings.Join(w, "\n"))
	}

	// A real failure, after a cancellation in the same process, is logged.
	p, s = beam.NewPipelineWithRoot()
	beam.ParDo0(s, &holdFn{Fail: true}, beam.Impulse(s))
	if err := runPipeline(context.Background(), p); err == nil || !strings.Contains(err.Error(), "a real failure") {
		t.Errorf("runPipeline of a failing job: %v, want its error", err)
	}
	if log := logs.String(); !strings.Contains(log, `level=ERROR msg="Bundle Failed."`) || !strings.Contains(log, "a real failure") {
		t.Errorf("the real failure was not logged:\n%s", strings.Join(warnings(log), "\n"))
	}
}
