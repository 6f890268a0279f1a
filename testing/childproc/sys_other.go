//go:build !unix

package childproc

import (
	"os"
	"syscall"
)

// sysProcAttr returns nil: there are neither process groups nor a
// parent-death signal here.
func sysProcAttr(bool) *syscall.SysProcAttr {
	return nil
}

// signal sends sig to the child alone.
func (p *Process) signal(sig os.Signal) error {
	return p.cmd.Process.Signal(sig)
}
