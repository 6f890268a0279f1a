package checkpoint

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/procid"
)

// validateLeaseName reports an application name or stream name that
// cannot name a lease.
func validateLeaseName(app, stream string) error {
	if err := validateAppName(app); err != nil {
		return err
	}
	return validateName("stream name", stream)
}

// validateAcquire reports a wanted lease that Acquire cannot make.
func validateAcquire(want Lease) error {
	if err := validateLeaseName(want.App, want.Stream); err != nil {
		return err
	}
	if want.Owner == "" {
		return fmt.Errorf("checkpoint: acquire %s: empty owner (an empty owner marks a released lease)", want.Name())
	}
	if want.StaleAfter < time.Millisecond {
		return fmt.Errorf("checkpoint: acquire %s: staleAfter %v is under the stores' 1 ms precision", want.Name(), want.StaleAfter)
	}
	return nil
}

// acquireKind says how Acquire takes a lease, given the one it read.
type acquireKind int

const (
	acquireNew      acquireKind = iota // there was none: epoch 1
	acquireRetry                       // owner's already: the epoch stays
	acquireReleased                    // released: epoch + 1
	acquireStale                       // stale at now: epoch + 1
	acquireDead                        // its processes are provably dead: epoch + 1
)

// ProvablyDead reports whether every process of l's holder that
// heartbeated within StaleAfter of now is provably dead, judged from this
// process (procid.Dead: same machine, boot and pid namespace, process
// gone), and there is at least one. Such a lease may be taken over at
// once instead of after StaleAfter. It also returns the processes, for
// messages.
func (l Lease) ProvablyDead(now time.Time) (bool, string) {
	var ids []string
	for _, p := range l.Procs {
		if now.Sub(p.Heartbeat) >= l.StaleAfter {
			continue
		}
		dead, why := procid.Dead(p.ID)
		if !dead {
			return false, ""
		}
		ids = append(ids, p.ID.String()+": "+why)
	}
	return len(ids) > 0, strings.Join(ids, ", ")
}

// decideAcquire is the rule of Acquire that both stores share: given the
// stored lease cur (nil when there is none), it returns the lease want's
// owner gets and how, or a *HeldError when cur is live and another's.
// Staleness is judged by cur's own StaleAfter, as its holder set it.
func decideAcquire(cur *Lease, want Lease, now time.Time) (Lease, acquireKind, error) {
	at := fromMillis(toMillis(now))
	next := want
	next.Epoch, next.Floor, next.Heartbeat = 1, 0, at
	next.StaleAfter = want.StaleAfter.Truncate(time.Millisecond)
	next.SinkEpoch, next.StopEpoch = 0, 0
	next.Procs = nil
	for _, p := range want.Procs {
		next.Procs = append(next.Procs, Proc{ID: p.ID, Heartbeat: at})
	}
	if cur == nil {
		return next, acquireNew, nil
	}
	next.Floor = cur.Floor
	switch {
	case cur.Owner == want.Owner:
		next.Epoch = cur.Epoch
		// A retry keeps what was recorded under the epoch.
		next.SinkEpoch, next.StopEpoch = cur.SinkEpoch, cur.StopEpoch
		return next, acquireRetry, nil
	case cur.Owner == "":
		next.Epoch = cur.Epoch + 1
		return next, acquireReleased, nil
	case !cur.Live(now):
		next.Epoch = cur.Epoch + 1
		return next, acquireStale, nil
	}
	if dead, _ := cur.ProvablyDead(now); dead {
		next.Epoch = cur.Epoch + 1
		return next, acquireDead, nil
	}
	return Lease{}, 0, &HeldError{Lease: *cur, Now: now}
}

// beat returns cur with its heartbeat and process me's set to now, and
// the processes silent for 10 times StaleAfter dropped.
func beat(cur Lease, me procid.ID, now time.Time) Lease {
	at := fromMillis(toMillis(now))
	cur.Heartbeat = at
	procs := []Proc{{ID: me, Heartbeat: at}}
	for _, p := range cur.Procs {
		if p.ID != me && !droppable(p, cur, now) {
			procs = append(procs, p)
		}
	}
	sortProcs(procs)
	cur.Procs = procs
	return cur
}

// droppable reports whether p has been silent long enough to forget.
func droppable(p Proc, l Lease, now time.Time) bool {
	return now.Sub(p.Heartbeat) > 10*l.StaleAfter
}

// procKey is the text that keys a process in a stored lease.
func procKey(id procid.ID) string {
	return fmt.Sprintf("%s|%s|%s|%s|%d|%d", id.Host, id.Boot, id.PIDNS, id.TimeNS, id.PID, id.Start)
}

// parseProcKey is the inverse of procKey.
func parseProcKey(k string) (procid.ID, error) {
	f := strings.Split(k, "|")
	if len(f) != 6 {
		return procid.ID{}, fmt.Errorf("process key %q has %d fields, want 6", k, len(f))
	}
	id := procid.ID{Host: f[0], Boot: f[1], PIDNS: f[2], TimeNS: f[3]}
	if _, err := fmt.Sscanf(f[4]+" "+f[5], "%d %d", &id.PID, &id.Start); err != nil {
		return procid.ID{}, fmt.Errorf("process key %q: %v", k, err)
	}
	return id, nil
}

// sortProcs sorts processes by key.
func sortProcs(ps []Proc) {
	slices.SortFunc(ps, func(a, b Proc) int { return strings.Compare(procKey(a.ID), procKey(b.ID)) })
}

// resetLease is l released by Reset: a new epoch, which becomes the
// floor, and nothing recorded under the old one.
func resetLease(l Lease) Lease {
	l.Owner = ""
	l.Epoch++
	l.Floor = l.Epoch
	l.StopEpoch, l.SinkEpoch = 0, 0
	l.Procs = nil
	return l
}
