package main

import (
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"
)

// Crash-loop mode (the kill matrix's crashloop-target cut, issue 16). $ECHO_CRASHLOOP
// names a file on an emptyDir (it outlives the container, not the pod) holding a count
// N of crashes still to come. While N > 0 the process writes N-1 and exits 1: at once
// when the file changes under a running server (the first crash), and crashStartDelay
// after the start of each restarted container (the next ones), so the kubelet restarts
// it N times, backing off (10 s, 20 s, …) from the second restart on, and then the
// container runs normally again. No file, or 0: nothing happens.
const (
	crashLoopEnv    = "ECHO_CRASHLOOP"
	crashStartDelay = 200 * time.Millisecond
	crashPoll       = 100 * time.Millisecond
)

// crashLoop crashes now (after crashStartDelay) when a crash is due, and otherwise
// watches the file in the background for one.
func crashLoop() {
	path := os.Getenv(crashLoopEnv)
	if path == "" {
		return
	}
	crashIfDue(path, crashStartDelay)
	go func() {
		for {
			time.Sleep(crashPoll)
			crashIfDue(path, 0)
		}
	}()
}

// crashIfDue exits 1 after delay when the file at path holds a count above zero, which
// it decrements first.
func crashIfDue(path string, delay time.Duration) {
	b, err := os.ReadFile(path)
	if err != nil {
		return
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || n <= 0 {
		return
	}
	if err := os.WriteFile(path, []byte(strconv.Itoa(n-1)), 0o644); err != nil {
		fmt.Fprintf(os.Stderr, "echo: crash-loop: %v (not crashing)\n", err)
		return
	}
	fmt.Fprintf(os.Stderr, "echo: crash-loop: exiting with status 1 in %v, %d more crash(es) to come\n", delay, n-1)
	time.Sleep(delay)
	os.Exit(1)
}
