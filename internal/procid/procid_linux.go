package procid

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
)

// selfID reads this process's ID from /proc. When a part cannot be read,
// Boot, PIDNS, TimeNS and Start are all left empty, so that nothing can be
// proven about the ID.
func selfID() ID {
	host, _ := os.Hostname()
	id := ID{Host: host, PID: os.Getpid()}
	// /proc must show this process under its own PID: otherwise it
	// belongs to another pid namespace and tells nothing about ours.
	if link, err := os.Readlink("/proc/self"); err != nil || link != strconv.Itoa(id.PID) {
		return id
	}
	boot, err := os.ReadFile("/proc/sys/kernel/random/boot_id")
	if err != nil {
		return id
	}
	pidns, err := os.Readlink("/proc/self/ns/pid")
	if err != nil {
		return id
	}
	// Absent on kernels without time namespaces: there is only one then.
	timens, err := os.Readlink("/proc/self/ns/time")
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return id
	}
	_, start, err := readStat(id.PID)
	if err != nil {
		return id
	}
	id.Boot, id.PIDNS, id.TimeNS, id.Start = strings.TrimSpace(string(boot)), pidns, timens, start
	return id
}

// probe tells whether the process id, in this boot and these namespaces,
// is gone, reused or a zombie.
func probe(id ID) (bool, string) {
	gone := fmt.Sprintf("pid %d on this host is gone", id.PID)
	// EPERM: the process exists but belongs to another user.
	err := syscall.Kill(id.PID, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true, gone
	}
	if err != nil && !errors.Is(err, syscall.EPERM) {
		return false, fmt.Sprintf("cannot tell whether pid %d runs: %v", id.PID, err)
	}
	state, start, err := readStat(id.PID)
	if err != nil {
		// It may have exited since; /proc may also hide other users'
		// processes (hidepid), so only kill can say.
		if errors.Is(syscall.Kill(id.PID, 0), syscall.ESRCH) {
			return true, gone
		}
		return false, fmt.Sprintf("pid %d exists, its start time unknown: %v", id.PID, err)
	}
	switch {
	case id.Start != 0 && start != id.Start:
		return true, fmt.Sprintf("pid %d was reused (start time differs)", id.PID)
	case state == 'Z' || state == 'X':
		return true, fmt.Sprintf("pid %d has exited (state %c, not yet reaped)", id.PID, state)
	case id.Start == 0:
		return false, fmt.Sprintf("pid %d is in use (start time not recorded)", id.PID)
	}
	return false, fmt.Sprintf("pid %d is running", id.PID)
}

// readStat returns the state and start time of process pid, as this
// process sees them.
func readStat(pid int) (state byte, start uint64, err error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, 0, err
	}
	return parseStat(string(b))
}

// parseStat returns the state (field 3) and the start time (field 22) of
// a /proc/<pid>/stat line. The command name, field 2, is in parentheses and
// may hold spaces and parentheses itself: fields are counted after the
// last ')'.
func parseStat(s string) (state byte, start uint64, err error) {
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, 0, fmt.Errorf("procid: stat %.64q: no ')'", s)
	}
	f := strings.Fields(s[i+1:]) // f[0] is field 3
	if len(f) < 20 || len(f[0]) != 1 {
		return 0, 0, fmt.Errorf("procid: stat %.64q: malformed", s)
	}
	start, err = strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("procid: stat start time: %w", err)
	}
	return f[0][0], start, nil
}
