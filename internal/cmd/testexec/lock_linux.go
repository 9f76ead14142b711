package main

import (
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"syscall"
)

// acquire blocks until it holds an exclusive flock on path. The descriptor is
// close-on-exec (os.OpenFile), so the test binary and its children never hold it.
func acquire(path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("-lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return nil, fmt.Errorf("-lock %s: flock: %w", path, err)
	}
	return func() { f.Close() }, nil
}

// setNice starts the test binary at nice (go test runs at 19 under make test-unit) and
// kills it if testexec dies (go test's SIGKILL after its timeout), so an orphan cannot
// run on beside the next package's tests.
func setNice(cmd *exec.Cmd, nice int) {
	// Both the niceness (setpriority is per thread on Linux) and Pdeathsig (sent when the
	// forking thread exits) belong to a thread: run stays on this one until it returns.
	runtime.LockOSThread()
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	// Lowering a niceness needs root (CAP_SYS_NICE); as a user the binary keeps 19,
	// and the root-only timing tests skip anyway.
	_ = syscall.Setpriority(syscall.PRIO_PROCESS, 0, nice)
}
