package nsutil

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"

	"github.com/vishvananda/netns"
)

// Do runs fn with the calling goroutine's work moved onto a fresh goroutine whose OS
// thread is locked and switched into the network namespace at nsPath, then switched
// back. If switching back fails, the thread stays locked and exits with its goroutine,
// so no other goroutine ever runs in the wrong namespace. A panic in fn is returned as
// an error after the switch back.
func Do(nsPath string, fn func() error) error {
	target, err := netns.GetFromPath(nsPath)
	if err != nil {
		return fmt.Errorf("opening network namespace %s: %w", nsPath, err)
	}
	defer target.Close()
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("opening the current network namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(target); err != nil {
			// setns failed: the thread is where it was, but do not trust it.
			errc <- fmt.Errorf("entering network namespace %s: %w", nsPath, err)
			return // still locked: the thread exits with this goroutine
		}
		fnErr := call(fn)
		if err := netns.Set(orig); err != nil {
			errc <- fmt.Errorf("returning from network namespace %s (thread discarded): %w", nsPath, err)
			return // still locked: the thread exits with this goroutine
		}
		runtime.UnlockOSThread()
		errc <- fnErr
	}()
	return <-errc
}

func call(fn func() error) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic inside network namespace: %v", r)
		}
	}()
	return fn()
}

// FindByInode returns a /proc/<pid>/ns/net path under procRoot ("" = /proc) whose
// namespace has the given inode, scanning processes in directory order; ok is false if
// no live process is in that namespace.
func FindByInode(procRoot string, inode uint64) (string, bool) {
	if procRoot == "" {
		procRoot = "/proc"
	}
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return "", false
	}
	for _, de := range ents {
		if _, err := strconv.Atoi(de.Name()); err != nil {
			continue
		}
		p := filepath.Join(procRoot, de.Name(), "ns", "net")
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil && st.Ino == inode {
			return p, true
		}
	}
	return "", false
}

// Inode returns the inode of a namespace file (e.g. /proc/self/ns/net).
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}
