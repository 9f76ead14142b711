package stress

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// standIn is a process standing for a container: a `sleep` as PID 1 of its own PID
// namespace, in cgroups named like a container ID (cpu, cpuacct, memory on cgroup v1;
// the unified cgroup on v2, or in addition on a hybrid host), with the limits a test
// gives. Everything is removed in t.Cleanup.
type standIn struct {
	ID     string
	PID    int
	Target fault.Target
	// dirs by hierarchy: "cpu", "cpuacct", "memory", "unified"
	dirs    map[string]string
	cgs     []fault.Cgroup // the same, as the agent sees them
	parents []string
	cmd     *exec.Cmd
}

// limits of a stand-in: zero = none.
type limits struct {
	cpus   float64 // CPU quota
	memory uint64  // bytes
}

// The test cgroups get a large CPU weight so that other work on this shared machine
// does not starve what the test measures (the stressor stays bounded by the quota).
const (
	testSharesV1 = 262144
	testWeightV2 = 10000
	cfsPeriod    = 100000
)

func needRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root (cgroups, PID namespaces)")
	}
}

// ourCgroups are this test process's cgroups: stand-ins go below them, which keeps the
// machine's own accounting (a sandbox may cap us) over what the tests start.
func ourCgroups(t testing.TB) []fault.Cgroup {
	var cgs []fault.Cgroup
	err := container.OnHostCgroupNS("/proc", func() error {
		var err error
		cgs, err = container.Cgroups("/proc", os.Getpid())
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return cgs
}

// cgroupV2Only reports whether the host has no v1 cpu/memory hierarchy (the VM).
func cgroupV2Only(cgs []fault.Cgroup) bool {
	for _, c := range cgs {
		if !c.Unified() && (container.HasController(c, "cpu") || container.HasController(c, "memory")) {
			return false
		}
	}
	return true
}

// ensureCgroupMounted mounts cgroup2 at /sys/fs/cgroup inside the test VM, whose
// busybox init mounts none (Debian's kernel there is cgroup2-only).
func ensureCgroupMounted(t testing.TB) {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(b), " - cgroup") {
		return
	}
	if os.Getenv("KUBECTL_CHAOS_NETEMVM") != "1" {
		t.Skip("no cgroup filesystem mounted")
	}
	if err := syscall.Mount("cgroup2", "/sys/fs/cgroup", "cgroup2", 0, ""); err != nil {
		t.Fatalf("mounting cgroup2 in the VM: %v", err)
	}
}

func newStandIn(t testing.TB, lim limits) *standIn {
	t.Helper()
	needRoot(t)
	ensureCgroupMounted(t)
	var b [32]byte
	rand.Read(b[:])
	s := &standIn{ID: hex.EncodeToString(b[:]), dirs: map[string]string{}}
	group := "kc-chaos-stress-" + s.ID[:8]
	ours := ourCgroups(t)
	v2only := cgroupV2Only(ours)
	t.Cleanup(s.remove)
	for _, c := range ours {
		var name string
		switch {
		case c.Unified():
			name = "unified"
		case container.HasController(c, "cpu"):
			name = "cpu"
		case container.HasController(c, "cpuacct"):
			name = "cpuacct"
		case container.HasController(c, "memory"):
			name = "memory"
		default:
			continue
		}
		if c.Dir == "" {
			continue
		}
		parent := filepath.Join(c.Dir, group)
		if err := os.Mkdir(parent, 0o755); err != nil {
			t.Fatalf("creating %s: %v", parent, err)
		}
		s.parents = append(s.parents, parent)
		if c.Unified() && v2only {
			enableV2(t, c.Dir, parent)
		}
		dir := filepath.Join(parent, s.ID)
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatalf("creating %s: %v", dir, err)
		}
		s.dirs[name] = dir
		s.cgs = append(s.cgs, fault.Cgroup{Controllers: c.Controllers, Path: filepath.Join(c.Path, group, s.ID), Dir: dir})
		if container.HasController(c, "cpu") {
			write(t, parent, "cpu.shares", strconv.Itoa(testSharesV1))
		}
	}
	s.setLimits(t, lim, v2only)
	s.start(t)
	return s
}

// enableV2 turns the cpu and memory controllers on down to the stand-in's cgroup.
func enableV2(t testing.TB, root, parent string) {
	for _, d := range []string{root, parent} {
		if err := os.WriteFile(filepath.Join(d, "cgroup.subtree_control"), []byte("+cpu +memory"), 0); err != nil {
			t.Fatalf("enabling cpu and memory in %s: %v", d, err)
		}
	}
	write(t, parent, "cpu.weight", strconv.Itoa(testWeightV2))
}

