// Package procid identifies an OS process and proves, from another process
// on the same machine, that it no longer runs.
//
// A checkpoint lease records Self() of the process that holds it. A new
// job that finds the lease held can call Dead on the holder's ID: when Dead
// reports true, the holder has provably exited and the lease can be taken
// over at once, without waiting for it to go stale.
//
// What is proven. Dead is true only when the ID was recorded on this host
// (same hostname), in this boot (same Linux boot_id), in this pid namespace
// and in this time namespace, and then either no process has the PID, or
// the process that has it started at another time (the PID was reused), or
// it has exited and waits to be reaped (a zombie). A namespace is named by
// its inode number, which the kernel may give to a new namespace once the
// old one is gone; every process of the old one is then gone too, so a
// reused number can only hide a death, never invent one. Start times have
// the resolution of a clock tick (10 ms): a PID reused within the same tick
// would pass for the holder (not dead), never the other way round.
//
// What is not proven. Anything that cannot be checked from here reports
// not dead: another host; another pid namespace (containers that share a
// hostname and a boot but not their pids); another time namespace (start
// times are shifted there); a /proc that belongs to another pid namespace
// or cannot be read; an ID without a host, boot or namespace; other
// systems than Linux, where Dead is always false. After a reboot the boot
// ID differs, so a holder recorded before it is not provably dead by this
// rule although it certainly is: callers then fall back to staleness (the
// holder's heartbeat stopping), as they do for holders on other hosts.
package procid

import (
	"fmt"
	"sync"
)

// ID identifies one OS process across machines and reboots. IDs are
// comparable, and serialize to JSON with short field names.
type ID struct {
	// Host is the host name (os.Hostname).
	Host string `json:"host,omitempty"`
	// Boot is the Linux boot ID (/proc/sys/kernel/random/boot_id); ""
	// elsewhere.
	Boot string `json:"boot,omitempty"`
	// PIDNS is the Linux pid namespace, as readlink /proc/self/ns/pid
	// gives it ("pid:[4026531836]"); "" elsewhere.
	PIDNS string `json:"pidns,omitempty"`
	// TimeNS is the Linux time namespace ("time:[4026531834]"), in which
	// Start is counted; "" elsewhere, and on kernels without time
	// namespaces.
	TimeNS string `json:"timens,omitempty"`
	// PID is the process ID, in PIDNS.
	PID int `json:"pid,omitempty"`
	// Start is the Linux start time of the process in clock ticks since
	// boot (field 22 of /proc/<pid>/stat); 0 elsewhere.
	Start uint64 `json:"start,omitempty"`
}

// String describes the process for messages: "host myhost pid 1234".
func (id ID) String() string {
	host := id.Host
	if host == "" {
		host = "?"
	}
	return fmt.Sprintf("host %s pid %d", host, id.PID)
}

var self = sync.OnceValue(selfID)

// Self returns the ID of this process. It is computed once.
func Self() ID {
	return self()
}

// Dead reports whether id is provably a process that no longer runs,
// judged from this process, and why, or why not, for logs (the package
// documentation says what is proven). Self() is never dead.
func Dead(id ID) (dead bool, why string) {
	me := Self()
	switch {
	case id == me:
		return false, "it is this process"
	case id.Host == "" || me.Host == "":
		return false, "host unknown"
	case id.Host != me.Host:
		return false, "on another host"
	case id.Boot == "" || me.Boot == "":
		return false, "boot unknown"
	case id.Boot != me.Boot:
		return false, "recorded in another boot of this host"
	case id.PIDNS == "" || me.PIDNS == "":
		return false, "pid namespace unknown"
	case id.PIDNS != me.PIDNS:
		return false, "in another pid namespace"
	case id.TimeNS != me.TimeNS:
		return false, "in another time namespace"
	case id.PID <= 0:
		return false, fmt.Sprintf("invalid pid %d", id.PID)
	}
	return probe(id)
}
