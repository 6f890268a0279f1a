package checkpoint

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/procid"
)

// dirLease is leases/<stream>.json.
type dirLease struct {
	App          string           `json:"app"`
	Stream       string           `json:"stream"`
	Owner        string           `json:"owner"`
	Job          string           `json:"job"`
	Epoch        int64            `json:"epoch"`
	Floor        int64            `json:"floor,omitempty"`
	HeartbeatMS  int64            `json:"heartbeat_ms"`
	StaleAfterMS int64            `json:"stale_after_ms"`
	Procs        map[string]int64 `json:"procs,omitempty"` // procKey -> heartbeat ms
	AfterSink    bool             `json:"after_sink,omitempty"`
	SinkEpoch    int64            `json:"sink_epoch,omitempty"`
	StopEpoch    int64            `json:"stop_epoch,omitempty"`
}

func toDirLease(l Lease) dirLease {
	d := dirLease{
		App:          l.App,
		Stream:       l.Stream,
		Owner:        l.Owner,
		Job:          l.Job,
		Epoch:        l.Epoch,
		Floor:        l.Floor,
		HeartbeatMS:  toMillis(l.Heartbeat),
		StaleAfterMS: l.StaleAfter.Milliseconds(),
		AfterSink:    l.AfterSink,
		SinkEpoch:    l.SinkEpoch,
		StopEpoch:    l.StopEpoch,
	}
	if len(l.Procs) > 0 {
		d.Procs = make(map[string]int64, len(l.Procs))
		for _, p := range l.Procs {
			d.Procs[procKey(p.ID)] = toMillis(p.Heartbeat)
		}
	}
	return d
}

func (d dirLease) lease() (Lease, error) {
	l := Lease{
		App:        d.App,
		Stream:     d.Stream,
		Owner:      d.Owner,
		Job:        d.Job,
		Epoch:      d.Epoch,
		Floor:      d.Floor,
		Heartbeat:  fromMillis(d.HeartbeatMS),
		StaleAfter: time.Duration(d.StaleAfterMS) * time.Millisecond,
		AfterSink:  d.AfterSink,
		SinkEpoch:  d.SinkEpoch,
		StopEpoch:  d.StopEpoch,
	}
	var err error
	l.Procs, err = decodeProcs(d.Procs)
	return l, err
}

// decodeProcs turns stored processes (procKey -> heartbeat ms) into Procs
// sorted by key.
func decodeProcs(m map[string]int64) ([]Proc, error) {
	var out []Proc
	for k, ms := range m {
		id, err := parseProcKey(k)
		if err != nil {
			return nil, err
		}
		out = append(out, Proc{ID: id, Heartbeat: fromMillis(ms)})
	}
	sortProcs(out)
	return out, nil
}

// leasesDir is the folder of app's leases, one file per stream.
func leasesDir(appDir string) string { return filepath.Join(appDir, leasesDirName) }

// readDirLease reads the lease of stream in app's folder dir; nil when
// there is none.
func readDirLease(dir, app, stream string) (*Lease, error) {
	var d dirLease
	path := filepath.Join(leasesDir(dir), stream+jsonExt)
	ok, err := readJSON(path, &d)
	if err != nil || !ok {
		return nil, err
	}
	if d.App != app || d.Stream != stream {
		return nil, fmt.Errorf("checkpoint: %s is corrupt: it holds the lease of application %q, stream %q", path, d.App, d.Stream)
	}
	l, err := d.lease()
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s is corrupt: %w", path, err)
	}
	return &l, nil
}

// writeDirLease writes l in app's folder dir. The caller holds app's lock.
func writeDirLease(dir string, l Lease) error {
	if err := mkdirSynced(leasesDir(dir)); err != nil {
		return err
	}
	return writeJSONAtomic(leasesDir(dir), l.Stream+jsonExt, toDirLease(l))
}

// readDirLeases reads every lease in app's folder dir, sorted by stream.
func readDirLeases(dir, app string) ([]Lease, error) {
	entries, err := readDirIfExists(leasesDir(dir))
	if err != nil {
		return nil, err
	}
	var out []Lease
	for _, e := range entries {
		stream, ok := strings.CutSuffix(e.Name(), jsonExt)
		if !ok || !e.Type().IsRegular() || validateName("stream name", stream) != nil {
			continue // a temporary file
		}
		l, err := readDirLease(dir, app, stream)
		if err != nil {
			return nil, err
		}
		if l != nil {
			out = append(out, *l)
		}
	}
	return out, nil
}

// Acquire implements Store.
func (s *dirStore) Acquire(ctx context.Context, want Lease, now time.Time) (Lease, error) {
	if err := validateAcquire(want); err != nil {
		return Lease{}, err
	}
	var next Lease
	err := s.update(ctx, want.App, func(dir string) error {
		cur, err := readDirLease(dir, want.App, want.Stream)
		if err != nil {
			return err
		}
		if next, _, err = decideAcquire(cur, want, now); err != nil {
			return err
		}
		return writeDirLease(dir, next)
	})
	return next, err
}

// update runs fn with app's folder under app's lock.
func (s *dirStore) update(ctx context.Context, app string, fn func(dir string) error) error {
	dir, err := s.appDir(app)
	if err != nil {
		return err
	}
	unlock, err := s.lock(ctx, app)
	if err != nil {
		return err
	}
	defer unlock()
	return fn(dir)
}

