package prismrun

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
)

func TestQuietCancel(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(QuietCancel(slog.NewTextHandler(&buf, nil))).With("job", "job-001")
	logAll := func() {
		log.Error("Bundle Failed.", slog.Any("error", errors.New("pipeline canceled")))
		log.Error("Bundle Failed.", slog.Any("error", errors.New("bundle inst001 stage-001 failed:SDK worker disconnected: worker[x], 1 active instructions, error: context canceled")))
		log.Warn("state request after bundle inactive", "instruction", "inst164")
		log.Error("Prism received bundle error from worker response", "bundle", "inst001")
		log.Error("state.Send", slog.Any("error", errors.New("rpc error: code = Unavailable desc = transport is closing")))
		log.Error("Bundle Failed.", slog.Any("error", errors.New("wordcount: print window: disk full")))
		log.Info("Job[job-001] state: CANCELLED")
	}

	logAll()
	if n := strings.Count(buf.String(), "\n"); n != 7 {
		t.Errorf("no cancellation under way: %d records logged, want all 7:\n%s", n, buf.String())
	}

	buf.Reset()
	beginCancel() // its end, with a grace period, is not needed here
	logAll()
	cancelling.Add(-1)
	got := buf.String()
	if n := strings.Count(got, "\n"); n != 2 || !strings.Contains(got, "disk full") || !strings.Contains(got, "state: CANCELLED") {
		t.Errorf("during a cancellation: logged\n%s\nwant only the real failure and the INFO record", got)
	}
	if !log.Handler().Enabled(context.Background(), slog.LevelError) {
		t.Error("the handler is not enabled for errors")
	}
}
