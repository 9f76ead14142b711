package runtime

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
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

var hexID = regexp.MustCompile(`^[0-9a-f]{12,128}$`)

// Resolve finds t's container: from containerd's task state (the runc shim's init.pid
// next to the socket) first, then the /proc scan.
func (r *Resolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	id := t.RuntimeID()
	if !hexID.MatchString(id) {
		return fault.Target{}, fmt.Errorf("container ID %q of %s: want 12-128 lowercase hex digits (from the pod status)", t.ContainerID, t)
	}
	pid, cerr := r.containerdPID(id)
	if cerr != nil {
		var err error
		pid, err = ScanPID(r.o.ProcRoot, id)
		if err != nil {
			return fault.Target{}, fmt.Errorf("finding container %s of %s: containerd: %v; /proc scan: %w", short(id), t, cerr, err)
		}
	}
	return r.describe(t, pid, id)
}

func (r *Resolver) describe(t plan.Target, pid int, id string) (fault.Target, error) {
	ft := fault.Target{Target: t, PID: pid}
	ft.NetnsPath = filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "ns", "net")
	ino, err := Inode(ft.NetnsPath)
	if err != nil {
		return fault.Target{}, fmt.Errorf("reading the network namespace of %s (pid %d): %w", t, pid, err)
	}
	ft.NetnsInode = ino
	ft.CgroupPath = r.cgroupDir(pid, id)
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

// containerdPID reads the container's PID from containerd's task state: the runc shim
// (runtime v2, containerd 1.5 and later) writes <state>/io.containerd.runtime.v2.task/
// <namespace>/<id>/init.pid, and the state directory is the socket's directory
// (/run/containerd/containerd.sock, /run/k3s/containerd/containerd.sock) or its
// "containerd" subdirectory (socket at <run>/containerd.sock, state <run>/containerd).
// Both are inside the socket directory the helper pod mounts. The PID is trusted only if
// it is visible under ProcRoot as a process of that container (the agent runs with
// hostPID). This replaces a gRPC client of containerd, which made the agent's binary
// and memory almost twice as large for the same answer.
func (r *Resolver) containerdPID(id string) (int, error) {
	if r.o.Endpoint == "-" {
		return 0, errors.New("disabled")
	}
	dir := filepath.Dir(r.o.Endpoint)
	var errs []error
	for _, state := range []string{dir, filepath.Join(dir, "containerd")} {
		pid, err := StatePID(state, r.o.Namespace, id, r.o.ProcRoot)
		if err == nil {
			return pid, nil
		}
		errs = append(errs, err)
	}
	return 0, errors.Join(errs...)
}

// StatePID returns the PID recorded in containerd's task state directory state for the
// container id in namespace ns, if procRoot shows that PID in a cgroup of the container.
func StatePID(state, ns, id, procRoot string) (int, error) {
	path := filepath.Join(state, "io.containerd.runtime.v2.task", ns, id, "init.pid")
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, fmt.Errorf("reading the task's pid: %w", err)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0, fmt.Errorf("%s: %q is not a pid", path, bytes.TrimSpace(b))
	}
	cg, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil || !bytes.Contains(cg, []byte(id)) {
		return 0, fmt.Errorf("%s says pid %d, not visible as container %s under %s", path, pid, short(id), procRoot)
	}
	return pid, nil
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

// cgroupDir finds the container's cgroup directory: the unified (v2) one if the
// process is in one that names the container, else the first v1 controller's.
func (r *Resolver) cgroupDir(pid int, id string) string {
	f, err := os.Open(filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "cgroup"))
	if err != nil {
		return ""
	}
	defer f.Close()
	var cands []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// hierarchy-ID:controller-list:path
		parts := strings.SplitN(sc.Text(), ":", 3)
		if len(parts) != 3 || !strings.Contains(parts[2], id) {
			continue
		}
		if parts[0] == "0" && parts[1] == "" {
			cands = append([]string{
				filepath.Join(r.o.CgroupRoot, "unified", parts[2]),
				filepath.Join(r.o.CgroupRoot, parts[2]),
			}, cands...)
			continue
		}
		ctrl := strings.TrimPrefix(parts[1], "name=")
		cands = append(cands, filepath.Join(r.o.CgroupRoot, ctrl, parts[2]))
	}
	for _, c := range cands {
		if st, err := os.Stat(c); err == nil && st.IsDir() {
			return c
		}
	}
	return ""
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
