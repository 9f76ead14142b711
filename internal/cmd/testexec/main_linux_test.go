package main

import (
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

// The test binary is its own child: with TESTEXEC_CHILD=path it exits 5 if it inherited a
// descriptor of the lock file, 3 if the lock is held (tried without blocking), else
// TESTEXEC_EXIT.
func TestMain(m *testing.M) {
	if path := os.Getenv("TESTEXEC_CHILD"); path != "" {
		os.Exit(child(path))
	}
	os.Exit(m.Run())
}

func child(path string) int {
	fds, _ := os.ReadDir("/proc/self/fd")
	for _, fd := range fds {
		if l, _ := os.Readlink("/proc/self/fd/" + fd.Name()); l == path {
			return 5 // inherited the lock's descriptor
		}
	}
	f, err := os.Open(path)
	if err != nil {
		return 4
	}
	defer f.Close()
	if syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB) != nil {
		return 3
	}
	code, _ := strconv.Atoi(os.Getenv("TESTEXEC_EXIT"))
	return code
}

func TestRunHoldsLockAndPassesExitCode(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "lock")
	self := []string{os.Args[0], "-test.run=^$"}
	// The child holds no descriptor of the lock (else 5) and sees it held (3): the next
	// package's binary waits, and what this one leaves running cannot hold it.
	t.Setenv("TESTEXEC_CHILD", lock)
	t.Setenv("TESTEXEC_EXIT", "0")
	if got, _, _ := run(lock, 19, self); got != 3 {
		t.Fatalf("child under run: exit %d, want 3 (5: inherited the lock; 0: lock not held while the binary runs)", got)
	}
	// After run returns the lock is free again: a plain child gets it and its code passes.
	for _, want := range []int{0, 7} {
		t.Setenv("TESTEXEC_EXIT", strconv.Itoa(want))
		if got := child(lock); got != want {
			t.Fatalf("lock after run: child exit %d, want %d (lock released)", got, want)
		}
	}
}

func TestExitCodeOfSignalledChild(t *testing.T) {
	lock := filepath.Join(t.TempDir(), "lock")
	// sh kills itself with SIGTERM: go test must see a failed binary (128+15).
	if got, _, _ := run(lock, 19, []string{"sh", "-c", "kill -TERM $$"}); got != 128+15 {
		t.Fatalf("signalled child: exit %d, want %d", got, 128+15)
	}
}
