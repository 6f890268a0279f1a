//go:build unix

package childproc

import (
	"fmt"
	"os"
	"syscall"
)

// signal sends sig to the child, or to its whole group.
func (p *Process) signal(sig os.Signal) error {
	if !p.group {
		return p.cmd.Process.Signal(sig)
	}
	s, ok := sig.(syscall.Signal)
	if !ok {
		return fmt.Errorf("signal %v is not a syscall.Signal", sig)
	}
	// The child leads its group, whose ID is its PID.
	return syscall.Kill(-p.cmd.Process.Pid, s)
}
