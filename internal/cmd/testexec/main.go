// Command testexec is `make test-unit`'s go test -exec program: it runs one test binary
// at a time (an exclusive lock on a file) at the niceness make had, while go test, run
// at nice 19 with -p 2, compiles and links the next packages' test binaries on the idle
// CPU. The tests stay one package at a time, as -p 1 had them; only the builds overlap.
// The test binary does not inherit the lock: a process a test leaves behind cannot hold
// up the next package. Signals go test sends (SIGQUIT at its timeout) are passed on.
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	lock := flag.String("lock", "", "file to hold an exclusive lock on while the test binary runs (required)")
	nice := flag.Int("nice", 0, "niceness to run the test binary at (-20..19; make's own)")
	logPath := flag.String("log", "", "append a line per test binary: directory, wall and CPU seconds (docs/ci.md)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: testexec -lock FILE [-nice N] TEST-BINARY [ARGS...]  (go test -exec)")
		flag.PrintDefaults()
	}
	flag.Parse()
	if *lock == "" || flag.NArg() == 0 {
		flag.Usage()
		os.Exit(2)
	}
	if *nice < -20 || *nice > 19 {
		fmt.Fprintf(os.Stderr, "testexec: -nice %d: want -20..19\n", *nice)
		os.Exit(2)
	}
	code, wall, cpu := run(*lock, *nice, flag.Args())
	if *logPath != "" {
		logRun(*logPath, wall, cpu)
	}
	os.Exit(code)
}

// logRun records how long the binary ran and the CPU its process tree used: the idle
// CPU while one test binary runs is what other work can overlap with (docs/ci.md).
func logRun(path string, wall, cpu time.Duration) {
	dir, _ := os.Getwd()
	f, err := os.OpenFile(path, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testexec: -log:", err)
		return
	}
	defer f.Close()
	fmt.Fprintf(f, "%s\t%.2f\t%.2f\n", dir, wall.Seconds(), cpu.Seconds())
}

// run holds the lock, runs the binary and returns its exit code (a binary killed by a
// signal: 128+signal, a failed test for go test), how long it ran (the wait for the lock
// left out, unlike the time on go test's "ok" line) and the CPU time of its process tree.
func run(lockPath string, nice int, argv []string) (code int, wall, cpu time.Duration) {
	unlock, err := acquire(lockPath)
	if err != nil {
		fmt.Fprintln(os.Stderr, "testexec:", err)
		return 1, 0, 0
	}
	defer unlock()
	start := time.Now()
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	setNice(cmd, nice)
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGQUIT)
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(os.Stderr, "testexec: %s: %v\n", strings.Join(argv, " "), err)
		return 1, 0, 0
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	for {
		select {
		case s := <-sigs:
			_ = cmd.Process.Signal(s)
		case err := <-done:
			wall = time.Since(start)
			if cmd.ProcessState == nil {
				return exitCode(err), wall, 0
			}
			return exitCode(err), wall, cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
		}
	}
}

func exitCode(err error) int {
	var ee *exec.ExitError
	if err == nil {
		return 0
	}
	if !errors.As(err, &ee) {
		fmt.Fprintln(os.Stderr, "testexec:", err)
		return 1
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ee.ExitCode()
}
