package childproc

import "syscall"

// sysProcAttr has the kernel SIGKILL the child when the thread that started
// it, kept alive until the child is reaped, dies with this process; with
// group, the child leads its own process group.
func sysProcAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group, Pdeathsig: syscall.SIGKILL}
}
