package history

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// ErrLocked is returned by Lock when another process holds the lock.
var ErrLocked = errors.New("locked")

// Lock takes the lock named key (say, a scenario file's absolute path) in dir's locks/
// directory, without waiting: ErrLocked (with the holder's PID) when another process
// holds it. The operating system releases it when the process dies, so a killed run
// leaves no stale lock. release gives it back.
func Lock(dir, key string) (release func(), err error) {
	if dir == "" {
		return func() {}, nil
	}
	ldir := filepath.Join(dir, "locks")
	if err := os.MkdirAll(ldir, 0o700); err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	sum := sha256.Sum256([]byte(key))
	path := filepath.Join(ldir, hex.EncodeToString(sum[:8])+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock: %w", err)
	}
	if err := lockFile(f); err != nil {
		holder, _ := os.ReadFile(path)
		f.Close()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("%w by process %s (%s)", ErrLocked, strings.TrimSpace(string(holder)), path)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	_ = f.Truncate(0)
	_, _ = f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	return func() {
		_ = unlockFile(f)
		f.Close()
	}, nil
}
