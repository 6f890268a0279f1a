//go:build unix

package bench

import (
	"syscall"
	"time"
)

// CPUTime returns the user + system CPU time this process has used, from
// getrusage(RUSAGE_SELF): every thread, the Go runtime's included.
func CPUTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
