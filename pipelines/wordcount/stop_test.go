package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestStreamGracefulStop: with --checkpoint_app, the first Ctrl-C asks
// the job to stop through its checkpoint store and says so; the job ends
// by itself (exit 0) with its lease released, and a job started right
// after is not refused and reads nothing again.
func TestStreamGracefulStop(t *testing.T) {
	emu := emulators.Require(t, emulators.Kinesalite)
	bin := buildDemo(t)
	client := kinesistest.NewClient(emu.Endpoint)
	stream := kinesistest.StreamName(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if _, err := kinesistest.CreateStream(ctx, client, stream, 2); err != nil {
		t.Fatal(err)
	}
	data := make([][]byte, 40)
	for i := range data {
		data[i] = []byte("alpha beta gamma")
	}
	if _, err := kinesistest.PutRecords(ctx, client, stream, data); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	args := []string{"--stream", stream, "--kinesis_endpoint", emu.Endpoint, "--kinesis_region", kinesistest.Region,
		"--checkpoint_app", "wc", "--checkpoint_dir", dir, "--window", "1s"}
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = os.Environ() // the test credentials of TestMain
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, asked := interruptAfterWindow(t, cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("wordcount after one SIGINT: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	took := time.Since(asked)
	for _, want := range []string{"stopping gracefully", "stopped gracefully"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("stderr does not say %q:\n%s", want, stderr.String())
		}
	}
	if w := warnings(stderr.String()); len(w) > 0 {
		t.Errorf("a graceful stop logged %d warnings or errors:\n%s", len(w), strings.Join(w, "\n"))
	}
	if !strings.Contains(out.String(), "120 words") && !strings.Contains(out.String(), "alpha=40") {
		t.Errorf("the windows do not count the 120 words put:\n%s", out.String())
	}
	st, err := checkpoint.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	l, ok, err := st.ReadLease(ctx, "wc", stream)
	if err != nil || !ok || l.Owner != "" {
		t.Errorf("lease after a graceful stop: %+v, %v, %v; want released", l, ok, err)
	}
	cps, err := st.Load(ctx, "wc", stream)
	if err != nil || len(cps) != 2 {
		t.Errorf("checkpoints after a graceful stop: %+v, %v; want both shards", cps, err)
	}
	// Started again at once: not refused, and nothing read again (the
	// bounded run ends at the tip, having read nothing).
	again := exec.CommandContext(ctx, bin, append(args, "--max_read_time", "3s")...)
	again.Env = os.Environ()
	o2, err := again.CombinedOutput()
	if err != nil {
		t.Fatalf("wordcount started right after the graceful stop: %v\n%s", err, o2)
	}
	if strings.Contains(string(o2), "alpha=") {
		t.Errorf("the next run read records again:\n%s", o2)
	}
	t.Logf("SIGINT to the end of the process: %v", took.Round(time.Millisecond))
}
