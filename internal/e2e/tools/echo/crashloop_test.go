package main

import (
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestCrashLoopHelper is the child process of TestCrashLoop: crash-loop mode, then a
// "server" that runs for crashChildLife and exits 0.
func TestCrashLoopHelper(t *testing.T) {
	if os.Getenv("ECHO_CRASHLOOP_CHILD") != "1" {
		t.Skip("child of TestCrashLoop")
	}
	crashLoop()
	time.Sleep(crashChildLife)
	os.Exit(0)
}

const crashChildLife = 1500 * time.Millisecond

// child starts the helper with the crash file and returns it running.
func child(t *testing.T, file string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(os.Args[0], "-test.run=^TestCrashLoopHelper$")
	cmd.Env = append(os.Environ(), "ECHO_CRASHLOOP_CHILD=1", crashLoopEnv+"="+file)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	return cmd
}

// exit waits for cmd and returns its exit status and how long it ran.
func exit(t *testing.T, cmd *exec.Cmd, start time.Time) (int, time.Duration) {
	t.Helper()
	err := cmd.Wait()
	took := time.Since(start)
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0, took
	case errors.As(err, &ee):
		return ee.ExitCode(), took
	}
	t.Fatal(err)
	return -1, took
}

func readCount(t *testing.T, file string) string {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

// TestCrashLoop: a count of 2 makes two starts exit 1 (a crash), the third runs its life
// and exits 0; a count written under a running process makes it exit 1 instead of 0.
func TestCrashLoop(t *testing.T) {
	file := filepath.Join(t.TempDir(), "crashes")
	if err := os.WriteFile(file, []byte("2\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for i, want := range []string{"1", "0"} {
		start := time.Now()
		code, took := exit(t, child(t, file), start)
		if code != 1 {
			t.Fatalf("start %d with crashes due: exit %d after %v, want 1 (a crash)", i+1, code, took)
		}
		if got := readCount(t, file); got != want {
			t.Fatalf("after crash %d the file holds %q, want %q", i+1, got, want)
		}
	}
	start := time.Now()
	cmd := child(t, file)
	time.Sleep(crashChildLife / 3)
	if err := os.WriteFile(file, []byte("1"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, took := exit(t, cmd, start)
	if code != 1 {
		t.Fatalf("count written under a running process: exit %d after %v, want 1 (a crash)", code, took)
	}
	start = time.Now()
	if code, took := exit(t, child(t, file), start); code != 0 || took < crashChildLife {
		t.Fatalf("no crash due: exit %d after %v, want 0 after its life of %v", code, took, crashChildLife)
	}
}
