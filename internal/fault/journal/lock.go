package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ErrLocked says another live agent holds the experiment's lock.
var ErrLocked = errors.New("journal: experiment is locked by another agent")

// Lock is the exclusive lock of one experiment's journal directory, held by its live
// agent (or by a sweep while it recovers a dead one). The kernel releases it when the
// process dies, so a lock that can be taken means nobody is working on the experiment.
type Lock struct {
	f   *os.File
	dir string
}

// TryLock takes the experiment's lock, creating its directory, or returns ErrLocked.
func TryLock(dir, experiment string) (*Lock, error) {
	if err := ValidName(experiment); err != nil {
		return nil, err
	}
	edir := ExperimentDir(dir, experiment)
	for range 10 {
		if err := os.MkdirAll(edir, 0o700); err != nil {
			return nil, fmt.Errorf("creating journal directory %s: %w", edir, err)
		}
		path := filepath.Join(edir, lockName)
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
		if err != nil {
			if errors.Is(err, os.ErrNotExist) {
				continue // the directory was removed by the previous holder: retry
			}
			return nil, fmt.Errorf("opening lock %s: %w", path, err)
		}
		locked, err := flock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("locking %s: %w", path, err)
		}
		if !locked {
			f.Close()
			return nil, fmt.Errorf("%w (%s)", ErrLocked, edir)
		}
		// The previous holder may have removed the file between our open and flock:
		// then we locked an orphan inode, try again.
		if sameFile(f, path) {
			return &Lock{f: f, dir: edir}, nil
		}
		f.Close()
	}
	return nil, fmt.Errorf("locking %s: the lock file kept changing", edir)
}

// WaitLock retries TryLock until it succeeds, ctx ends or timeout passes.
func WaitLock(ctx context.Context, dir, experiment string, timeout time.Duration) (*Lock, error) {
	deadline := time.Now().Add(timeout)
	for {
		l, err := TryLock(dir, experiment)
		if err == nil || !errors.Is(err, ErrLocked) || time.Now().After(deadline) {
			return l, err
		}
		select {
		case <-ctx.Done():
			return nil, err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Release drops the lock. When no journal file is left, the lock file and the empty
// experiment directory are removed first (while still held).
func (l *Lock) Release() error {
	if l == nil || l.f == nil {
		return nil
	}
	m, _ := filepath.Glob(filepath.Join(l.dir, "*.json"))
	if len(m) == 0 {
		os.Remove(filepath.Join(l.dir, lockName))
		os.Remove(l.dir)
	}
	err := l.f.Close()
	l.f = nil
	return err
}

func sameFile(f *os.File, path string) bool {
	a, err := f.Stat()
	if err != nil {
		return false
	}
	b, err := os.Stat(path)
	if err != nil {
		return false
	}
	return os.SameFile(a, b)
}