// updateHeld runs fn with l's stored lease under app's lock, and writes
// what fn returns; ErrLeaseLost (op names the operation) when the lease is
// no longer l's, unless ok says that the stored lease is acceptable as
// it is (nothing is written then).
func (s *dirStore) updateHeld(ctx context.Context, l Lease, op string, ok func(cur *Lease) bool, fn func(cur Lease) Lease) (Lease, error) {
	if err := validateLeaseName(l.App, l.Stream); err != nil {
		return Lease{}, err
	}
	dir, err := s.appDir(l.App)
	if err != nil {
		return Lease{}, err
	}
	if !exists(dir) { // no lease: do not make a folder to find it out
		return Lease{}, lostError(op, l, nil)
	}
	var out Lease
	err = s.update(ctx, l.App, func(dir string) error {
		cur, err := readDirLease(dir, l.App, l.Stream)
		if err != nil {
			return err
		}
		if ok != nil && ok(cur) {
			out = *cur
			return nil
		}
		if !holds(cur, l) {
			return lostError(op, l, cur)
		}
		out = fn(*cur)
		return writeDirLease(dir, out)
	})
	return out, err
}

// Heartbeat implements Store.
func (s *dirStore) Heartbeat(ctx context.Context, l Lease, me procid.ID, now time.Time) (Lease, error) {
	return s.updateHeld(ctx, l, "heartbeat", nil, func(cur Lease) Lease { return beat(cur, me, now) })
}

// Release implements Store. Releasing a lease that l released already
// (same epoch, no owner since) succeeds, so that a retry does.
func (s *dirStore) Release(ctx context.Context, l Lease) error {
	_, err := s.updateHeld(ctx, l, "release", func(cur *Lease) bool { return released(cur, l) }, func(cur Lease) Lease {
		cur.Owner = ""
		return cur
	})
	return err
}

// MarkSink implements Store.
func (s *dirStore) MarkSink(ctx context.Context, l Lease) error {
	err := s.update(ctx, l.App, func(dir string) error {
		cur, err := readDirLease(dir, l.App, l.Stream)
		if err != nil {
			return err
		}
		if cur == nil || cur.Epoch != l.Epoch {
			return notHeldError(l.App, l.Stream)
		}
		cur.SinkEpoch = l.Epoch
		return writeDirLease(dir, *cur)
	})
	return err
}

// RequestStop implements Store.
func (s *dirStore) RequestStop(ctx context.Context, app, stream string) ([]Lease, error) {
	if err := validateAppName(app); err != nil {
		return nil, err
	}
	if stream != "" {
		if err := validateName("stream name", stream); err != nil {
			return nil, err
		}
	}
	dir, err := s.appDir(app)
	if err != nil {
		return nil, err
	}
	if !exists(dir) {
		return nil, notHeldError(app, stream)
	}
	var asked []Lease
	err = s.update(ctx, app, func(dir string) error {
		all, err := readDirLeases(dir, app)
		if err != nil {
			return err
		}
		for _, l := range all {
			if l.Owner == "" || stream != "" && l.Stream != stream {
				continue
			}
			l.StopEpoch = l.Epoch
			if err := writeDirLease(dir, l); err != nil {
				return err
			}
			asked = append(asked, l)
		}
		return nil
	})
	if err == nil && len(asked) == 0 {
		err = notHeldError(app, stream)
	}
	return asked, err
}

// ReadLease implements Store.
func (s *dirStore) ReadLease(ctx context.Context, app, stream string) (Lease, bool, error) {
	if err := validateLeaseName(app, stream); err != nil {
		return Lease{}, false, err
	}
	dir, err := s.appDir(app)
	if err != nil {
		return Lease{}, false, err
	}
	cur, err := readDirLease(dir, app, stream)
	if err != nil || cur == nil {
		return Lease{}, false, err
	}
	return *cur, true, nil
}

// Leases implements Store.
func (s *dirStore) Leases(ctx context.Context, app string) ([]Lease, error) {
	dir, err := s.appDir(app)
	if err != nil {
		return nil, err
	}
	return readDirLeases(dir, app)
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
	case cur.Owner == "" && cur.Floor == cur.Epoch && cur.Epoch > l.Epoch:
		now = fmt.Sprintf("it was reset (epoch %d)", cur.Epoch)
	case cur.Owner == "":
		now = fmt.Sprintf("it was released under epoch %d", cur.Epoch)
	default:
		now = fmt.Sprintf("it is held by run %s (%s) under epoch %d", cur.Owner, cur.Job, cur.Epoch)
	}
	return fmt.Errorf("checkpoint: %s of %s by run %s under epoch %d: %w: %s", op, l.Name(), l.Owner, l.Epoch, ErrLeaseLost, now)
}

// notHeldError is the ErrNotHeld of app and stream ("" = any stream).
func notHeldError(app, stream string) error {
	if stream == "" {
		return fmt.Errorf("checkpoint: application %s: %w of any stream", app, ErrNotHeld)
	}
	return fmt.Errorf("checkpoint: application %s, stream %s: %w", app, stream, ErrNotHeld)
}
