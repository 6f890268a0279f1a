// Package childproc starts child processes of a test binary that end with
// it, and captures the tail of their output.
//
// On Linux the kernel SIGKILLs a child started here when the test process
// dies, by any means (the parent-death signal). Elsewhere a child must
// watch for its parent's death itself, for instance through the end of its
// standard input.
package childproc

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// Process is a child process started by Start or StartGroup, reaped in the
// background.
type Process struct {
	cmd   *exec.Cmd
	group bool

	// done is closed once the process has exited and been reaped.
	done    chan struct{}
	waitErr error

	stopOnce sync.Once
	stopErr  error
}

// Start starts cmd as a child tied to this process, setting
// cmd.SysProcAttr, and reaps it in the background: see Done and Err.
func Start(cmd *exec.Cmd) (*Process, error) {
	return start(cmd, false)
}

// StartGroup is Start with the child leading a process group of its own
// (on Unix), so that Signal, Kill and Stop reach the processes it starts
// too.
func StartGroup(cmd *exec.Cmd) (*Process, error) {
	return start(cmd, true)
}

func start(cmd *exec.Cmd, group bool) (*Process, error) {
	cmd.SysProcAttr = sysProcAttr(group)
	p := &Process{cmd: cmd, group: group, done: make(chan struct{})}
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
		p.waitErr = cmd.Wait()
		close(p.done)
	}()
	if err := <-started; err != nil {
		return nil, err
	}
	return p, nil
}

// Pid returns the process ID of the child.
func (p *Process) Pid() int {
	return p.cmd.Process.Pid
}

// Done is closed once the child has exited and been reaped.
func (p *Process) Done() <-chan struct{} {
	return p.done
}

// Exited reports whether the child has exited.
func (p *Process) Exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// Err returns the error of cmd.Wait once the child has exited (nil for a
// clean exit), and nil while it runs.
func (p *Process) Err() error {
	if !p.Exited() {
		return nil
	}
	return p.waitErr
}

// WaitExit waits at most d for the child to exit, and reports whether it
// did.
func (p *Process) WaitExit(d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-p.done:
		return true
	case <-t.C:
		return false
	}
}

// Signal sends sig to the child, or to its process group if it was started
// by StartGroup. A child that has already exited is no error.
func (p *Process) Signal(sig os.Signal) error {
	err := p.signal(sig)
	if errors.Is(err, os.ErrProcessDone) || errors.Is(err, syscall.ESRCH) {
		return nil
	}
	return err
}

// Kill kills the child, or its process group if it was started by
// StartGroup. A child that has already exited is no error.
func (p *Process) Kill() error {
	return p.Signal(os.Kill)
}

// Stop ends the child, unless it has exited: it calls soft to ask it to
// exit, kills it (Kill) if it has not exited grace later, and waits at most
// killWait more for it to be reaped. It is idempotent: later calls return
// the first call's result.
func (p *Process) Stop(soft func() error, grace, killWait time.Duration) error {
	p.stopOnce.Do(func() { p.stopErr = p.stop(soft, grace, killWait) })
	return p.stopErr
}

func (p *Process) stop(soft func() error, grace, killWait time.Duration) error {
	if p.Exited() {
		return nil
	}
	if err := soft(); err != nil {
		return fmt.Errorf("stopping process %d: %w", p.Pid(), err)
	}
	if p.WaitExit(grace) {
		return nil
	}
	if err := p.Kill(); err != nil {
		return fmt.Errorf("killing process %d: %w", p.Pid(), err)
	}
	if p.WaitExit(killWait) {
		return nil
	}
	return fmt.Errorf("process %d still running %v after it was killed", p.Pid(), killWait)
}
