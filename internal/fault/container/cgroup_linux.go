package container

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Freezer is the freezer of one container's cgroup: the v1 freezer controller's
// directory, or the v2 cgroup directory (cgroup.freeze).
type Freezer struct {
	Version int    `json:"version"` // 1 or 2
	Dir     string `json:"dir"`
}

// FindFreezer finds the freezer of the container id that process pid belongs to:
// the v1 freezer hierarchy when the process is in one (the runtime's own, as `runc
// pause` uses it), else the v2 directory. procRoot is the host's /proc, cgroupRoot the
// host's cgroup mount. The cgroup paths are read as the host's cgroup namespace shows
// them, also when the agent runs in a private one (cgroup v2 nodes).
func FindFreezer(procRoot, cgroupRoot string, pid int, id string) (Freezer, error) {
	if id == "" || strings.ContainsAny(id, "/.") {
		return Freezer{}, fmt.Errorf("container ID %q: refusing to look for its cgroup", id)
	}
	b, err := ReadHostCgroups(procRoot, pid)
	if err != nil {
		return Freezer{}, err
	}
	var v2 []string
	var seen []string
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		seen = append(seen, line)
		path := parts[2]
		if !strings.Contains(path, id) || strings.Contains(path, "..") {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			v2 = []string{filepath.Join(cgroupRoot, "unified", path), filepath.Join(cgroupRoot, path)}
			continue
		}
		if slices.Contains(strings.Split(parts[1], ","), "freezer") {
			dir := filepath.Join(cgroupRoot, parts[1], path)
			if isFile(filepath.Join(dir, "freezer.state")) {
				return Freezer{Version: 1, Dir: dir}, nil
			}
		}
	}
	for _, dir := range v2 {
		if isFile(filepath.Join(dir, "cgroup.freeze")) {
			return Freezer{Version: 2, Dir: dir}, nil
		}
	}
	return Freezer{}, fmt.Errorf("no freezer for container %s (pid %d) under %s: its cgroups are %q (is the node's cgroup filesystem mounted at %s?)",
		short(id), pid, cgroupRoot, seen, cgroupRoot)
}

// ReadHostCgroups returns procRoot/<pid>/cgroup as the host's cgroup namespace shows it.
// A process in a private cgroup namespace (the helper's container on cgroup v2 nodes)
// sees other processes' paths relative to its own root ("/../../kubepods/…"), so the
// file is then read from a thread that entered the cgroup namespace of the host's init.
func ReadHostCgroups(procRoot string, pid int) ([]byte, error) {
	path := filepath.Join(procRoot, strconv.Itoa(pid), "cgroup")
	own, err := nsInode("/proc/thread-self/ns/cgroup")
	if err != nil {
		return readFile(path)
	}
	// The host's init (pid 1) is in the host's cgroup namespace, and so is kthreadd
	// (pid 2), whose namespace links stay readable where pid 1's are not.
	var hostNS string
	for _, p := range []string{"1", "2"} {
		cand := filepath.Join(procRoot, p, "ns", "cgroup")
		if host, err := nsInode(cand); err == nil {
			if host == own {
				return readFile(path)
			}
			hostNS = cand
			break
		}
	}
	if hostNS == "" {
		return readFile(path)
	}
	type res struct {
		b   []byte
		err error
	}
	ch := make(chan res, 1)
	go func() {
		// The thread is never unlocked: it leaves the host's cgroup namespace by exiting.
		runtime.LockOSThread()
		fd, err := unix.Open(hostNS, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			ch <- res{err: fmt.Errorf("opening the host's cgroup namespace %s: %w", hostNS, err)}
			return
		}
		defer unix.Close(fd)
		if err := unix.Setns(fd, unix.CLONE_NEWCGROUP); err != nil {
			ch <- res{err: fmt.Errorf("entering the host's cgroup namespace %s: %w", hostNS, err)}
			return
		}
		b, err := readFile(path)
		ch <- res{b, err}
	}()
	r := <-ch
	return r.b, r.err
}

func readFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", path, err)
	}
	return b, nil
}

func nsInode(path string) (uint64, error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, err
	}
	return st.Ino, nil
}

func isFile(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.Mode().IsRegular()
}

// Requested reports whether a freeze was asked for (by anyone): v1 freezer.state is not
// THAWED, v2 cgroup.freeze is 1.
func (f Freezer) Requested() (bool, error) {
	if f.Version == 1 {
		s, err := f.read("freezer.state")
		return s != "THAWED", err
	}
	s, err := f.read("cgroup.freeze")
	return s == "1", err
}

// Frozen reports whether every process of the cgroup is frozen: v1 freezer.state is
// FROZEN (not FREEZING), v2 cgroup.events says "frozen 1".
func (f Freezer) Frozen() (bool, error) {
	if f.Version == 1 {
		s, err := f.read("freezer.state")
		return s == "FROZEN", err
	}
	s, err := f.read("cgroup.events")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(s, "\n") {
		if k, v, ok := strings.Cut(l, " "); ok && k == "frozen" {
			return v == "1", nil
		}
	}
	return false, fmt.Errorf("%s/cgroup.events has no frozen line", f.Dir)
}

// Set asks the kernel to freeze (true) or thaw (false) the cgroup.
func (f Freezer) Set(frozen bool) error {
	name, val := "cgroup.freeze", "0"
	if f.Version == 1 {
		name, val = "freezer.state", "THAWED"
		if frozen {
			val = "FROZEN"
		}
	} else if frozen {
		val = "1"
	}
	p := filepath.Join(f.Dir, name)
	// O_WRONLY without O_CREAT: a cgroup that is gone is ENOENT, never a new file.
	fd, err := os.OpenFile(p, os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	_, err = fd.WriteString(val)
	if cerr := fd.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("writing %s to %s: %w", val, p, err)
	}
	return nil
}

// Procs counts the processes in the cgroup.
func (f Freezer) Procs() (int, error) {
	b, err := os.ReadFile(filepath.Join(f.Dir, "cgroup.procs"))
	if err != nil {
		return 0, err
	}
	return bytes.Count(b, []byte("\n")), nil
}

func (f Freezer) read(name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(f.Dir, name))
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}

// Gone reports whether err means the cgroup no longer exists (the container is gone).
func Gone(err error) bool {
	return errors.Is(err, os.ErrNotExist) || errors.Is(err, unix.ENODEV)
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
