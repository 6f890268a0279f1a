package checkpoint_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// childEnv, when set, makes the test binary a child process of
// TestDirCrossProcessAcquire (see TestMain) instead of running tests.
const childEnv = "KINESISIO_CHECKPOINT_TEST_CHILD"

// Settings of a child, in its environment.
const (
	childDirEnv    = "KINESISIO_CHECKPOINT_TEST_DIR"
	childOwnerEnv  = "KINESISIO_CHECKPOINT_TEST_OWNER"
	childRoundsEnv = "KINESISIO_CHECKPOINT_TEST_ROUNDS"
)

// runChild is a child process: it opens the directory store, says
// "ready", waits for a line on stdin, then races for the lease of
// applications race-0, race-1, ..., printing "won R EPOCH" or
// "held R OWNER" for each. It returns the exit code.
func runChild() int {
	fail := func(err error) int {
		fmt.Println("error", err)
		return 1
	}
	rounds, err := strconv.Atoi(os.Getenv(childRoundsEnv))
	if err != nil {
		return fail(err)
	}
	owner := os.Getenv(childOwnerEnv)
	s, err := checkpoint.NewDir(os.Getenv(childDirEnv))
	if err != nil {
		return fail(err)
	}
	defer s.Close()
	fmt.Println("ready")
	if _, err := bufio.NewReader(os.Stdin).ReadString('\n'); err != nil {
		return fail(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := bufio.NewWriter(os.Stdout)
	defer w.Flush()
	now := time.Now()
	for r := range rounds {
		l, err := s.Acquire(ctx, checkpoint.Lease{App: fmt.Sprintf("race-%d", r), Stream: "stream", Owner: owner, Job: "child " + owner, StaleAfter: time.Hour}, now)
		var held *checkpoint.HeldError
		switch {
		case err == nil:
			fmt.Fprintln(w, "won", r, l.Epoch)
		case errors.As(err, &held):
			fmt.Fprintln(w, "held", r, held.Lease.Owner)
		default:
			w.Flush()
			return fail(err)
		}
	}
	return 0
}

// TestDirCrossProcessAcquire races processes (this test binary, run as
// children) for the leases of fresh applications: the flock must let
// exactly one win each.
func TestDirCrossProcessAcquire(t *testing.T) {
	const children, rounds = 4, 60
	dir := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	type child struct {
		cmd   *exec.Cmd
		stdin io.WriteCloser
		out   *bufio.Reader
	}
	var cs []child
	for i := range children {
		cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^$")
		cmd.Env = append(os.Environ(), childEnv+"=1", childDirEnv+"="+dir,
			childOwnerEnv+"="+fmt.Sprintf("proc-%d", i), childRoundsEnv+"="+strconv.Itoa(rounds))
		cmd.Stderr = os.Stderr
		stdin, err := cmd.StdinPipe()
		if err != nil {
			t.Fatal(err)
		}
		stdout, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatal(err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		cs = append(cs, child{cmd, stdin, bufio.NewReader(stdout)})
	}
	for i, c := range cs {
		line, err := c.out.ReadString('\n')
		if err != nil || line != "ready\n" {
			t.Fatalf("child %d: %q, %v; want ready", i, line, err)
		}
	}
	for _, c := range cs { // as close together as we can
		io.WriteString(c.stdin, "go\n")
	}
	winners := make([][]string, rounds)
	for i, c := range cs {
		rest, err := io.ReadAll(c.out)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.cmd.Wait(); err != nil {
			t.Fatalf("child %d: %v; output:\n%s", i, err, rest)
		}
		for _, line := range strings.Split(strings.TrimSpace(string(rest)), "\n") {
			var r int
			var what, arg string
			if _, err := fmt.Sscan(line, &what, &r, &arg); err != nil || r < 0 || r >= rounds {
				t.Fatalf("child %d: bad line %q", i, line)
			}
			if what == "won" {
				if arg != "1" {
					t.Errorf("child %d won round %d with epoch %s, want 1", i, r, arg)
				}
				winners[r] = append(winners[r], fmt.Sprintf("proc-%d", i))
			}
		}
	}
	s := openDir(t, dir)
	for r, w := range winners {
		if len(w) != 1 {
			t.Errorf("round %d: winners %v, want exactly 1", r, w)
			continue
		}
		l, ok, err := s.ReadLease(ctx, fmt.Sprintf("race-%d", r), "stream")
		if err != nil || !ok || l.Owner != w[0] {
			t.Errorf("round %d: stored lease %+v, %v, %v; want %s's", r, l, ok, err, w[0])
		}
	}
}
