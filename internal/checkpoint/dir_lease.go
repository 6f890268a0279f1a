package checkpoint

import (
	"context"
	"fmt"
	"path/filepath"
	"time"
)

// dirLease is lease.json.
type dirLease struct {
	App          string `json:"app"`
	Owner        string `json:"owner"`
	Job          string `json:"job"`
	Epoch        int64  `json:"epoch"`
	HeartbeatMS  int64  `json:"heartbeat_ms"`
	StaleAfterMS int64  `json:"stale_after_ms"`
}

func toDirLease(l Lease) dirLease {
	return dirLease{
		App:          l.App,
		Owner:        l.Owner,
		Job:          l.Job,
		Epoch:        l.Epoch,
		HeartbeatMS:  toMillis(l.Heartbeat),
		StaleAfterMS: l.StaleAfter.Milliseconds(),
	}
}

func (d dirLease) lease() Lease {
	return Lease{
		App:        d.App,
		Owner:      d.Owner,
		Job:        d.Job,
		Epoch:      d.Epoch,
		Heartbeat:  fromMillis(d.HeartbeatMS),
		StaleAfter: time.Duration(d.StaleAfterMS) * time.Millisecond,
	}
}

// readLease reads the lease in app's folder dir; nil when there is none.
func readDirLease(dir, app string) (*Lease, error) {
	var d dirLease
	path := filepath.Join(dir, leaseFileName)
	ok, err := readJSON(path, &d)
	if err != nil || !ok {
		return nil, err
	}
	if d.App != app {
		return nil, fmt.Errorf("checkpoint: %s is corrupt: it holds the lease of application %q", path, d.App)
	}
	l := d.lease()
	return &l, nil
}

// Acquire implements Store.
func (s *dirStore) Acquire(ctx context.Context, app, owner, job string, staleAfter time.Duration, now time.Time) (Lease, error) {
	if err := validateAcquire(app, owner, staleAfter); err != nil {
		return Lease{}, err
	}
	dir, err := s.appDir(app)
	if err != nil {
		return Lease{}, err
	}
	unlock, err := s.lock(ctx, app)
	if err != nil {
		return Lease{}, err
	}
	defer unlock()
	cur, err := readDirLease(dir, app)
	if err != nil {
		return Lease{}, err
	}
	next, _, err := decideAcquire(cur, app, owner, job, staleAfter, now)
	if err != nil {
		return Lease{}, err
	}
	if err := writeJSONAtomic(dir, leaseFileName, toDirLease(next)); err != nil {
		return Lease{}, err
	}
	return next, nil
}

// Heartbeat implements Store.
func (s *dirStore) Heartbeat(ctx context.Context, l Lease, now time.Time) error {
	dir, err := s.appDir(l.App)
	if err != nil {
		return err
	}
	if !exists(dir) { // no lease: do not make a folder to find it out
		return lostError("heartbeat", l, nil)
	}
	unlock, err := s.lock(ctx, l.App)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readDirLease(dir, l.App)
	if err != nil {
		return err
	}
	if !holds(cur, l) {
		return lostError("heartbeat", l, cur)
	}
	cur.Heartbeat = fromMillis(toMillis(now))
	return writeJSONAtomic(dir, leaseFileName, toDirLease(*cur))
}

// Release implements Store. Releasing a lease that l released already
// (same epoch, no owner since) succeeds, so that a retry does.
func (s *dirStore) Release(ctx context.Context, l Lease) error {
	dir, err := s.appDir(l.App)
	if err != nil {
		return err
	}
	if !exists(dir) {
		return lostError("release", l, nil)
	}
	unlock, err := s.lock(ctx, l.App)
	if err != nil {
		return err
	}
	defer unlock()
	cur, err := readDirLease(dir, l.App)
	if err != nil {
		return err
	}
	if released(cur, l) {
		return nil
	}
	if !holds(cur, l) {
		return lostError("release", l, cur)
	}
	cur.Owner = ""
	return writeJSONAtomic(dir, leaseFileName, toDirLease(*cur))
}

// ReadLease implements Store.
func (s *dirStore) ReadLease(ctx context.Context, app string) (Lease, bool, error) {
	dir, err := s.appDir(app)
	if err != nil {
		return Lease{}, false, err
	}
	cur, err := readDirLease(dir, app)
	if err != nil || cur == nil {
		return Lease{}, false, err
	}
	return *cur, true, nil
}

// holds reports whether the stored lease cur is still l's.
func holds(cur *Lease, l Lease) bool {
	return cur != nil && l.Owner != "" && cur.Owner == l.Owner && cur.Epoch == l.Epoch
}

// released reports whether cur is l released (by l's owner: nobody
// acquired it since).
func released(cur *Lease, l Lease) bool {
	return cur != nil && cur.Owner == "" && cur.Epoch == l.Epoch
}

// lostError is the ErrLeaseLost of op by l, describing the stored lease
// cur (nil: there is none).
func lostError(op string, l Lease, cur *Lease) error {
	var now string
	switch {
	case cur == nil:
		now = "there is no lease (reset?)"
	case cur.Owner == "":
		now = fmt.Sprintf("it was released under epoch %d", cur.Epoch)
	default:
		now = fmt.Sprintf("it is held by run %s (%s) under epoch %d", cur.Owner, cur.Job, cur.Epoch)
	}
	return fmt.Errorf("checkpoint: %s of application %s by run %s under epoch %d: %w: %s", op, l.App, l.Owner, l.Epoch, ErrLeaseLost, now)
}
