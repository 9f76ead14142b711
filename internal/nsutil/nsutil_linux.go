package nsutil

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
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

// OpenByInode opens the network namespace whose nsfs inode is ino, wherever something
// still keeps it alive: a process in it (/proc/<pid>/ns/net), a bind mount under
// /run/netns, or only an open descriptor (/proc/<pid>/fd/<n>). The returned file is
// checked to be that namespace after opening, so a PID reused in between cannot hand out
// another one. It returns nil, nil when nothing keeps the namespace any more: it is gone,
// and every object that was in it.
func OpenByInode(ino uint64) (*os.File, error) {
	return netnsFinder{proc: "/proc", mounts: "/run/netns"}.open(ino)
}

// netnsFinder is OpenByInode over other roots (tests).
type netnsFinder struct{ proc, mounts string }

func (nf netnsFinder) open(ino uint64) (*os.File, error) {
	if ino == 0 {
		return nil, errors.New("no network namespace inode given")
	}
	try := func(p string) *os.File {
		f, err := os.Open(p)
		if err != nil {
			return nil
		}
		if i, err := FileInode(f); err == nil && i == ino {
			return f
		}
		f.Close()
		return nil
	}
	procs, err := filepath.Glob(filepath.Join(nf.proc, "[0-9]*", "ns", "net"))
	if err != nil {
		return nil, err
	}
	mounts, _ := filepath.Glob(filepath.Join(nf.mounts, "*"))
	for _, p := range append(procs, mounts...) {
		if f := try(p); f != nil {
			return f, nil
		}
	}
	// Held only by a descriptor (no process inside, no bind mount).
	want := fmt.Sprintf("net:[%d]", ino)
	fds, _ := filepath.Glob(filepath.Join(nf.proc, "[0-9]*", "fd", "*"))
	for _, p := range fds {
		if l, err := os.Readlink(p); err == nil && l == want {
			if f := try(p); f != nil {
				return f, nil
			}
		}
	}
	return nil, nil
}

// FileInode returns the inode of an open namespace file.
func FileInode(f *os.File) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", f.Name(), err)
	}
	return st.Ino, nil
}

// Inode returns the inode of a namespace file (e.g. /proc/self/ns/net).
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// HostInode returns the inode of the node's own namespace of type kind ("net", "mnt")
// as procRoot shows it: the host's init (pid 1), else kthreadd (pid 2), which is in
// the same namespaces and whose links stay readable where pid 1's are not (a hardened
// init, an LSM). An error means neither could be read: the caller cannot tell whether
// a namespace is the node's own and must refuse rather than guess.
func HostInode(procRoot, kind string) (uint64, error) {
	var errs []error
	for _, pid := range []string{"1", "2"} {
		ino, err := Inode(filepath.Join(procRoot, pid, "ns", kind))
		if err == nil {
			return ino, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("reading the node's own %s namespace: %w", kind, errors.Join(errs...))
}
