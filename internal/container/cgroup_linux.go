package container

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// A privileged helper pod on a cgroup v2 node runs in a cgroup namespace of its own:
// /proc/<pid>/cgroup of a target then reads "0::/../../kubepods/…" and /sys/fs/cgroup
// is only the helper's subtree. The node's cgroups are reached through the node's
// cgroup filesystem (mounted into the helper by the stress kind) from a thread that has
// entered the node's cgroup namespace: there the paths read absolute, and the kernel
// lets that thread move a process between cgroups of the whole tree (a writer must see
// both ends from its namespace when the hierarchy is mounted with nsdelegate).

// EnterHostCgroupNS moves the calling thread into the cgroup namespace of the node's
// init (procRoot/1) and says whether it had to. The caller has locked the thread
// (runtime.LockOSThread) and must not hand a moved thread back to the scheduler. When
// that namespace cannot be opened (this is no helper pod, or /proc/1 is not ours to
// inspect) the thread stays where it is; Cgroups then refuses paths that lead outside
// it.
func EnterHostCgroupNS(procRoot string) (bool, error) {
	host, err := Inode(filepath.Join(procRoot, "1", "ns", "cgroup"))
	if err != nil {
		return false, nil
	}
	self, err := Inode("/proc/thread-self/ns/cgroup")
	if err == nil && self == host {
		return false, nil
	}
	f, err := os.Open(filepath.Join(procRoot, "1", "ns", "cgroup"))
	if err != nil {
		return false, fmt.Errorf("opening the node's cgroup namespace: %w", err)
	}
	defer f.Close()
	if err := unix.Setns(int(f.Fd()), unix.CLONE_NEWCGROUP); err != nil {
		return false, fmt.Errorf("entering the node's cgroup namespace (%s): %w", f.Name(), err)
	}
	return true, nil
}

// OnHostCgroupNS runs fn on a thread in the node's cgroup namespace. A thread that had
// to enter it is discarded afterwards (children it started lose their parent then).
func OnHostCgroupNS(procRoot string, fn func() error) error {
	done := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		entered, err := EnterHostCgroupNS(procRoot)
		if err != nil {
			done <- err
			return // the thread exits with this goroutine
		}
		err = fn()
		if !entered {
			runtime.UnlockOSThread()
		}
		done <- err
	}()
	return <-done
}

// Cgroups returns the cgroups of process pid, one per hierarchy, with the directory
// where this process reaches each (through its own cgroup mounts). Call it on a thread
// in the node's cgroup namespace (OnHostCgroupNS), or paths read relative to another.
func Cgroups(procRoot string, pid int) ([]fault.Cgroup, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return nil, fmt.Errorf("reading the cgroups of pid %d: %w", pid, err)
	}
	mi, err := os.ReadFile("/proc/thread-self/mountinfo")
	if err != nil {
		return nil, fmt.Errorf("reading the cgroup mounts: %w", err)
	}
	return resolveCgroups(ParseProcCgroup(b), parseCgroupMounts(mi))
}

// ParseProcCgroup parses /proc/<pid>/cgroup ("hierarchy-ID:controllers:path" lines);
// Dir is left empty.
func ParseProcCgroup(b []byte) []fault.Cgroup {
	var out []fault.Cgroup
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 {
			continue
		}
		out = append(out, fault.Cgroup{Controllers: parts[1], Path: parts[2]})
	}
	return out
}

// cgroupMount is one cgroup or cgroup2 mount of /proc/<pid>/mountinfo.
type cgroupMount struct {
	root, point string
	v2          bool
	opts        map[string]bool // super options: the v1 controllers, name=…
}

// parseCgroupMounts returns the cgroup mounts in mount order; a later mount on the same
// mount point hides the earlier one (the helper's own cgroup mount under the node's).
func parseCgroupMounts(b []byte) []cgroupMount {
	var out []cgroupMount
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		// id parent major:minor root point options [optional…] - fstype source superopts
		pre, post, ok := strings.Cut(sc.Text(), " - ")
		if !ok {
			continue
		}
		f, g := strings.Fields(pre), strings.Fields(post)
		if len(f) < 5 || len(g) < 3 || (g[0] != "cgroup" && g[0] != "cgroup2") {
			continue
		}
		m := cgroupMount{root: unescape(f[3]), point: unescape(f[4]), v2: g[0] == "cgroup2", opts: map[string]bool{}}
		for _, o := range strings.Split(g[2], ",") {
			m.opts[o] = true
		}
		kept := out[:0]
		for _, o := range out {
			if o.point != m.point {
				kept = append(kept, o)
			}
		}
		out = append(kept, m)
	}
	return out
}

