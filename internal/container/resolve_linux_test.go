package container

import (
	"context"
	"net"
	"os"
	"path/filepath"
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
	if ft.ResolvedBy != "/proc scan" {
		t.Fatalf("resolved by %q, want the /proc scan (no containerd here)", ft.ResolvedBy)
	}
	t.Logf("resolved pid %d netns inode %d cgroup %s via /proc scan in %s", ft.PID, ft.NetnsInode, ft.CgroupPath, el)
}

// TestResolveFallsBackFromDeadSocket: a socket that accepts but never speaks gRPC
// (a wedged containerd) costs at most the timeout before the /proc scan answers.
func TestResolveFallsBackFromDeadSocket(t *testing.T) {
	c := nstest.NewContainer(t)
	sock := filepath.Join(t.TempDir(), "containerd.sock")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			conn, err := l.Accept()
			if err != nil {
				return
			}
			defer conn.Close() // hold it open, say nothing
		}
	}()
	r := New(Options{Endpoint: sock, ProcRoot: "/proc", Timeout: 300 * time.Millisecond})
	start := time.Now()
	ft, err := r.Resolve(context.Background(), plan.Target{Namespace: "default", Pod: "p", Container: "c", ContainerID: c.ContainerID()})
	el := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if ft.PID != c.PID || ft.NetnsInode != c.Inode {
		t.Fatalf("resolved pid %d inode %d, want %d %d", ft.PID, ft.NetnsInode, c.PID, c.Inode)
	}
	if el > 2*time.Second {
		t.Fatalf("fallback took %s with a 300ms containerd timeout", el)
	}
	t.Logf("wedged containerd socket → /proc scan answered in %s", el)
}

func TestHexID(t *testing.T) {
	for id, want := range map[string]bool{
		"0123456789ab":                 true,
		"0123456789a":                  false, // 11
		strings.Repeat("f", 128):       true,
		strings.Repeat("f", 129):       false,
		"0123456789aB":                 false, // upper case
		"0123456789ag":                 false,
		"":                             false,
		"0123456789ab/../../etc":       false,
		strings.Repeat("0", 64) + "\n": false,
	} {
		if got := hexID(id); got != want {
			t.Errorf("hexID(%q) = %v, want %v", id, got, want)
		}
	}
}