func (s *standIn) setLimits(t testing.TB, lim limits, v2only bool) {
	if v2only {
		d := s.dirs["unified"]
		if lim.cpus > 0 {
			write(t, d, "cpu.max", fmt.Sprintf("%d %d", int(lim.cpus*cfsPeriod), cfsPeriod))
		}
		if lim.memory > 0 {
			write(t, d, "memory.max", strconv.FormatUint(lim.memory, 10))
			os.WriteFile(filepath.Join(d, "memory.swap.max"), []byte("0"), 0) // absent without swap accounting
		}
		return
	}
	if lim.cpus > 0 {
		write(t, s.dirs["cpu"], "cpu.cfs_period_us", strconv.Itoa(cfsPeriod))
		write(t, s.dirs["cpu"], "cpu.cfs_quota_us", strconv.Itoa(int(lim.cpus*cfsPeriod)))
	}
	if lim.memory > 0 {
		d := s.dirs["memory"]
		write(t, d, "memory.limit_in_bytes", strconv.FormatUint(lim.memory, 10))
		if _, err := os.Stat(filepath.Join(d, "memory.memsw.limit_in_bytes")); err == nil {
			write(t, d, "memory.memsw.limit_in_bytes", strconv.FormatUint(lim.memory, 10))
		}
		write(t, d, "memory.swappiness", "0")
	}
}

func write(t testing.TB, dir, name, v string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, name), []byte(v), 0); err != nil {
		t.Fatalf("writing %s to %s/%s: %v", v, dir, name, err)
	}
}

// start runs the stand-in's process in a PID namespace of its own and moves it into
// its cgroups, then resolves it like the agent does (the /proc scan by container ID).
func (s *standIn) start(t testing.TB) {
	s.cmd = exec.Command("sleep", "3600")
	s.cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID, Pdeathsig: syscall.SIGKILL}
	// From the stressors' thread, which lives as long as this test binary: the death
	// signal follows the thread that started the child, and other threads come and go.
	if err := host().do(s.cmd.Start); err != nil {
		t.Fatal(err)
	}
	s.PID = s.cmd.Process.Pid
	for _, d := range s.dirs {
		write(t, d, "cgroup.procs", strconv.Itoa(s.PID))
	}
	r := container.New(container.Options{Endpoint: "-", ProcRoot: "/proc"})
	ft, err := r.Resolve(context.Background(), plan.Target{Namespace: "default", Pod: "stress-" + s.ID[:6], Container: "app",
		ContainerID: "containerd://" + s.ID})
	if err != nil {
		t.Fatal(err)
	}
	if ft.PID != s.PID {
		t.Fatalf("resolved pid %d, want the stand-in's %d", ft.PID, s.PID)
	}
	s.Target = ft
}

// procs lists the PIDs in the stand-in's cgroup of hierarchy h.
func (s *standIn) procs(t testing.TB, h string) []int {
	b, err := os.ReadFile(filepath.Join(s.dirs[h], "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, f := range strings.Fields(string(b)) {
		n, _ := strconv.Atoi(f)
		out = append(out, n)
	}
	return out
}

// cpuUsage is the stand-in's CPU time from its cgroup's own accounting.
func (s *standIn) cpuUsage(t testing.TB) time.Duration {
	d, err := container.CPUUsage(s.cgs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

// memUsage is what the stand-in's memory cgroup is charged.
func (s *standIn) memUsage(t testing.TB) uint64 {
	c, _ := container.ControllerCgroup(s.cgs, "memory")
	n, err := container.MemoryUsage(c)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// remove kills everything in the stand-in's cgroups and removes them.
func (s *standIn) remove() {
	if s.cmd != nil && s.cmd.Process != nil {
		s.cmd.Process.Kill()
		s.cmd.Wait()
	}
	for _, d := range s.dirs {
		b, _ := os.ReadFile(filepath.Join(d, "cgroup.procs"))
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				syscall.Kill(n, syscall.SIGKILL)
			}
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for _, d := range append(dirsOf(s.dirs), s.parents...) {
		for {
			err := os.Remove(d)
			if err == nil || errors.Is(err, os.ErrNotExist) || time.Now().After(deadline) {
				break
			}
			time.Sleep(20 * time.Millisecond) // processes still exiting
		}
	}
}

func dirsOf(m map[string]string) []string {
	var out []string
	for _, d := range m {
		out = append(out, d)
	}
	return out
}
