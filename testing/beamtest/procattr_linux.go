//go:build linux

package beamtest

import "syscall"

// workerSysProcAttr makes the kernel kill the worker process when the
// thread that started it, kept alive until the worker exits, dies with the
// test process.
func workerSysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
