package emulators

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"time"
)

const (
	// readyTimeout bounds the wait for a started emulator to answer.
	readyTimeout = 30 * time.Second
	// stopGrace is how long Stop waits after SIGTERM before SIGKILL.
	stopGrace = 2 * time.Second
	// killWait is how long Stop waits after SIGKILL.
	killWait = 5 * time.Second
	// startAttempts bounds retries when an emulator exits before it is
	// ready, typically because another process took its port.
	startAttempts = 3
	// outputTail is how much of an emulator's output errors quote.
	outputTail = 4 << 10
)

// errExitedEarly marks an emulator that exited before it was ready.
var errExitedEarly = errors.New("exited before it was ready")

// Emulator is a running emulator process. Stop it with Stop.
type Emulator struct {
	// Kind is which emulator this is.
	Kind Kind
	// Endpoint is the plain-HTTP base URL, http://127.0.0.1:PORT.
	Endpoint string
	// TLSEndpoint is https://127.0.0.1:PORT for KinesisMock (self-signed
	// certificate) and empty for the other kinds.
	TLSEndpoint string

	cmd      *exec.Cmd
	out      *tailBuffer
	done     chan struct{} // closed once the process has exited
	stopOnce sync.Once
	stopErr  error
}

// Start installs the node modules if needed, starts an emulator of kind on
// free loopback ports and waits (at most 30 s per attempt) until it answers
// requests. ctx bounds only the start-up: the emulator runs until Stop is
// called or the calling process dies.
func Start(ctx context.Context, kind Kind) (*Emulator, error) {
	pkg, err := packageName(kind)
	if err != nil {
		return nil, err
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("emulators: start %s: node is not available (install Node.js and npm, e.g. apt-get install nodejs npm): %w", kind, err)
	}
	nm, err := nodeModules(ctx, pkg)
	if err != nil {
		return nil, err
	}
	var errs []error
	for range startAttempts {
		e, err := startOnce(ctx, kind, node, nm)
		if err == nil {
			return e, nil
		}
		errs = append(errs, err)
		if !errors.Is(err, errExitedEarly) || ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// startOnce makes one attempt at starting kind on fresh ports.
func startOnce(ctx context.Context, kind Kind, node, nm string) (*Emulator, error) {
	ports, err := freePorts(portsNeeded(kind))
	if err != nil {
		return nil, err
	}
	s, err := newSpec(kind, nm, ports)
	if err != nil {
		return nil, err
	}
	e := &Emulator{
		Kind:     kind,
		Endpoint: fmt.Sprintf("http://127.0.0.1:%d", ports[0]),
		out:      &tailBuffer{},
		done:     make(chan struct{}),
	}
	if s.tlsPort != 0 {
		e.TLSEndpoint = fmt.Sprintf("https://127.0.0.1:%d", s.tlsPort)
	}
	cmd := exec.Command(node, s.args...)
	cmd.Dir = filepath.Join(nm, s.pkg)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = e.out, e.out
	cmd.SysProcAttr = sysProcAttr()
	cmd.WaitDelay = stopGrace
	if err := e.run(cmd); err != nil {
		return nil, fmt.Errorf("emulators: start %s: %w", kind, err)
	}
	if err := e.waitReady(ctx, s); err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	return e, nil
}

// run starts cmd and reaps it in the background, closing e.done when it
// exits. The parent-death signal fires when the thread that forked the
// child exits, so the goroutine that starts the child keeps its thread
// locked, and so alive, until the child has exited; it never unlocks, so
// the thread ends with it.
func (e *Emulator) run(cmd *exec.Cmd) error {
	started := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		if err := cmd.Start(); err != nil {
			started <- err
			return
		}
		started <- nil
		cmd.Wait() // the exit status of a stopped emulator carries no news
		close(e.done)
	}()
	if err := <-started; err != nil {
		return err
	}
	e.cmd = cmd
	return nil
}

// Output returns the last few KiB of the emulator's stdout and stderr.
func (e *Emulator) Output() string {
	return e.out.Tail(outputTail)
}

// exited reports whether the emulator process has exited.
func (e *Emulator) exited() bool {
	select {
	case <-e.done:
		return true
	default:
		return false
	}
}

// Stop ends the emulator: SIGTERM to its process group, SIGKILL after 2 s,
// then waits at most 5 s more. It is safe to call more than once; later
// calls return the first call's result.
func (e *Emulator) Stop() error {
	if e == nil || e.cmd == nil {
		return nil
	}
	e.stopOnce.Do(func() { e.stopErr = e.stop() })
	return e.stopErr
}

// stop does Stop's work once.
func (e *Emulator) stop() error {
	if e.exited() {
		return nil
	}
	pgid := e.cmd.Process.Pid // the child leads its own group
	if err := syscall.Kill(-pgid, syscall.SIGTERM); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("emulators: stop %s: %w", e.Kind, err)
	}
	grace := time.NewTimer(stopGrace)
	defer grace.Stop()
	select {
	case <-e.done:
		return nil
	case <-grace.C:
	}
	if err := syscall.Kill(-pgid, syscall.SIGKILL); err != nil && !errors.Is(err, syscall.ESRCH) {
		return fmt.Errorf("emulators: kill %s: %w", e.Kind, err)
	}
	wait := time.NewTimer(killWait)
	defer wait.Stop()
	select {
	case <-e.done:
		return nil
	case <-wait.C:
		return fmt.Errorf("emulators: %s (pid %d) still running %v after SIGKILL", e.Kind, pgid, killWait)
	}
}
