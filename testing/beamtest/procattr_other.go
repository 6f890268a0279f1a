//go:build !linux

package beamtest

import "syscall"

// workerSysProcAttr returns nil: without a parent-death signal, the worker
// process relies on the end of its standard input and on its own deadline to
// exit when the test process dies.
func workerSysProcAttr() *syscall.SysProcAttr {
	return nil
}
