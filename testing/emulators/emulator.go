package emulators

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
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
	// tailBufferSize is how many bytes of an emulator's output are kept.
	tailBufferSize = 64 << 10
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

	proc *childproc.Process
	out  *childproc.TailBuffer
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
		out:      childproc.NewTailBuffer(tailBufferSize),
	}
	if s.tlsPort != 0 {
		e.TLSEndpoint = fmt.Sprintf("https://127.0.0.1:%d", s.tlsPort)
	}
	cmd := exec.Command(node, s.args...)
	cmd.Dir = filepath.Join(nm, s.pkg)
	cmd.Env = append(os.Environ(), s.env...)
	cmd.Stdout, cmd.Stderr = e.out, e.out
	cmd.WaitDelay = stopGrace
	// The child leads its own process group, so that Stop reaches what it
	// starts; on Linux it dies with this process.
	if e.proc, err = childproc.StartGroup(cmd); err != nil {
		return nil, fmt.Errorf("emulators: start %s: %w", kind, err)
	}
	if err := e.waitReady(ctx, s); err != nil {
		return nil, errors.Join(err, e.Stop())
	}
	return e, nil
}

// Output returns the last few KiB of the emulator's stdout and stderr.
func (e *Emulator) Output() string {
	return e.out.Tail(outputTail)
}

// exited reports whether the emulator process has exited.
func (e *Emulator) exited() bool {
	return e.proc.Exited()
}

// Stop ends the emulator: SIGTERM to its process group, SIGKILL after 2 s,
// then waits at most 5 s more. It is safe to call more than once; later
// calls return the first call's result.
func (e *Emulator) Stop() error {
	if e == nil || e.proc == nil {
		return nil
	}
	term := func() error { return e.proc.Signal(syscall.SIGTERM) }
	if err := e.proc.Stop(term, stopGrace, killWait); err != nil {
		return fmt.Errorf("emulators: stop %s: %w", e.Kind, err)
	}
	return nil
}
