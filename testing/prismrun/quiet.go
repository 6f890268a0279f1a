package prismrun

import (
	"context"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"
)

// cancelGrace is how long after a cancelled run returned QuietCancel
// still drops the log records of its cancellation: the worker may finish
// a bundle Prism cut short after the job ended.
const cancelGrace = 10 * time.Second

// cancelling counts the runs of Run that are cancelling their job, or
// did so within cancelGrace.
var cancelling atomic.Int64

// beginCancel notes that Run began cancelling its job; the returned
// function notes that Run returned.
func beginCancel() (ended func()) {
	cancelling.Add(1)
	return func() { time.AfterFunc(cancelGrace, func() { cancelling.Add(-1) }) }
}

// QuietCancel returns a handler that passes every record to h, except,
// while Run is cancelling a job (and for 10 s after), the records Prism
// logs for the bundles the cancellation cuts short and the worker
// connections it closes: "Bundle Failed." with the error "pipeline
// canceled" or "... context canceled", the "state request after bundle
// inactive", "Prism received bundle error from worker response" and
// "stage.Execute aborting due to bundle error" records that go with it,
// and "additional bundle response", "state.Send" and the like with a
// cancellation's error ("canceled", "transport is closing"). A cancelled job
// is a clean stop, not a failure. Every other record passes, including a
// "Bundle Failed." with another error during a cancellation, and all of
// them when no cancellation is under way.
//
// Prism's job server keeps the default logger it found when it started:
// install the handler (slog.SetDefault) before Start.
func QuietCancel(h slog.Handler) slog.Handler { return quietHandler{h} }

type quietHandler struct{ h slog.Handler }

func (q quietHandler) Enabled(ctx context.Context, l slog.Level) bool { return q.h.Enabled(ctx, l) }

func (q quietHandler) Handle(ctx context.Context, r slog.Record) error {
	if cancelling.Load() > 0 && cancelNoise(r) {
		return nil
	}
	return q.h.Handle(ctx, r)
}

func (q quietHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return quietHandler{q.h.WithAttrs(as)}
}

func (q quietHandler) WithGroup(name string) slog.Handler {
	return quietHandler{q.h.WithGroup(name)}
}

// cancelNoise reports whether r is one of the records Prism logs when a
// cancellation cuts a bundle short.
func cancelNoise(r slog.Record) bool {
	switch r.Message {
	case "state request after bundle inactive",
		// Both come before the "Bundle Failed." record that carries the
		// error, which is dropped only if that is a cancellation.
		"Prism received bundle error from worker response",
		"stage.Execute aborting due to bundle error":
		return true
	case "Bundle Failed.", "additional bundle response",
		// The worker's connections closing under the cancellation.
		"state.Send", "state.Recv failed", "data.Recv failed", "ctrl.Recv failed", "logging.Recv", "Control done":
		teardown := false
		r.Attrs(func(a slog.Attr) bool {
			v := a.Value.Resolve().String()
			for _, m := range teardownMarks {
				if strings.Contains(v, m) {
					teardown = true
				}
			}
			return !teardown
		})
		return teardown
	}
	return false
}

// teardownMarks are the texts of the errors a cancellation causes:
// Prism's own ("pipeline canceled"), a context's ("context canceled"),
// gRPC's (code = Canceled, "transport is closing").
var teardownMarks = []string{"pipeline canceled", "context canceled", "code = Canceled", "transport is closing"}
