package history

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"
)

var t0 = time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)

func entry(i int) Entry {
	return Entry{ID: fmt.Sprintf("chaos-%08d", i), Kind: KindFault, Command: "kubectl chaos network delay deploy/web --latency=100ms",
		StartedAt: t0.Add(time.Duration(i) * time.Minute), EndedAt: t0.Add(time.Duration(i)*time.Minute + 30*time.Second),
		Targets: []string{"default/web-1/app"}, Result: "completed"}
}

func TestAppendRead(t *testing.T) {
	s := Store{Dir: filepath.Join(t.TempDir(), "state")}
	if got, bad, err := s.Read(0); err != nil || len(got) != 0 || bad != 0 {
		t.Fatalf("empty: %v %d %v", got, bad, err)
	}
	for i := 1; i <= 5; i++ {
		if err := s.Append(entry(i)); err != nil {
			t.Fatal(err)
		}
	}
	st, err := os.Stat(s.Path())
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("history file %v %v: want mode 0600", st, err)
	}
	// A line cut short by a crash is skipped and counted.
	f, _ := os.OpenFile(s.Path(), os.O_APPEND|os.O_WRONLY, 0)
	_, _ = f.WriteString(`{"id":"chaos-cut","kind":"fa` + "\n")
	f.Close()
	got, bad, err := s.Read(3)
	if err != nil || bad != 1 || len(got) != 3 || got[0].ID != "chaos-00000003" || got[2].ID != "chaos-00000005" {
		t.Fatalf("last 3: %+v bad %d %v", got, bad, err)
	}
	if got[2].Duration() != 30*time.Second {
		t.Errorf("duration %s", got[2].Duration())
	}
	if all, _, _ := s.Read(0); len(all) != 5 {
		t.Errorf("all: %d", len(all))
	}
	if err := (Store{}).Append(entry(1)); err != nil {
		t.Errorf("the zero store records nothing, without error: %v", err)
	}
}

// The file is rotated before it passes the limit: one previous file is kept, so the
// history stays under about twice the limit however many runs are recorded.
func TestRotate(t *testing.T) {
	s := Store{Dir: t.TempDir(), MaxBytes: 2000}
	for i := 1; i <= 200; i++ {
		if err := s.Append(entry(i)); err != nil {
			t.Fatal(err)
		}
		cur, _ := os.Stat(s.Path())
		if cur.Size() > s.MaxBytes {
			t.Fatalf("after %d runs the file is %d bytes, over %d", i, cur.Size(), s.MaxBytes)
		}
	}
	old, err := os.Stat(s.Path() + ".1")
	if err != nil || old.Size() > s.MaxBytes {
		t.Fatalf("rotated file %v %v", old, err)
	}
	got, _, _ := s.Read(0)
	if len(got) == 0 || got[len(got)-1].ID != "chaos-00000200" || len(got) > 2*int(s.MaxBytes)/150 {
		t.Errorf("%d entries kept, last %s", len(got), got[len(got)-1].ID)
	}
	for i := 1; i < len(got); i++ {
		if got[i].StartedAt.Before(got[i-1].StartedAt) {
			t.Fatalf("not oldest first at %d", i)
		}
	}
}

func TestStateDir(t *testing.T) {
	t.Setenv(EnvStateDir, "/x/state")
	if d, _ := StateDir(); d != "/x/state" {
		t.Errorf("%s: %s", EnvStateDir, d)
	}
	t.Setenv(EnvStateDir, "")
	t.Setenv("XDG_STATE_HOME", "/xdg")
	if d, _ := StateDir(); d != filepath.Join("/xdg", "kubectl-chaos") {
		t.Errorf("XDG_STATE_HOME: %s", d)
	}
	t.Setenv("XDG_STATE_HOME", "")
	t.Setenv("HOME", "/home/u")
	if d, _ := StateDir(); d != filepath.Join("/home/u", ".local", "state", "kubectl-chaos") {
		t.Errorf("HOME: %s", d)
	}
}

func TestLock(t *testing.T) {
	dir := t.TempDir()
	release, err := Lock(dir, "/scenarios/a.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Lock(dir, "/scenarios/a.yaml"); !errors.Is(err, ErrLocked) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Errorf("second lock: %v, want ErrLocked naming pid %d", err, os.Getpid())
	}
	other, err := Lock(dir, "/scenarios/b.yaml")
	if err != nil {
		t.Errorf("another scenario: %v", err)
	} else {
		other()
	}
	release()
	again, err := Lock(dir, "/scenarios/a.yaml")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}

func TestCommandLine(t *testing.T) {
	root := &cobra.Command{Use: "kubectl-chaos", Annotations: map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl chaos"}}
	var lat time.Duration
	var peers []string
	var dry bool
	cmd := &cobra.Command{Use: "delay", Run: func(*cobra.Command, []string) {}}
	cmd.Flags().DurationVar(&lat, "latency", 0, "")
	cmd.Flags().StringArrayVar(&peers, "to", nil, "")
	cmd.Flags().BoolVar(&dry, "yes", false, "")
	cmd.Flags().String("unused", "x", "")
	root.AddCommand(cmd)
	root.SetArgs([]string{"delay", "deploy/web", "--latency", "100ms", "--to", "svc/db", "--to", "a b", "--yes"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	got := CommandLine(cmd, []string{"deploy/web"})
	if want := `kubectl chaos delay deploy/web --latency=100ms --to=svc/db --to="a b" --yes`; got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}
