//go:build unix && !linux

package childproc

import "syscall"

// sysProcAttr puts the child in its own process group, with group. There
// is no parent-death signal outside Linux.
func sysProcAttr(group bool) *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: group}
}
