//go:build unix && !linux

package emulators

import "syscall"

// sysProcAttr puts the child in its own process group, so that Stop can
// signal the whole group. Outside Linux there is no parent-death signal:
// an emulator can outlive a test binary that is killed.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