// unescape undoes mountinfo's octal escapes (\040 for a space).
func unescape(s string) string {
	if !strings.Contains(s, `\`) {
		return s
	}
	if u, err := strconv.Unquote(`"` + strings.ReplaceAll(s, `"`, `\"`) + `"`); err == nil {
		return u
	}
	return s
}

// resolveCgroups finds each cgroup's directory: on the mount of its hierarchy whose
// root is the longest prefix of its path (the last such mount when several tie).
func resolveCgroups(cgs []fault.Cgroup, mounts []cgroupMount) ([]fault.Cgroup, error) {
	var out []fault.Cgroup
	for _, c := range cgs {
		if c.Path == ".." || strings.HasPrefix(c.Path, "/..") {
			return nil, fmt.Errorf("the process's %s cgroup %s lies outside this agent's cgroup namespace (could not enter the node's: is the agent running with hostPID?)", HierarchyName(c), c.Path)
		}
		best := -1
		for i, m := range mounts {
			if !sameHierarchy(c, m) || !under(c.Path, m.root) {
				continue
			}
			if best < 0 || len(m.root) >= len(mounts[best].root) {
				best = i
			}
		}
		if best >= 0 {
			m := mounts[best]
			c.Dir = filepath.Join(m.point, strings.TrimPrefix(c.Path, strings.TrimSuffix(m.root, "/")))
		}
		out = append(out, c)
	}
	return out, nil
}

func sameHierarchy(c fault.Cgroup, m cgroupMount) bool {
	if c.Unified() {
		return m.v2
	}
	if m.v2 {
		return false
	}
	for _, ctrl := range strings.Split(c.Controllers, ",") {
		if !m.opts[ctrl] {
			return false
		}
	}
	return true
}

// under reports whether path p is root or below it.
func under(p, root string) bool {
	p, root = path.Clean(p), path.Clean(root)
	return root == "/" || p == root || strings.HasPrefix(p, root+"/")
}

// HierarchyName names c's hierarchy for messages: "memory", "cpu,cpuacct", "unified (v2)".
func HierarchyName(c fault.Cgroup) string {
	if c.Unified() {
		return "unified (v2)"
	}
	return c.Controllers
}

// cgroupsOf resolves pid's cgroups in the node's cgroup namespace and picks the
// directory CgroupPath has always meant: the unified one if the container has one that
// names it, else the first v1 hierarchy's that does. Errors leave both empty (network
// faults need no cgroup; the stress kind says why it cannot go on).
func (r *Resolver) cgroupsOf(pid int, id string) ([]fault.Cgroup, string) {
	var cgs []fault.Cgroup
	err := OnHostCgroupNS(r.o.ProcRoot, func() error {
		var err error
		cgs, err = Cgroups(r.o.ProcRoot, pid)
		return err
	})
	if err != nil {
		return nil, ""
	}
	dir := ""
	for _, c := range cgs {
		if c.Dir == "" || !strings.Contains(c.Path, id) {
			continue
		}
		if st, err := os.Stat(c.Dir); err != nil || !st.IsDir() {
			continue
		}
		if c.Unified() || dir == "" {
			dir = c.Dir
		}
		if c.Unified() {
			break
		}
	}
	if dir == "" {
		dir = r.cgroupDirByName(cgs, id)
	}
	return cgs, dir
}

// cgroupDirByName is the conventional layout (CgroupRoot/<controller>/<path>,
// CgroupRoot[/unified]/<path>) for when the mounts told nothing.
func (r *Resolver) cgroupDirByName(cgs []fault.Cgroup, id string) string {
	var cands []string
	for _, c := range cgs {
		if !strings.Contains(c.Path, id) {
			continue
		}
		if c.Unified() {
			cands = append([]string{filepath.Join(r.o.CgroupRoot, "unified", c.Path), filepath.Join(r.o.CgroupRoot, c.Path)}, cands...)
			continue
		}
		cands = append(cands, filepath.Join(r.o.CgroupRoot, strings.TrimPrefix(c.Controllers, "name="), c.Path))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	return ""
}
