package nsutil_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
)

// threadInode is the netns inode of the calling OS thread (not the process's main thread).
func threadInode(t testing.TB) uint64 {
	ino, err := nsutil.Inode(fmt.Sprintf("/proc/self/task/%d/ns/net", gettid()))
	if err != nil {
		t.Fatal(err)
	}
	return ino
}

func TestDoSwitchesAndRestores(t *testing.T) {
	c := nstest.NewContainer(t)
	host, _ := nsutil.Inode("/proc/self/ns/net")
	var inside uint64
	if err := nsutil.Do(c.NetnsPath, func() error { inside = threadInode(t); return nil }); err != nil {
		t.Fatal(err)
	}
	if inside != c.Inode {
		t.Fatalf("inside Do: netns inode %d, want the target's %d", inside, c.Inode)
	}
	// fn's error and panics come back, and the thread is restored either way.
	sentinel := errors.New("boom")
	if err := nsutil.Do(c.NetnsPath, func() error { return sentinel }); !errors.Is(err, sentinel) {
		t.Fatalf("err = %v", err)
	}
	if err := nsutil.Do(c.NetnsPath, func() error { panic("oops") }); err == nil {
		t.Fatal("panic not reported")
	}
	if err := nsutil.Do("/nonexistent/ns", func() error { return nil }); err == nil {
		t.Fatal("bad path accepted")
	}

	// Many iterations across many goroutines: afterwards, no thread of this process
	// (the Go scheduler's pool) is left in the target namespace.
	const n = 2000
	var wg sync.WaitGroup
	var mu sync.Mutex
	wrong := 0
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := nsutil.Do(c.NetnsPath, func() error {
				if i%3 == 0 {
					runtime.Gosched()
				}
				return nil
			}); err != nil {
				t.Error(err)
			}
			// Unlocked goroutine work after Do: must be in the host netns.
			runtime.LockOSThread()
			if threadInode(t) != host {
				mu.Lock()
				wrong++
				mu.Unlock()
			}
			runtime.UnlockOSThread()
		}()
	}
	wg.Wait()
	if wrong > 0 {
		t.Fatalf("%d of %d goroutines ran in a leaked switched thread", wrong, n)
	}
	leaked := 0
	tasks, _ := os.ReadDir("/proc/self/task")
	for _, tk := range tasks {
		if ino, err := nsutil.Inode("/proc/self/task/" + tk.Name() + "/ns/net"); err == nil && ino == c.Inode {
			leaked++
		}
	}
	if leaked > 0 {
		t.Fatalf("%d of %d threads left in the target netns", leaked, len(tasks))
	}
	t.Logf("%d Do calls; %d threads checked, none left in netns %d", n+4, len(tasks), c.Inode)
}

// TestOpenByInode finds a namespace through a process in it, through a descriptor
// that alone keeps it (no process, no bind mount), and not at all once it is gone.
func TestOpenByInode(t *testing.T) {
	c := nstest.NewContainer(t)
	f, err := nsutil.OpenByInode(c.Inode)
	if err != nil || f == nil {
		t.Fatalf("netns of the sleep process: %v, %v", f, err)
	}
	if ino, _ := nsutil.FileInode(f); ino != c.Inode {
		t.Errorf("%s has inode %d, want %d", f.Name(), ino, c.Inode)
	}
	f.Close()

	held, ino := fdOnlyNetns(t)
	f, err = nsutil.OpenByInode(ino)
	if err != nil || f == nil {
		t.Fatalf("netns held only by descriptor %d: %v, %v", held.Fd(), f, err)
	}
	if got, _ := nsutil.FileInode(f); got != ino || !strings.Contains(f.Name(), "/fd/") {
		t.Errorf("opened %s (inode %d), want a descriptor path of inode %d", f.Name(), got, ino)
	}
	f.Close()
	held.Close() // the last reference: the namespace goes
	if f, err := nsutil.OpenByInode(ino); f != nil || err != nil {
		t.Errorf("after the last descriptor closed: %v, %v; want nil, nil (gone)", f, err)
	}
	if _, err := nsutil.OpenByInode(0); err == nil {
		t.Error("inode 0 accepted")
	}
}

// fdOnlyNetns creates a network namespace on a locked thread, keeps a descriptor of it
// and switches the thread back: only that descriptor keeps the namespace.
func fdOnlyNetns(t *testing.T) (*os.File, uint64) {
	t.Helper()
	type res struct {
		f   *os.File
		err error
	}
	ch := make(chan res, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := os.Open("/proc/thread-self/ns/net")
		if err != nil {
			runtime.UnlockOSThread()
			ch <- res{err: err}
			return
		}
		defer orig.Close()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err} // thread state unknown: it exits locked
			return
		}
		f, ferr := os.Open("/proc/thread-self/ns/net")
		if err := unix.Setns(int(orig.Fd()), unix.CLONE_NEWNET); err != nil {
			ch <- res{err: err}
			return
		}
		runtime.UnlockOSThread()
		ch <- res{f, ferr}
	}()
	r := <-ch
	if r.err != nil {
		t.Fatal(r.err)
	}
	ino, err := nsutil.FileInode(r.f)
	if err != nil {
		t.Fatal(err)
	}
	return r.f, ino
}
