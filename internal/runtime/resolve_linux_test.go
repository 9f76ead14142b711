package runtime

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestScanPIDFakeProc(t *testing.T) {
	id := strings.Repeat("ab", 32)
	root := t.TempDir()
	for pid, cg := range map[string]string{
		"1":    "0::/init.scope\n",
		"77":   "12:pids:/kubepods/besteffort/podx/" + id + "\n0::/\n",
		"501":  "0::/system.slice/cri-containerd-" + id + ".scope\n",
		"9":    "0::/kubepods/crio-" + strings.Repeat("cd", 32) + ".scope\n",
		"self": "0::/" + id + "\n",
	} {
		os.MkdirAll(filepath.Join(root, pid), 0o755)
		os.WriteFile(filepath.Join(root, pid, "cgroup"), []byte(cg), 0o644)
	}
	pid, err := ScanPID(root, id)
	if err != nil || pid != 77 {
		t.Fatalf("ScanPID = %d, %v; want the lowest matching pid 77", pid, err)
	}
	if _, err := ScanPID(root, strings.Repeat("ef", 32)); err == nil {
		t.Fatal("found a container that does not exist")
	}
}

func TestResolveRejectsBadID(t *testing.T) {
	r := New(Options{Endpoint: "-", ProcRoot: t.TempDir()})
	for _, id := range []string{"", "containerd://", "containerd://XYZ", "docker://abc"} {
		if _, err := r.Resolve(context.Background(), plan.Target{ContainerID: id}); err == nil {
			t.Errorf("Resolve(%q) succeeded", id)
		}
	}
}

// TestResolveRealProcess resolves a real process in its own netns and cgroup through
// the /proc scan (no containerd socket), the way CRI-O nodes are handled.
func TestResolveRealProcess(t *testing.T) {
	c := nstest.NewContainer(t)
	r := New(Options{Endpoint: filepath.Join(t.TempDir(), "no-such.sock"), ProcRoot: "/proc"})
	start := time.Now()
	ft, err := r.Resolve(context.Background(), plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()})
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if ft.PID != c.PID {
		t.Fatalf("pid %d, want %d", ft.PID, c.PID)
	}
	if ft.NetnsInode != c.Inode {
		t.Fatalf("netns inode %d, want %d", ft.NetnsInode, c.Inode)
	}
	host, _ := Inode("/proc/self/ns/net")
	if ft.NetnsInode == host {
		t.Fatal("resolved to the host's netns")
	}
	if ft.CgroupPath != c.CgroupDir {
		t.Fatalf("cgroup %q, want %q", ft.CgroupPath, c.CgroupDir)
	}
	t.Logf("resolved pid %d netns inode %d cgroup %s via /proc scan in %s", ft.PID, ft.NetnsInode, ft.CgroupPath, el)
}

// writeInitPID lays out containerd's task state for id under state, the way the runc
// shim does: <state>/io.containerd.runtime.v2.task/k8s.io/<id>/init.pid.
func writeInitPID(t *testing.T, state, id, content string) {
	t.Helper()
	dir := filepath.Join(state, "io.containerd.runtime.v2.task", DefaultNamespace, id)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "init.pid"), []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestStatePID reads the shim's init.pid and trusts it only when /proc agrees.
func TestStatePID(t *testing.T) {
	c := nstest.NewContainer(t)
	id := c.ID
	for _, tc := range []struct {
		name    string
		content string // "" = no file
		wantPID int    // 0 = want an error
	}{
		{"real pid", strconv.Itoa(c.PID) + "\n", c.PID},
		{"pid of another process", "1", 0},
		{"not a number", "x", 0},
		{"no state", "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			state := t.TempDir()
			if tc.content != "" {
				writeInitPID(t, state, id, tc.content)
			}
			pid, err := StatePID(state, DefaultNamespace, id, "/proc")
			if tc.wantPID == 0 {
				if err == nil {
					t.Fatalf("StatePID = %d, want an error", pid)
				}
				return
			}
			if err != nil || pid != tc.wantPID {
				t.Fatalf("StatePID = %d, %v; want %d", pid, err, tc.wantPID)
			}
		})
	}
}

// TestResolveFromContainerdState: both state layouts next to the socket are found, and
// a stale init.pid (a PID that is not the container's) falls back to the /proc scan.
func TestResolveFromContainerdState(t *testing.T) {
	c := nstest.NewContainer(t)
	tg := plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()}
	for _, tc := range []struct {
		name, sub, pid string
	}{
		{"state is the socket dir", "", strconv.Itoa(c.PID)},
		{"state is <socket dir>/containerd", "containerd", strconv.Itoa(c.PID)},
		{"stale pid falls back to the scan", "", "1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			run := t.TempDir()
			writeInitPID(t, filepath.Join(run, tc.sub), c.ID, tc.pid)
			r := New(Options{Endpoint: filepath.Join(run, "containerd.sock"), ProcRoot: "/proc"})
			pid, cerr := r.containerdPID(c.ID)
			if (cerr == nil) != (tc.pid != "1") {
				t.Fatalf("containerd state lookup = %d, %v", pid, cerr)
			}
			ft, err := r.Resolve(context.Background(), tg)
			if err != nil {
				t.Fatal(err)
			}
			if ft.PID != c.PID || ft.NetnsInode != c.Inode {
				t.Fatalf("resolved pid %d inode %d, want %d %d", ft.PID, ft.NetnsInode, c.PID, c.Inode)
			}
		})
	}
}
