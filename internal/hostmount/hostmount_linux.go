package hostmount

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"strings"

	"golang.org/x/sys/unix"
)

// Apply bind-mounts each mount's HostPath, resolved inside root (the node's root
// directory: NodeRoot in a helper), at its Path in this process's mount namespace, as
// runc mounted a hostPath volume: the same type checks (DirectoryOrCreate creates the
// directory on the node), private propagation (nothing mounted here reaches the node),
// read-only when asked. On an error it unmounts what it mounted and says which mount,
// node path and type failed.
func Apply(root string, ms []Mount) error {
	if err := validate(ms); err != nil {
		return err
	}
	var done []string
	for _, m := range ms {
		if err := apply(root, m); err != nil {
			for i := len(done) - 1; i >= 0; i-- {
				_ = unix.Unmount(done[i], unix.MNT_DETACH)
			}
			return fmt.Errorf("host path %s (%s, %s) on the node: %w", m.HostPath, m.Name, m.Type, err)
		}
		done = append(done, m.Path)
	}
	return nil
}

func apply(root string, m Mount) error {
	src, err := resolveIn(root, m.HostPath)
	if err != nil {
		return err
	}
	fi, err := os.Stat(src)
	switch {
	case errors.Is(err, fs.ErrNotExist) && m.Type == DirectoryOrCreate:
		if err := os.MkdirAll(src, 0o755); err != nil {
			return err
		}
	case errors.Is(err, fs.ErrNotExist):
		return errors.New("does not exist")
	case err != nil:
		return err
	case m.Type == CharDevice && fi.Mode()&fs.ModeCharDevice == 0:
		return errors.New("not a character device")
	case m.Type != CharDevice && !fi.IsDir():
		return errors.New("not a directory")
	}
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
	rec := uintptr(0)
	if m.Recursive {
		rec = unix.MS_REC
	}
	if err := unix.Mount(src, m.Path, "", unix.MS_BIND|rec, ""); err != nil {
		return fmt.Errorf("bind mount at %s: %w", m.Path, err)
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

// resolveIn returns root joined with p, every symbolic link on the way resolved as if
// root were "/": a node's /var/run -> /run must lead to the node's /run, not to the
// helper's. The part of p that does not exist yet is joined as it is.
func resolveIn(root, p string) (string, error) {
	todo := split(p)
	cur := "/"
	for links := 0; len(todo) > 0; {
		c := todo[0]
		todo = todo[1:]
		switch c {
		case ".":
			continue
		case "..":
			cur = path.Dir(cur)
			continue
		}
		next := path.Join(cur, c)
		fi, err := os.Lstat(root + next)
		if errors.Is(err, fs.ErrNotExist) {
			return root + path.Join(append([]string{next}, todo...)...), nil
		}
		if err != nil {
			return "", err
		}
		if fi.Mode()&fs.ModeSymlink == 0 {
			cur = next
			continue
		}
		if links++; links > 40 {
			return "", fmt.Errorf("resolving %s: too many symbolic links", p)
		}
		target, err := os.Readlink(root + next)
		if err != nil {
			return "", err
		}
		if path.IsAbs(target) {
			cur = "/"
		}
		todo = append(split(target), todo...)
	}
	return root + cur, nil
}

func split(p string) []string {
	var out []string
	for _, c := range strings.Split(p, "/") {
		if c != "" {
			out = append(out, c)
		}
	}
	return out
}
