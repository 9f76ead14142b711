package hostmount

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
)

const childEnv = "HOSTMOUNT_TEST_DIR"

// TestApply runs Apply for real in a child process with its own mount namespace (the
// agent's container), against a "node": a thread of the child in another mount
// namespace, chrooted into a fake node root — so the sources are in another namespace,
// as on a node. It checks what a helper relies on: files written through the mount are the node's, read-only holds,
// DirectoryOrCreate creates on the node, a node symlink is followed inside the node's
// root, recursive binds carry the mounts below, type checks refuse with the path named
// — and that nothing of it is mounted in this (the parent's) namespace afterwards.
func TestApply(t *testing.T) {
	if dir := os.Getenv(childEnv); dir != "" {
		applyChild(t, dir)
		return
	}
	if os.Geteuid() != 0 {
		t.Skip("needs root (mount namespaces, bind mounts, mknod)")
	}
	dir := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestApply$", "-test.v")
	cmd.Env = append(os.Environ(), childEnv+"="+dir)
	cmd.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	out, err := cmd.CombinedOutput()
	t.Logf("child:\n%s", out)
	if err != nil || !strings.Contains(string(out), "--- PASS: TestApply") {
		t.Fatalf("child: %v", err)
	}
	mi, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(mi), dir) {
		t.Errorf("mounts of the child under %s are visible in the parent's namespace:\n%s", dir, mi)
	}
	// What the child created on the "node" stays (as kubelet's DirectoryOrCreate did).
	if b, err := os.ReadFile(filepath.Join(dir, "host/real-run/kubectl-chaos/journal/j")); err != nil || string(b) != "journal" {
		t.Errorf("journal written through the mount: %q, %v", b, err)
	}
}

func applyChild(t *testing.T, dir string) {
	host, ctr := filepath.Join(dir, "host"), filepath.Join(dir, "ctr")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	write := func(p, s string) { must(os.WriteFile(p, []byte(s), 0o644)) }
	// A shared mount above both, as a node's / often is: a new bind below it would be
	// shared with the node unless Apply makes it private.
	must(unix.Mount(dir, dir, "", unix.MS_BIND, ""))
	must(unix.Mount("", dir, "", unix.MS_SHARED, ""))
	for _, d := range []string{"real-run", "data", "cg", "dev"} {
		must(os.MkdirAll(filepath.Join(host, d), 0o755))
	}
	must(os.Symlink("/real-run", filepath.Join(host, "run"))) // absolute: inside the node's root
	write(filepath.Join(host, "data/f"), "data")
	must(unix.Mount("tmpfs", filepath.Join(host, "cg"), "tmpfs", 0, ""))
	must(os.Mkdir(filepath.Join(host, "cg/sub"), 0o755))
	must(unix.Mount("tmpfs", filepath.Join(host, "cg/sub"), "tmpfs", 0, ""))
	write(filepath.Join(host, "cg/sub/marker"), "sub")
	must(unix.Mknod(filepath.Join(host, "dev/null1"), unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))))
	write(filepath.Join(host, "dev/notdev"), "")

	ms := []Mount{
		{Name: "journal", HostPath: "/run/kubectl-chaos/journal", Path: ctr + "/journal", Type: DirectoryOrCreate},
		{Name: "data", HostPath: "/data", Path: ctr + "/data", Type: Directory, ReadOnly: true},
		{Name: "cg", HostPath: "/cg", Path: ctr + "/cg", Type: Directory, Recursive: true},
		{Name: "cg-flat", HostPath: "/cg", Path: ctr + "/cg-flat", Type: Directory},
		{Name: "dev", HostPath: "/dev/null1", Path: ctr + "/dev/fuse", Type: CharDevice},
	}
	node := nodeThread(t, host)
	must(Apply(node, ms))
	write(ctr+"/journal/j", "journal")
	if b, err := os.ReadFile(filepath.Join(host, "real-run/kubectl-chaos/journal/j")); err != nil || string(b) != "journal" {
		t.Errorf("journal: the node's directory (through its /run symlink) has %q, %v", b, err)
	}
	if b, err := os.ReadFile(ctr + "/data/f"); err != nil || string(b) != "data" {
		t.Errorf("read-only mount: read %q, %v", b, err)
	}
	if err := os.WriteFile(ctr+"/data/g", nil, 0o644); !errors.Is(err, unix.EROFS) {
		t.Errorf("write into the read-only mount: %v, want EROFS", err)
	}
	if b, err := os.ReadFile(ctr + "/cg/sub/marker"); err != nil || string(b) != "sub" {
		t.Errorf("recursive bind: the mount below is %q, %v", b, err)
	}
	if _, err := os.Stat(ctr + "/cg-flat/sub/marker"); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("non-recursive bind shows the mount below: %v", err)
	}
	var st unix.Stat_t
	must(unix.Stat(ctr+"/dev/fuse", &st))
	if st.Mode&unix.S_IFMT != unix.S_IFCHR || unix.Major(st.Rdev) != 1 || unix.Minor(st.Rdev) != 3 {
		t.Errorf("char device mount: mode %o rdev %d:%d", st.Mode, unix.Major(st.Rdev), unix.Minor(st.Rdev))
	}
	mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
	for _, l := range strings.Split(string(mi), "\n") {
		if strings.Contains(l, " "+ctr+"/") && strings.Contains(l, "shared:") {
			t.Errorf("a bind is shared with the node (propagation must be private): %s", l)
		}
	}

	// Refusals name the node path, and leave nothing mounted of the failed call.
	for _, c := range []struct {
		m    Mount
		want string
	}{
		{Mount{Name: "fuse", HostPath: "/dev/notdev", Path: ctr + "/x1", Type: CharDevice}, "host path /dev/notdev (fuse, CharDevice) on the node: not a character device"},
		{Mount{Name: "gone", HostPath: "/missing", Path: ctr + "/x2", Type: Directory}, "host path /missing (gone, Directory) on the node: does not exist"},
		{Mount{Name: "file", HostPath: "/data/f", Path: ctr + "/x3", Type: Directory}, "host path /data/f (file, Directory) on the node: not a directory"},
	} {
		ok := Mount{Name: "ok", HostPath: "/data", Path: ctr + "/ok-" + c.m.Name, Type: Directory}
		err := Apply(node, []Mount{ok, c.m})
		if err == nil || err.Error() != c.want {
			t.Errorf("Apply(%s) = %v, want %q", c.m.Name, err, c.want)
		}
		mi, _ := os.ReadFile("/proc/thread-self/mountinfo")
		if strings.Contains(string(mi), ok.Path) {
			t.Errorf("after the refusal of %s, %s is still mounted", c.m.Name, ok.Path)
		}
	}
}

