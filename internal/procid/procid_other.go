//go:build !linux

package procid

import (
	"os"
	"runtime"
)

// selfID fills only Host and PID: a process cannot be proven dead here.
func selfID() ID {
	host, _ := os.Hostname()
	return ID{Host: host, PID: os.Getpid()}
}

// probe is not reached (Self has no boot ID here); it proves nothing.
func probe(ID) (bool, string) {
	return false, "cannot tell on " + runtime.GOOS
}
