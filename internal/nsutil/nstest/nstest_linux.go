package nstest

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
)

// Container is a fake pod container: its own netns (named, under /run/netns) holding
// the veth pair Veth[0]/Veth[1] and a `sleep` process placed in a cgroup whose
// directory is named by ID.
type Container struct {
	ID        string // 64 hex digits
	PodUID    string
	NetnsName string
	NetnsPath string // /proc/<pid>/ns/net
	Inode     uint64
	PID       int
	Veth      [2]string
	CgroupDir string
}

// RequireRoot skips the test unless it runs as root.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (network namespaces, cgroups)")
	}
}

// RandomHex returns n random bytes as hex.
func RandomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// CgroupRoot picks where test cgroups go: the cgroup2 hierarchy (hybrid
// /sys/fs/cgroup/unified or pure v2 /sys/fs/cgroup), else the v1 pids controller.
func CgroupRoot() (string, error) {
	for _, p := range []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"} {
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP2_SUPER_MAGIC {
			return p, nil
		}
	}
	for _, c := range []string{"pids", "cpu", "memory"} {
		p := "/sys/fs/cgroup/" + c
		var st unix.Statfs_t
		if unix.Statfs(p, &st) == nil && st.Type == unix.CGROUP_SUPER_MAGIC {
			return p, nil
		}
	}
	return "", errors.New("no writable cgroup hierarchy found under /sys/fs/cgroup")
}

// NewContainer builds a Container and registers its removal with t.Cleanup.
func NewContainer(t testing.TB) *Container {
	t.Helper()
	RequireRoot(t)
	c := &Container{ID: RandomHex(32), PodUID: uuid()}
	short := c.ID[:8]
	c.NetnsName = "kc-test-" + short
	c.Veth = [2]string{"kct0" + short[:4], "kct1" + short[:4]}

	ns, err := newNamed(c.NetnsName)
	if err != nil {
		t.Fatalf("creating netns %s: %v", c.NetnsName, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(c.NetnsName); err != nil {
			t.Errorf("deleting netns %s: %v", c.NetnsName, err)
		}
	})
	if err := setupLinks(ns, c.Veth); err != nil {
		ns.Close()
		t.Fatalf("setting up links in %s: %v", c.NetnsName, err)
	}
	ns.Close()

	root, err := CgroupRoot()
	if err != nil {
		t.Fatal(err)
	}
	podDir := filepath.Join(root, "kc-test-pod"+c.PodUID)
	c.CgroupDir = filepath.Join(podDir, c.ID)
	if err := os.MkdirAll(c.CgroupDir, 0o755); err != nil {
		t.Fatalf("creating cgroup %s: %v", c.CgroupDir, err)
	}
	t.Cleanup(func() {
		for _, d := range []string{c.CgroupDir, podDir} {
			if err := RmdirRetry(d); err != nil {
				t.Errorf("removing cgroup %s: %v", d, err)
			}
		}
	})

	cmd := exec.Command("sleep", "3600")
	err = nsutil.Do("/run/netns/"+c.NetnsName, func() error { return cmd.Start() })
	if err != nil {
		t.Fatalf("starting sleep in %s: %v", c.NetnsName, err)
	}
	c.PID = cmd.Process.Pid
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	if err := os.WriteFile(filepath.Join(c.CgroupDir, "cgroup.procs"), []byte(strconv.Itoa(c.PID)), 0o644); err != nil {
		t.Fatalf("moving pid %d into %s: %v", c.PID, c.CgroupDir, err)
	}
	c.NetnsPath = fmt.Sprintf("/proc/%d/ns/net", c.PID)
	if c.Inode, err = nsutil.Inode(c.NetnsPath); err != nil {
		t.Fatal(err)
	}
	if named, _ := nsutil.Inode("/run/netns/" + c.NetnsName); named != c.Inode {
		t.Fatalf("sleep runs in netns inode %d, want %d", c.Inode, named)
	}
	return c
}

// ContainerID returns the ID as a pod status has it.
func (c *Container) ContainerID() string { return "containerd://" + c.ID }

// Handle returns a netlink handle bound to the container's netns (NETLINK_ROUTE only).
func (c *Container) Handle() (*netlink.Handle, error) {
	ns, err := netns.GetFromName(c.NetnsName)
	if err != nil {
		return nil, err
	}
	defer ns.Close()
	return netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
}

// NewNamed creates the network namespace /run/netns/NAME (a bind mount of its own, as
// `ip netns add` makes, but without turning /run/netns itself into a mount point, which
// `ip netns add` does and nothing undoes) without leaving the calling thread in it. The
// caller removes it with netns.DeleteNamed and closes the handle.
func NewNamed(name string) (netns.NsHandle, error) { return newNamed(name) }

// newNamed creates a named netns without leaving the calling thread in it.
func newNamed(name string) (netns.NsHandle, error) {
	errc := make(chan error, 1)
	var h netns.NsHandle
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return
		}
		defer orig.Close()
		h, err = netns.NewNamed(name) // switches this thread into it
		if serr := netns.Set(orig); serr != nil {
			errc <- errors.Join(err, serr)
			return // thread stays locked and dies with the goroutine
		}
		runtime.UnlockOSThread()
		errc <- err
	}()
	return h, <-errc
}

func setupLinks(ns netns.NsHandle, veth [2]string) error {
	h, err := netlink.NewHandleAt(ns, unix.NETLINK_ROUTE)
	if err != nil {
		return err
	}
	defer h.Close()
	la := netlink.NewLinkAttrs()
	la.Name = veth[0]
	if err := h.LinkAdd(&netlink.Veth{LinkAttrs: la, PeerName: veth[1]}); err != nil {
		return fmt.Errorf("adding veth %s: %w", veth[0], err)
	}
	for i, name := range append([]string{"lo"}, veth[:]...) {
		l, err := h.LinkByName(name)
		if err != nil {
			return err
		}
		if err := h.LinkSetUp(l); err != nil {
			return err
		}
		if i > 0 {
			addr, _ := netlink.ParseAddr(fmt.Sprintf("10.213.%d.1/24", i))
			if err := h.AddrAdd(l, addr); err != nil {
				return err
			}
		}
	}
	return nil
}

// RmdirRetry removes directory d (a cgroup), retrying for a second while its last
// processes are still leaving it; a directory already gone is success.
func RmdirRetry(d string) error {
	var err error
	for range 50 {
		err = syscall.Rmdir(d)
		if err == nil || errors.Is(err, syscall.ENOENT) {
			return nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return err
}

func uuid() string {
	h := RandomHex(16)
	return strings.Join([]string{h[:8], h[8:12], h[12:16], h[16:20], h[20:]}, "-")
}
