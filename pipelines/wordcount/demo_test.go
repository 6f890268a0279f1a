package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// demoDir holds the demo binary; TestMain removes it.
var demoDir string

// demoBinary builds the command once per test binary, like
// go build -o $TMPDIR/wordcount ./pipelines/wordcount.
var demoBinary = sync.OnceValues(func() (string, error) {
	dir, err := os.MkdirTemp("", "wordcount-demo-")
	if err != nil {
		return "", err
	}
	demoDir = dir
	bin := filepath.Join(dir, "wordcount")
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, goCmd, "build", "-o", bin, ".").CombinedOutput()
	if err != nil {
		return "", errors.New("go build: " + err.Error() + "\n" + string(out))
	}
	return bin, nil
})

func buildDemo(t *testing.T) string {
	t.Helper()
	bin, err := demoBinary()
	if err != nil {
		t.Fatal(err)
	}
	return bin
}

// demoEnv is this process's environment without AWS settings, as on a
// machine with no AWS configuration: the demo must set its own.
func demoEnv(t *testing.T) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "AWS_") {
			env = append(env, kv)
		}
	}
	// No shared config or credentials files either.
	return append(env, "AWS_CONFIG_FILE="+filepath.Join(t.TempDir(), "none"), "AWS_SHARED_CREDENTIALS_FILE="+filepath.Join(t.TempDir(), "none"))
}

var verifiedRE = regexp.MustCompile(`(?m)^verified: (\d+) words produced, (\d+) words counted in (\d+) windows$`)
var timingRE = regexp.MustCompile(`(?m)^timing: first window printed ([0-9.]+)s after start; total ([0-9.]+)s$`)

// TestDemoNoFlags runs the README's main command, go run
// ./pipelines/wordcount, as a built binary: it must verify its 3000 words
// and exit 0 by itself.
func TestDemoNoFlags(t *testing.T) {
	bin := buildDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin)
	cmd.Env = demoEnv(t)
	cmd.Dir = t.TempDir()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("demo: %v (after %v)\nstdout:\n%s\nstderr:\n%s", err, elapsed, stdout.String(), stderr.String())
	}
	out := stdout.String()
	m := verifiedRE.FindStringSubmatch(out)
	if m == nil || m[1] != "3000" || m[2] != "3000" {
		t.Fatalf("no verification line for 3000 words:\n%s", out)
	}
	if n := strings.Count(out, "\nwindow "); n < 5 || m[3] != strconv.Itoa(n) {
		t.Errorf("%d window blocks printed, verification says %s", n, m[3])
	}
	if !strings.Contains(out, "\nstatus: produced ") {
		t.Errorf("no status line:\n%s", out)
	}
	if strings.Contains(out+stderr.String(), "AWS_SECRET") || strings.Contains(out+stderr.String(), "demo/") {
		t.Errorf("output mentions credentials")
	}
	if tm := timingRE.FindStringSubmatch(out); tm == nil {
		t.Errorf("no timing line")
	} else {
		t.Logf("first window printed %ss after start; total %ss (process: %.1fs)", tm[1], tm[2], elapsed.Seconds())
	}
	if stderr.Len() > 0 {
		t.Logf("stderr:\n%s", stderr.String())
	}
}

// TestDemoForeverInterrupted runs the demo with --forever, interrupts it
// once a window was printed, and expects a clean stop.
func TestDemoForeverInterrupted(t *testing.T) {
	bin := buildDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 45*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--forever", "--window", "1s")
	cmd.Env = demoEnv(t)
	cmd.Dir = t.TempDir()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := interruptAfterWindow(t, cmd)
	if err := cmd.Wait(); err != nil {
		t.Fatalf("demo --forever after SIGINT: %v\nstdout:\n%s\nstderr:\n%s", err, out.String(), stderr.String())
	}
	if !regexp.MustCompile(`(?m)^stopped: \d+ words produced, \d+ words counted in \d+ windows?`).MatchString(out.String()) {
		t.Errorf("no stop line:\n%s", out.String())
	}
	// A clean stop logs nothing (the demo logs at warn level).
	if w := warnings(stderr.String()); len(w) > 0 {
		t.Errorf("a clean stop logged %d warnings or errors:\n%s", len(w), strings.Join(w, "\n"))
	}
}

// TestDemoRefusesBadFlags checks flags of the wrong mode and runners the
// demo cannot run on.
func TestDemoRefusesBadFlags(t *testing.T) {
	bin := buildDemo(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stream", "words", "--rate", "5"}, "--rate: only for the demo"},
		{[]string{"--kinesis_endpoint", "http://localhost:4567"}, "--kinesis_endpoint: only with --stream"},
		{[]string{"--runner", "flink"}, "the demo runs only on in-process Prism"},
		{[]string{"--environment_type", "DOCKER"}, "LOOPBACK"},
		{[]string{"--stream", "words", "--start", "yesterday"}, `--start "yesterday"`},
		{[]string{"--window", "0s"}, "--window 0s is not positive"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = demoEnv(t)
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), tc.want) {
			t.Errorf("wordcount %s: %v, output %q; want exit 1 and %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
	}
}

// interruptAfterWindow starts cmd, sends it SIGINT once it printed its
// first window, and returns all it printed on stdout (read to its end)
// and when it sent the signal.
func interruptAfterWindow(t *testing.T, cmd *exec.Cmd) (*strings.Builder, time.Time) {
	t.Helper()
	pipe, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var out strings.Builder
	sc := bufio.NewScanner(pipe)
	for sc.Scan() {
		out.WriteString(sc.Text() + "\n")
		if strings.HasPrefix(sc.Text(), "window ") {
			break
		}
	}
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	rest, _ := io.ReadAll(pipe)
	out.Write(rest)
	return &out, sent
}
