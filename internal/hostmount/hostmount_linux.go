package hostmount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strconv"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
)

// Apply mounts each mount's HostPath — a path of the node, as the process nodePID (in
// the node's mount namespace, with the node's root: NodeProcess) sees it — at its Path
// in this process's mount namespace, as runc mounted a hostPath volume: the same type
// checks (DirectoryOrCreate creates the directory on the node), private propagation
// (nothing mounted here reaches the node), read-only when asked. On an error it
// unmounts what it mounted and says which mount, node path and type failed.
//
// A bind mount cannot take its source from another mount namespace (mount(2) says
// EINVAL), so the source trees are cloned in the node's namespace (open_tree with
// OPEN_TREE_CLONE, on a thread that entered it) and the detached copies attached here
// (move_mount): Linux 5.2 or later.
func Apply(nodePID int, ms []Mount) error {
	if err := validate(ms); err != nil {
		return err
	}
	trees, err := cloneTrees(nodePID, ms)
	if err != nil {
		return err
	}
	defer func() {
		for _, fd := range trees {
			unix.Close(fd)
		}
	}()
	var done []string
	for i, m := range ms {
		if err := attach(trees[i], m); err != nil {
			for j := len(done) - 1; j >= 0; j-- {
				_ = unix.Unmount(done[j], unix.MNT_DETACH)
			}
			return fmt.Errorf("host path %s (%s, %s) on the node: %w", m.HostPath, m.Name, m.Type, err)
		}
		done = append(done, m.Path)
	}
	return nil
}

// cloneTrees returns a detached copy of each mount's node path (one descriptor each),
// made on a thread inside nodePID's mount namespace with its root as root
// (nsutil.MountNSThread).
func cloneTrees(nodePID int, ms []Mount) ([]int, error) {
	proc := "/proc/" + strconv.Itoa(nodePID)
	nsFD, err := unix.Open(proc+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the node's mount namespace: %w", err)
	}
	defer unix.Close(nsFD)
	rootFD, err := unix.Open(proc+"/root", unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("the node's root directory: %w", err)
	}
	defer unix.Close(rootFD)
	th, err := nsutil.EnterMountNS(nsFD, rootFD, "the node's")
	if err != nil {
		return nil, err
	}
	defer th.Close()
	var fds []int
	err = th.Do(func() error {
		for _, m := range ms {
			fd, err := cloneTree(m)
			if err != nil {
				return fmt.Errorf("host path %s (%s, %s) on the node: %w", m.HostPath, m.Name, m.Type, err)
			}
			fds = append(fds, fd)
		}
		return nil
	})
	if err != nil {
		for _, fd := range fds {
			unix.Close(fd)
		}
		return nil, err
	}
	return fds, nil
}

// cloneTree checks (or creates) the node path, in the node's root: a node's symbolic
// link (/var/run -> /run) resolves there, as it did for runc.
func cloneTree(m Mount) (int, error) {
	fi, err := os.Stat(m.HostPath)
	switch {
	case errors.Is(err, fs.ErrNotExist) && m.Type == DirectoryOrCreate:
		if err := os.MkdirAll(m.HostPath, 0o755); err != nil {
			return -1, err
		}
	case errors.Is(err, fs.ErrNotExist):
		return -1, errors.New("does not exist")
	case err != nil:
		return -1, err
	case m.Type == CharDevice && fi.Mode()&fs.ModeCharDevice == 0:
		return -1, errors.New("not a character device")
	case m.Type != CharDevice && !fi.IsDir():
		return -1, errors.New("not a directory")
	}
	flags := uint(unix.OPEN_TREE_CLONE | unix.OPEN_TREE_CLOEXEC)
	if m.Recursive {
		flags |= unix.AT_RECURSIVE
	}
	fd, err := unix.OpenTree(unix.AT_FDCWD, m.HostPath, flags)
	if errors.Is(err, unix.ENOSYS) {
		return -1, errors.New("this kernel has no open_tree(2): the agent needs Linux 5.2 or later")
	}
	if err != nil {
		return -1, fmt.Errorf("open_tree: %w", err)
	}
	return fd, nil
}

// attach puts a cloned tree at m.Path here: mount point, move_mount, private, read-only.
func attach(tree int, m Mount) error {
	// The mount point in the helper (the image has none of these directories).
	if m.Type == CharDevice {
		if err := os.MkdirAll(path.Dir(m.Path), 0o755); err != nil {
			return err
		}
		if _, err := os.Lstat(m.Path); errors.Is(err, fs.ErrNotExist) {
			f, err := os.OpenFile(m.Path, os.O_CREATE|os.O_WRONLY, 0o600)
			if err != nil {
				return err
			}
			f.Close()
		}
	} else if err := os.MkdirAll(m.Path, 0o755); err != nil {
		return err
	}
	if err := unix.MoveMount(tree, "", unix.AT_FDCWD, m.Path, unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
		if errors.Is(err, unix.ENOSYS) {
			return errors.New("this kernel has no move_mount(2): the agent needs Linux 5.2 or later")
		}
		return fmt.Errorf("move_mount to %s: %w", m.Path, err)
	}
	rec := uintptr(0)
	if m.Recursive {
		rec = unix.MS_REC
	}
	if err := unix.Mount("", m.Path, "", unix.MS_PRIVATE|rec, ""); err != nil {
		_ = unix.Unmount(m.Path, unix.MNT_DETACH)
		return fmt.Errorf("private propagation of %s: %w", m.Path, err)
	}
	if m.ReadOnly {
		// Keep the source's per-mount flags (nosuid, nodev, noexec, atime): a bind
		// remount sets them all at once (the ST_ flags are the MS_ ones).
		var st unix.Statfs_t
		if err := unix.Statfs(m.Path, &st); err != nil {
			_ = unix.Unmount(m.Path, unix.MNT_DETACH)
			return err
		}
		keep := uintptr(st.Flags) & (unix.MS_NOSUID | unix.MS_NODEV | unix.MS_NOEXEC | unix.MS_NOATIME | unix.MS_NODIRATIME | unix.MS_RELATIME)
		if err := unix.Mount("", m.Path, "", unix.MS_REMOUNT|unix.MS_BIND|unix.MS_RDONLY|keep, ""); err != nil {
			_ = unix.Unmount(m.Path, unix.MNT_DETACH)
			return fmt.Errorf("read-only remount of %s: %w", m.Path, err)
		}
	}
	return nil
}
