package childproc

import (
	"io"
	"os"
	"os/exec"
	"strings"
	"syscall"
	"testing"
	"time"
)

// helperEnv makes the test binary a child for these tests: "stdin" exits
// when its standard input ends, "sleep" sleeps.
const helperEnv = "CHILDPROC_TEST_HELPER"

func TestMain(m *testing.M) {
	switch os.Getenv(helperEnv) {
	case "stdin":
		_, _ = io.Copy(io.Discard, os.Stdin)
		os.Exit(0)
	case "sleep":
		time.Sleep(time.Minute)
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func helper(t *testing.T, mode string) *exec.Cmd {
	t.Helper()
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(), helperEnv+"="+mode)
	return cmd
}

func TestStopSoft(t *testing.T) {
	cmd := helper(t, "stdin")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	p, err := Start(cmd)
	if err != nil {
		t.Fatal(err)
	}
	if p.Exited() || p.Err() != nil {
		t.Fatalf("child exited at once: %v", p.Err())
	}
	start := time.Now()
	if err := p.Stop(stdin.Close, 10*time.Second, time.Second); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Stop took %v; closing stdin should have ended the child", d)
	}
	if !p.Exited() || p.Err() != nil {
		t.Errorf("after Stop: exited %v, Err %v; want a clean exit", p.Exited(), p.Err())
	}
}

func TestStopKills(t *testing.T) {
	for _, group := range []bool{false, true} {
		p, err := start(helper(t, "sleep"), group)
		if err != nil {
			t.Fatal(err)
		}
		ignored := func() error { return nil }
		if err := p.Stop(ignored, 100*time.Millisecond, 10*time.Second); err != nil {
			t.Fatalf("group %v: Stop: %v", group, err)
		}
		if p.Err() == nil {
			t.Errorf("group %v: Err = nil, want the kill", group)
		}
		// Idempotent, and a child that is gone is no error.
		if err := p.Stop(ignored, 0, 0); err != nil {
			t.Errorf("group %v: second Stop: %v", group, err)
		}
		if err := p.Kill(); err != nil {
			t.Errorf("group %v: Kill after exit: %v", group, err)
		}
	}
}

func TestStartGroupSignal(t *testing.T) {
	p, err := StartGroup(helper(t, "sleep"))
	if err != nil {
		t.Fatal(err)
	}
	if err := p.Signal(syscall.SIGTERM); err != nil {
		t.Fatalf("Signal: %v", err)
	}
	if !p.WaitExit(10 * time.Second) {
		p.Kill()
		t.Fatal("child still running after SIGTERM to its group")
	}
}

func TestStartError(t *testing.T) {
	if _, err := Start(exec.Command("/nonexistent/childproc-test")); err == nil {
		t.Error("Start of a missing binary: no error")
	}
}

func TestTailBuffer(t *testing.T) {
	b := NewTailBuffer(8)
	b.Write([]byte("abc"))
	if got := b.String(); got != "abc" {
		t.Errorf("String = %q, want abc", got)
	}
	b.Write([]byte("defghij"))
	if got := b.String(); got != "[...]\ncdefghij" {
		t.Errorf("String = %q, want the last 8 bytes after a marker", got)
	}
	if got := b.Tail(3); got != "hij" {
		t.Errorf("Tail(3) = %q, want hij", got)
	}
	if got := b.Tail(100); !strings.HasSuffix(got, "cdefghij") || strings.Contains(got, "[...]") {
		t.Errorf("Tail(100) = %q, want the 8 bytes kept", got)
	}
}
