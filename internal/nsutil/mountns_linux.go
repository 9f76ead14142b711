package nsutil

import (
	"fmt"
	"runtime"

	"golang.org/x/sys/unix"
)

// MountNSThread runs functions on one OS thread that is inside another mount namespace,
// with that namespace's root as its root: the only way into a mount namespace for a
// multi-threaded Go program is a locked thread that first stops sharing its fs_struct
// (unshare(CLONE_FS)). The thread is never unlocked, so it dies with its goroutine and
// no other goroutine ever runs in that namespace. It is never the process's main
// thread: /proc/self is the main thread's view (and Go keeps a locked main thread
// instead of ending it), so a main thread left in another mount namespace would change
// what every later /proc/self lookup of the process sees.
type MountNSThread struct {
	work  chan func()
	tid   int
	whose string
}

// EnterMountNS starts the thread in the mount namespace nsFD with rootFD (a directory
// of that namespace) as its root. whose names them in errors ("the container's",
// "the node's").
func EnterMountNS(nsFD, rootFD int, whose string) (*MountNSThread, error) {
	t := &MountNSThread{work: make(chan func()), whose: whose}
	errc := make(chan error, 1)
	OffMainThread(func() {
		for _, step := range []struct {
			what string
			do   func() error
		}{
			{"unshare(CLONE_FS)", func() error { return unix.Unshare(unix.CLONE_FS) }},
			{"setns(CLONE_NEWNS)", func() error { return unix.Setns(nsFD, unix.CLONE_NEWNS) }},
			{"fchdir to " + whose + " root", func() error { return unix.Fchdir(rootFD) }},
			{"chroot to " + whose + " root", func() error { return unix.Chroot(".") }},
			{"chdir /", func() error { return unix.Chdir("/") }},
		} {
			if err := step.do(); err != nil {
				errc <- fmt.Errorf("entering %s mount namespace: %s: %w", whose, step.what, err)
				return // the thread stays locked and exits with this goroutine
			}
		}
		t.tid = unix.Gettid()
		errc <- nil
		for fn := range t.work {
			fn()
		}
	})
	if err := <-errc; err != nil {
		return nil, err
	}
	return t, nil
}

// TID is the thread's ID (its /proc/PID/task/TID shows the namespace's view).
func (t *MountNSThread) TID() int { return t.tid }

// Do runs fn on the namespace thread; a panic comes back as an error.
func (t *MountNSThread) Do(fn func() error) error {
	errc := make(chan error, 1)
	t.work <- func() {
		defer func() {
			if r := recover(); r != nil {
				errc <- fmt.Errorf("panic in %s mount namespace: %v", t.whose, r)
			}
		}()
		errc <- fn()
	}
	return <-errc
}

// Close ends the thread (it exits with its goroutine, still locked).
func (t *MountNSThread) Close() { close(t.work) }

// OffMainThread runs fn in a new goroutine on a locked OS thread that is not the
// process's main thread, and never unlocks it: the thread exits with fn's goroutine.
func OffMainThread(fn func()) {
	go func() {
		runtime.LockOSThread()
		if unix.Gettid() != unix.Getpid() {
			fn()
			return // still locked: the thread exits
		}
		// On the main thread: hold it, so that the goroutine below gets another one.
		done := make(chan struct{})
		go func() {
			defer close(done)
			runtime.LockOSThread()
			fn()
		}()
		<-done
		runtime.UnlockOSThread()
	}()
}
