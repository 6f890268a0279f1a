package beamtest

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"time"
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
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	addr   string
	output *tailBuffer

	// exited is closed once the process has exited and been reaped.
	exited  chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
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
	wp := &workerProcess{cmd: cmd, output: &tailBuffer{max: outputTail}, exited: make(chan struct{})}
	cmd.Stdout = wp.output
	cmd.Stderr = wp.output
	cmd.SysProcAttr = workerSysProcAttr()
	// Bounds Wait should a grandchild keep the output pipes open.
	cmd.WaitDelay = time.Second
	// The child exits when its standard input ends: when the run is over,
	// or when this process dies by any means.
	wp.stdin, err = cmd.StdinPipe()
	if err != nil {
		w.Close()
		return nil, fmt.Errorf("beamtest: creating the worker's stdin: %w", err)
	}

	started := make(chan error, 1)
	go func() {
		// The parent-death signal is tied to the thread that forks the
		// child, not to the process: keep this thread alive, locked to this
		// goroutine, until the child is reaped. The goroutine then ends
		// locked, and the runtime discards the thread.
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		wp.waitErr = cmd.Wait()
		close(wp.exited)
	}()
	err = <-started
	w.Close() // The child holds its own copy.
	if err != nil {
		wp.stdin.Close()
		return nil, fmt.Errorf("beamtest: starting the worker process: %w", err)
	}

	addr, err := readHandshake(r, handshakeTimeout)
	if err != nil {
		stopErr := wp.stop(gracefulStopTimeout)
		return nil, errors.Join(fmt.Errorf("beamtest: worker process %d did not start its worker pool (does TestMain call beamtest.Main?): %w\noutput:\n%s",
			wp.pid(), err, wp.output.String()), stopErr)
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

func (wp *workerProcess) pid() int {
	if wp.cmd.Process == nil {
		return 0
	}
	return wp.cmd.Process.Pid
}

// exitErr returns the error of a process that has exited with a non-zero
// status or by a signal, and nil for a running process or a clean exit.
func (wp *workerProcess) exitErr() error {
	select {
	case <-wp.exited:
		return wp.waitErr
	default:
		return nil
	}
}

// waitExit waits at most d for the process to exit, and returns whether it
// did and its exitErr.
func (wp *workerProcess) waitExit(d time.Duration) (bool, error) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-wp.exited:
		return true, wp.waitErr
	case <-t.C:
		return false, nil
	}
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
	wp.stopOnce.Do(func() {
		wp.stopErr = wp.doStop(timeout)
	})
	return wp.stopErr
}

func (wp *workerProcess) doStop(timeout time.Duration) error {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	wp.stdin.Close()
	grace := time.NewTimer(min(gracefulStopTimeout, timeout))
	defer grace.Stop()
	select {
	case <-wp.exited:
		return nil
	case <-grace.C:
	}
	if err := wp.cmd.Process.Kill(); err != nil && !errors.Is(err, os.ErrProcessDone) {
		return fmt.Errorf("beamtest: killing worker process %d: %w", wp.pid(), err)
	}
	select {
	case <-wp.exited:
		return nil
	case <-deadline.C:
		return fmt.Errorf("beamtest: worker process %d still running %v after it was killed", wp.pid(), timeout)
	}
}

// tailBuffer is an io.Writer that keeps the last max bytes written to it.
type tailBuffer struct {
	mu        sync.Mutex
	max       int
	buf       []byte
	truncated bool
}

// Write implements io.Writer.
func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf = append(b.buf, p...)
	if over := len(b.buf) - b.max; over > 0 {
		b.buf = append(b.buf[:0], b.buf[over:]...)
		b.truncated = true
	}
	return len(p), nil
}

// String returns the bytes kept.
func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.truncated {
		return "[...]\n" + string(b.buf)
	}
	return string(b.buf)
}
