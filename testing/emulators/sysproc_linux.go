package emulators

import "syscall"

// sysProcAttr puts the child in its own process group, so that Stop can
// signal the whole group, and has the kernel SIGKILL it when the thread
// that started it dies (Start keeps that thread alive as long as the
// child runs).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
