package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

const (
	// dirLockTimeout bounds the wait for an application's lock. Holders
	// keep it for a few file writes, so a long wait means a stuck process.
	dirLockTimeout = 30 * time.Second
	// lockFileName is the file of an application's folder that processes
	// flock. It is never deleted: a process waiting on a deleted lock file
	// would lock a file that the next process no longer sees.
	lockFileName = "lock"
)

// dirLockPoll spaces the attempts at a lock another process holds.
var dirLockPoll = backoff.Policy{Base: 200 * time.Microsecond, Max: 10 * time.Millisecond}

// lock takes app's lock for a read-check-write: first the store's
// semaphore of app (goroutines of this process), then an exclusive flock
// on the app folder's lock file (other processes), creating the folder
// when absent. Both waits end with ctx or after dirLockTimeout. The
// returned function releases both.
func (s *dirStore) lock(ctx context.Context, app string) (func(), error) {
	ctx, cancel := context.WithTimeout(ctx, dirLockTimeout)
	defer cancel()
	sem := s.semaphore(app)
	select {
	case sem <- struct{}{}:
	case <-ctx.Done():
		return nil, fmt.Errorf("checkpoint: lock application %s in %s: another goroutine held it: %w", app, s.root, ctx.Err())
	}
	release := func() { <-sem }
	dir := filepath.Join(s.root, app)
	if err := mkdirSynced(dir); err != nil {
		release()
		return nil, err
	}
	path := filepath.Join(dir, lockFileName)
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR|syscall.O_CLOEXEC, 0o644)
	if err != nil {
		release()
		return nil, fmt.Errorf("checkpoint: open lock file: %w", err)
	}
	err = backoff.Retry{Policy: dirLockPoll, Interrupted: func(error) error {
		return fmt.Errorf("checkpoint: flock %s: another process held it: %w", path, ctx.Err())
	}}.Do(ctx, func(context.Context) error {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err != nil && !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			return backoff.Stop(fmt.Errorf("checkpoint: flock %s: %w", path, err))
		}
		return err
	})
	if err != nil {
		f.Close()
		release()
		return nil, err
	}
	return func() {
		// Closing the file drops the flock too; unlocking first makes
		// that explicit and independent of other descriptors.
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
		release()
	}, nil
}

// semaphore returns the channel (capacity 1) that serialises the
// goroutines of this store working on app. A channel rather than a
// sync.Mutex, so that waiting for it ends with the context.
func (s *dirStore) semaphore(app string) chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	sem, ok := s.sems[app]
	if !ok {
		sem = make(chan struct{}, 1)
		s.sems[app] = sem
	}
	return sem
}
