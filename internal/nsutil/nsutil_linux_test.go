package nsutil_test

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"testing"

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

func TestFindByInode(t *testing.T) {
	c := nstest.NewContainer(t)
	p, ok := nsutil.FindByInode("/proc", c.Inode)
	if !ok {
		t.Fatal("netns of the sleep process not found")
	}
	if ino, _ := nsutil.Inode(p); ino != c.Inode {
		t.Fatalf("%s has inode %d, want %d", p, ino, c.Inode)
	}
	if _, ok := nsutil.FindByInode("/proc", 1); ok {
		t.Fatal("found inode 1")
	}
}