// nodeThread starts a thread in a mount namespace of its own (a copy of the test's),
// with root as its root, and returns its thread ID: /proc/TID/ns/mnt and /proc/TID/root
// are what Apply takes from the node's process. The thread lives until the test ends.
func nodeThread(t *testing.T, root string) int {
	tid := make(chan int)
	done := make(chan struct{})
	t.Cleanup(func() { close(done) })
	nsutil.OffMainThread(func() {
		if err := unix.Unshare(unix.CLONE_FS | unix.CLONE_NEWNS); err != nil {
			t.Error(err)
			tid <- 0
			return
		}
		if err := unix.Chroot(root); err != nil {
			t.Error(err)
			tid <- 0
			return
		}
		tid <- unix.Gettid()
		<-done
	})
	id := <-tid
	if id == 0 {
		t.FailNow()
	}
	var own, its unix.Stat_t
	if err := unix.Stat("/proc/thread-self/ns/mnt", &own); err != nil {
		t.Fatal(err)
	}
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", id), &its); err != nil {
		t.Fatal(err)
	}
	if own.Ino == its.Ino {
		t.Fatalf("the node thread %d is in the test's mount namespace (%d, %d)", id, own.Ino, its.Ino)
	}
	return id
}

func TestNodeProcess(t *testing.T) {
	proc := t.TempDir()
	node := t.TempDir()
	link := func(pid, target string) {
		t.Helper()
		if err := os.MkdirAll(filepath.Join(proc, pid), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.Symlink(target, filepath.Join(proc, pid, "root")); err != nil {
			t.Fatal(err)
		}
	}
	link("1", node)  // the node's PID 1
	link("40", "/")  // a parent in the agent's own root
	link("41", node) // the runtime's shim
	link("42", "/nonexistent")
	for _, c := range []struct{ ppid, want int }{
		{41, 41}, // the parent first
		{40, 1},  // own root: skipped
		{42, 1},  // unreachable: skipped
		{0, 1},
	} {
		if got, err := nodeProcess(proc, c.ppid); err != nil || got != c.want {
			t.Errorf("nodeProcess(ppid %d) = %d, %v; want %d", c.ppid, got, err, c.want)
		}
	}
	if err := os.Remove(filepath.Join(proc, "1", "root")); err != nil {
		t.Fatal(err)
	}
	_, err := nodeProcess(proc, 40)
	if err == nil || !strings.Contains(err.Error(), "cannot reach the node's root directory") || !strings.Contains(err.Error(), "/40/root: the agent's own root") {
		t.Errorf("no candidate: %v", err)
	}
}
