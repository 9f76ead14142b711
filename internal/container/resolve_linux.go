package container

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"syscall"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultProcRoot is /host/proc when the host's /proc is mounted there, else /proc.
func DefaultProcRoot() string {
	if st, err := os.Stat("/host/proc/1"); err == nil && st.IsDir() {
		return "/host/proc"
	}
	return "/proc"
}

// hexID reports whether id is 12-128 lowercase hex digits (a container ID). A plain
// loop, not a regexp: a package-level regexp is compiled at every start of the binary
// (CLI included), and {12,128} compiles to a large program (issue 17: CLI start).
func hexID(id string) bool {
	if len(id) < 12 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// Resolve finds t's container: containerd first, then the /proc scan.
func (r *Resolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	id := t.RuntimeID()
	if !hexID(id) {
		return fault.Target{}, fmt.Errorf("container ID %q of %s: want 12-128 lowercase hex digits (from the pod status)", t.ContainerID, t)
	}
	by := "containerd"
	pid, cerr := r.containerdPID(ctx, id)
	if cerr == nil {
		// Trust it only if the PID is visible and really in that container here
		// (the agent must run with hostPID).
		if b, err := os.ReadFile(filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "cgroup")); err != nil || !bytes.Contains(b, []byte(id)) {
			cerr = fmt.Errorf("containerd says pid %d, not visible as that container under %s", pid, r.o.ProcRoot)
		}
	}
	if cerr != nil {
		var err error
		pid, err = ScanPID(r.o.ProcRoot, id)
		if err != nil {
			return fault.Target{}, fmt.Errorf("finding container %s of %s: containerd: %v; /proc scan: %w", short(id), t, cerr, err)
		}
		by = "/proc scan"
	}
	ft, err := r.describe(t, pid, id)
	ft.ResolvedBy = by
	return ft, err
}

func (r *Resolver) describe(t plan.Target, pid int, id string) (fault.Target, error) {
	ft := fault.Target{Target: t, PID: pid}
	ft.NetnsPath = filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "ns", "net")
	ino, err := Inode(ft.NetnsPath)
	if err != nil {
		return fault.Target{}, fmt.Errorf("reading the network namespace of %s (pid %d): %w", t, pid, err)
	}
	ft.NetnsInode = ino
	ft.Cgroups, ft.CgroupPath = r.cgroupsOf(pid, id)
	return ft, nil
}

// Inode returns the inode of the namespace file at path (stat follows the nsfs link).
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// ScanPID returns the lowest PID under procRoot whose /proc/<pid>/cgroup names the
// container id (cgroupfs "…/<id>", systemd "cri-containerd-<id>.scope", "crio-<id>.scope";
// cgroup v1 and v2).
func ScanPID(procRoot, id string) (int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("listing processes in %s: %w", procRoot, err)
	}
	pids := make([]int, 0, len(ents))
	for _, de := range ents {
		if pid, err := strconv.Atoi(de.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	needle := []byte(id)
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if bytes.Contains(b, needle) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process under %s is in a cgroup of container %s (is the container running, and does the agent run with hostPID?)", procRoot, short(id))
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
