package iofault

import (
	"errors"
	"fmt"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"log"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"
)

// procRoot is where the agent sees the node's processes (the helper runs with hostPID,
// so its own /proc is the node's).
var procRoot = "/proc"

// maxWrite is the largest read or write request (and max_read) of the mount.
const maxWrite = 128 << 10

// container is the target's mount namespace as the agent holds it.
type container struct {
	pid   int
	start uint64 // the process's start time, to tell a reused PID
	mntns uint64
	proc  int // O_PATH descriptor of procRoot, for fd-relative reads on the ns thread
	th    *nsutil.MountNSThread
}

// openContainer enters the mount namespace of pid (a process of the target container).
func openContainer(pid int) (*container, error) {
	start, err := procStart(pid)
	if err != nil {
		return nil, err
	}
	nsPath := filepath.Join(procRoot, strconv.Itoa(pid), "ns", "mnt")
	ino, err := inodeOf(nsPath)
	if err != nil {
		return nil, err
	}
	host, err := nsutil.HostInode(procRoot, "mnt")
	if err != nil {
		return nil, fmt.Errorf("refusing to mount for pid %d: %w", pid, err)
	}
	if host == ino {
		return nil, fmt.Errorf("pid %d is in the node's own mount namespace (mnt:[%d]): refusing to mount over the node's file system", pid, ino)
	}
	c := &container{pid: pid, start: start, mntns: ino, proc: -1}
	nsFD, err := unix.Open(nsPath, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the mount namespace of pid %d: %w", pid, err)
	}
	defer unix.Close(nsFD)
	rootPath := filepath.Join(procRoot, strconv.Itoa(pid), "root")
	rootFD, err := unix.Open(rootPath, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening the root of pid %d: %w", pid, err)
	}
	defer unix.Close(rootFD)
	if c.proc, err = unix.Open(procRoot, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err != nil {
		return nil, fmt.Errorf("opening %s: %w", procRoot, err)
	}
	if c.th, err = nsutil.EnterMountNS(nsFD, rootFD, "the container's"); err != nil {
		unix.Close(c.proc)
		return nil, err
	}
	return c, nil
}

func (c *container) close() {
	if c.th != nil {
		c.th.Close()
		c.th = nil
	}
	if c.proc >= 0 {
		unix.Close(c.proc)
		c.proc = -1
	}
}

// mounts reads the container's mount table as the container sees it: through our own
// thread, which is in its mount namespace with its root, and which keeps the namespace
// (and our mount) alive even when every process of the container has exited.
func (c *container) mounts() ([]mountInfo, error) {
	p := filepath.Join(procRoot, strconv.Itoa(os.Getpid()), "task", strconv.Itoa(c.th.TID()), "mountinfo")
	b, err := os.ReadFile(p)
	if err != nil {
		return nil, fmt.Errorf("reading the container's mount table (%s): %w", p, err)
	}
	return parseMountinfo(b)
}

// prepare checks, before anything is changed, that p is a directory in the container
// that a mount can cover without propagating anywhere else, and opens it (O_PATH) so
// the file system can reach the original directory once it is covered. It returns the
// path with symlinks resolved (what the mount table will show).
func (c *container) prepare(p string) (string, int, error) {
	real, dirFD := p, -1
	err := c.th.Do(func() error {
		var err error
		if real, err = filepath.EvalSymlinks(p); err != nil {
			if errors.Is(err, os.ErrNotExist) {
				return fmt.Errorf("--path %s does not exist in the container", p)
			}
			return fmt.Errorf("--path %s: %w", p, err)
		}
		var st unix.Stat_t
		if err := unix.Stat(real, &st); err != nil {
			return fmt.Errorf("--path %s: %w", p, err)
		}
		if st.Mode&unix.S_IFMT != unix.S_IFDIR {
			return fmt.Errorf("--path %s is not a directory in the container (it is a %s)", p, fileType(st.Mode))
		}
		dirFD, err = unix.Open(real, unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		return err
	})
	if err != nil {
		return "", -1, err
	}
	ms, err := c.mounts()
	if err == nil {
		err = checkMount(ms, p, real)
	}
	if err != nil {
		unix.Close(dirFD)
		return "", -1, err
	}
	return real, dirFD, nil
}

// checkMount refuses a path whose mount would propagate (a shared parent mount sends
// our mount to its peers: the node or other pods) or that one of ours already covers.
func checkMount(ms []mountInfo, asked, real string) error {
	m := mountOf(ms, real)
	if m == nil {
		return fmt.Errorf("--path %s: no mount holds it in the container's mount table", asked)
	}
	name := real
	if real != asked {
		name = fmt.Sprintf("%s (%s)", asked, real)
	}
	if m.FSType == FSType {
		return fmt.Errorf("--path %s is already covered by a kubectl-chaos io fault (source %s): stop that experiment first", name, m.Source)
	}
	if g := m.shared(); g != "" {
		return fmt.Errorf("--path %s is on mount %s (%s, id %d) with shared propagation (peer group %s): a FUSE mount there "+
			"would propagate to the node or other pods; refusing", name, m.Point, m.FSType, m.ID, g)
	}
	return nil
}

// server is a running FUSE server for one mount.
type server struct {
	srv  *fuse.Server
	done chan struct{} // closed when Serve returned (the kernel released the mount)
}

// mountFUSE mounts our file system over p in the container, backed by the directory
// dirFD (the original, reached through /proc/self/fd), and starts serving it.
// /dev/fuse is opened in the agent's own namespace (the container need not have it).
func (c *container) mountFUSE(p, source string, dirFD int, f *faults) (*server, error) {
	devFD, err := unix.Open("/dev/fuse", unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("opening /dev/fuse in the helper (the io kind mounts it from the node; is the fuse module loaded?): %w", err)
	}
	data := fmt.Sprintf("fd=%d,rootmode=%o,user_id=0,group_id=0,allow_other,default_permissions,max_read=%d",
		devFD, unix.S_IFDIR, maxWrite)
	if err := c.th.Do(func() error {
		return unix.Mount(source, p, FSType, unix.MS_NOSUID|unix.MS_NODEV, data)
	}); err != nil {
		unix.Close(devFD)
		return nil, fmt.Errorf("mounting %s over %s in the container: %w", FSType, p, err)
	}
	root, err := newRoot(fmt.Sprintf("/proc/self/fd/%d", dirFD), f)
	var srv *fuse.Server
	if err == nil {
		one := time.Second
		srv, err = fuse.NewServer(fs.NewNodeFS(root, &fs.Options{EntryTimeout: &one, AttrTimeout: &one,
			NullPermissions: true}), // --perm 000 stays 000 (go-fuse would report 644)
			fmt.Sprintf("/dev/fd/%d", devFD), &fuse.MountOptions{
				Name: "kubectl-chaos", FsName: source, MaxWrite: maxWrite,
				ExtraCapabilities: fuse.CAP_DIRECT_IO_ALLOW_MMAP,
				Logger:            log.New(os.Stderr, "iofault: go-fuse: ", 0),
			})
	}
	if err != nil {
		unix.Close(devFD) // aborts the connection: the mount answers ENOTCONN until removed
		_ = c.th.Do(func() error { return unix.Unmount(p, unix.MNT_DETACH) })
		return nil, fmt.Errorf("starting the FUSE server for %s: %w", p, err)
	}
	f.directIO = srv.KernelSettings().Flags64()&fuse.CAP_DIRECT_IO_ALLOW_MMAP != 0
	s := &server{srv: srv, done: make(chan struct{})}
	go func() {
		srv.Serve()
		close(s.done)
	}()
	return s, nil
}

// unmount removes our mount (source) from p: a plain umount, or a lazy one (detached
// now, released when the last open file on it is closed) when it is busy. It reports
// whether the mount was there and whether it had to be detached lazily.
func (c *container) unmount(p, source string) (found, lazy bool, err error) {
	ms, err := c.mounts()
	if err != nil {
		return false, false, err
	}
	own := ownMount(ms, p, source)
	if own == nil {
		return false, false, nil
	}
	if top := mountOf(ms, p); top == nil || top.ID != own.ID {
		return true, false, fmt.Errorf("something is mounted over our %s mount on %s: unmount it first", FSType, p)
	}
	err = c.th.Do(func() error {
		err := unix.Unmount(p, 0)
		if errors.Is(err, unix.EBUSY) {
			lazy = true
			err = unix.Unmount(p, unix.MNT_DETACH)
		}
		return err
	})
	if err != nil {
		return true, lazy, fmt.Errorf("unmounting %s from %s in the container: %w", FSType, p, err)
	}
	return true, lazy, nil
}

// sameDir checks that p in the container is the directory dirFD again (the original,
// uncovered).
func (c *container) sameDir(p string, dirFD int) error {
	var want, got unix.Stat_t
	if err := unix.Fstat(dirFD, &want); err != nil {
		return err
	}
	if err := c.th.Do(func() error { return unix.Stat(p, &got) }); err != nil {
		return fmt.Errorf("checking %s in the container after the unmount: %w", p, err)
	}
	if got.Dev != want.Dev || got.Ino != want.Ino {
		return fmt.Errorf("after the unmount %s in the container is dev %d ino %d, not the original directory (dev %d ino %d)",
			p, got.Dev, got.Ino, want.Dev, want.Ino)
	}
	return nil
}

func inodeOf(p string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", p, err)
	}
	return st.Ino, nil
}

// procStart returns a process's start time (clock ticks after boot), field 22 of
// /proc/<pid>/stat: with the PID it names one process for good.
func procStart(pid int) (uint64, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, fmt.Errorf("reading the status of pid %d: %w", pid, err)
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 20 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f))
	}
	return strconv.ParseUint(f[19], 10, 64)
}

func fileType(mode uint32) string {
	switch mode & unix.S_IFMT {
	case unix.S_IFREG:
		return "regular file"
	case unix.S_IFLNK:
		return "symlink"
	case unix.S_IFCHR, unix.S_IFBLK:
		return "device"
	case unix.S_IFIFO:
		return "fifo"
	case unix.S_IFSOCK:
		return "socket"
	}
	return fmt.Sprintf("mode %o", mode&unix.S_IFMT)
}
