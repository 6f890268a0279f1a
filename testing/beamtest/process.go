package beamtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
)

// Environment variables that start the test binary as a worker pool.
const (
	// envWorkerPool marks a worker-pool process; its value is the file
	// descriptor on which the process reports its address.
	envWorkerPool = "BEAMTEST_WORKER_POOL_FD"
	// envParentPID is the PID of the test process that started the pool.
	envParentPID = "BEAMTEST_WORKER_POOL_PARENT"
	// envDeadline is the time (RFC 3339) at which the pool exits by itself.
	envDeadline = "BEAMTEST_WORKER_POOL_DEADLINE"
)

const (
	// handshakeTimeout bounds the start of the worker process, up to the
	// moment it reports the address of its worker pool.
	handshakeTimeout = 30 * time.Second
	// gracefulStopTimeout is how long a worker process may take to exit once
	// its standard input is closed, before it is killed.
	gracefulStopTimeout = 3 * time.Second
	// outputTail is how many bytes of the worker's output are kept.
	outputTail = 64 << 10
)

// workerProcess is a worker-pool child process seen from the test process.
type workerProcess struct {
	*childproc.Process
	stdin  io.WriteCloser
	addr   string
	output *childproc.TailBuffer
}

// startWorkerPool starts the test binary as a worker pool that exits by
// itself at deadline, and waits until it serves.
func startWorkerPool(deadline time.Time) (*workerProcess, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, fmt.Errorf("beamtest: locating the test binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("beamtest: creating the handshake pipe: %w", err)
	}
	defer r.Close()

	// -test.run=^$ runs no test should TestMain not call Main.
	cmd := exec.Command(exe, "-test.run=^$")
	cmd.Env = append(os.Environ(),
		envWorkerPool+"=3", // ExtraFiles[0]
		envParentPID+"="+strconv.Itoa(os.Getpid()),
		envDeadline+"="+deadline.Format(time.RFC3339Nano),
	)
	cmd.ExtraFiles = []*os.File{w}
	output := childproc.NewTailBuffer(outputTail)
	cmd.Stdout = output
	cmd.Stderr = output
	// Bounds Wait should a grandchild keep the output pipes open.
	cmd.WaitDelay = time.Second
	// The child exits when its standard input ends: when the run is over,
	// or when this process dies by any means.
	stdin, err := cmd.StdinPipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("beamtest: creating the worker's stdin: %w", err)
	}
	proc, err := childproc.Start(cmd)
	w.Close() // The child holds its own copy.
	if err != nil {
		stdin.Close()
		return nil, fmt.Errorf("beamtest: starting the worker process: %w", err)
	}
	wp := &workerProcess{Process: proc, stdin: stdin, output: output}

	addr, err := readHandshake(r, handshakeTimeout)
	if err != nil {
		stopErr := wp.stop(gracefulStopTimeout)
		return nil, errors.Join(fmt.Errorf("beamtest: worker process %d did not start its worker pool (does TestMain call beamtest.Main?): %w\noutput:\n%s",
			wp.Pid(), err, wp.output.String()), stopErr)
	}
	wp.addr = addr
	return wp, nil
}

// readHandshake reads the line with the worker pool's address from r.
func readHandshake(r *os.File, timeout time.Duration) (string, error) {
	if err := r.SetReadDeadline(time.Now().Add(timeout)); err != nil {
		return "", fmt.Errorf("setting the handshake deadline: %w", err)
	}
	line, err := bufio.NewReader(io.LimitReader(r, 1024)).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("reading the handshake: %w", err)
	}
	addr := strings.TrimSpace(line)
	if addr == "" {
		return "", errors.New("empty handshake")
	}
	return addr, nil
}

// exitStatus describes the result of an exited process's Wait.
func exitStatus(err error) string {
	if err == nil {
		return "exit status 0"
	}
	return err.Error()
}

// stop ends the worker process: it closes its standard input, kills it if
// it has not exited within gracefulStopTimeout, and waits for it to be
// reaped, at most timeout in all. It is idempotent.
func (wp *workerProcess) stop(timeout time.Duration) error {
	grace := min(gracefulStopTimeout, timeout)
	closeStdin := func() error {
		wp.stdin.Close()
		return nil
	}
	if err := wp.Stop(closeStdin, grace, timeout-grace); err != nil {
		return fmt.Errorf("beamtest: worker process: %w", err)
	}
	return nil
}
