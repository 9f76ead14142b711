package stress

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// unlimitedV1 is where a v1 limit counts as none (the kernel reports PAGE_COUNTER_MAX
// pages, 9223372036854771712 bytes on 4 KiB pages).
const unlimitedV1 = 1 << 62

// hasController reports whether a v1 hierarchy carries controller ctrl.
func hasController(c fault.Cgroup, ctrl string) bool {
	for _, x := range strings.Split(c.Controllers, ",") {
		if x == ctrl {
			return true
		}
	}
	return false
}

// bounding returns the container's cgroup that accounts and limits ctrl ("cpu",
// "memory"): the v1 hierarchy that carries it, else the unified one. A container whose
// cgroup there is the root is refused: the stressor would be charged to no container.
func bounding(cgs []fault.Cgroup, ctrl string) (fault.Cgroup, error) {
	pick := -1
	for i, c := range cgs {
		if !c.Unified() && hasController(c, ctrl) {
			pick = i
			break
		}
	}
	if pick < 0 {
		for i, c := range cgs {
			if c.Unified() {
				pick = i
			}
		}
	}
	if pick < 0 {
		return fault.Cgroup{}, fmt.Errorf("the container has no %s cgroup (v1 %s hierarchy or v2 unified)", ctrl, ctrl)
	}
	c := cgs[pick]
	switch {
	case c.Path == "/":
		return c, fmt.Errorf("the container's %s cgroup is the node's root cgroup: a stressor there would be charged to no container", ctrl)
	case c.Dir == "":
		return c, fmt.Errorf("the container's %s cgroup %s is not reachable from the agent (the node's cgroup filesystem is mounted at %s in the helper pod)", ctrl, c.Path, HostCgroupDir)
	}
	return c, nil
}

func readFile(c fault.Cgroup, name string) (string, error) {
	b, err := os.ReadFile(filepath.Join(c.Dir, name))
	return strings.TrimSpace(string(b)), err
}

func readUint(c fault.Cgroup, name string) (uint64, error) {
	s, err := readFile(c, name)
	if err != nil {
		return 0, err
	}
	return strconv.ParseUint(s, 10, 64)
}

// memoryLimit is the cgroup's memory limit; ok is false when it has none.
func memoryLimit(c fault.Cgroup) (limit uint64, ok bool, err error) {
	if c.Unified() {
		s, err := readFile(c, "memory.max")
		if err != nil || s == "max" {
			return 0, false, err
		}
		v, err := strconv.ParseUint(s, 10, 64)
		return v, err == nil, err
	}
	v, err := readUint(c, "memory.limit_in_bytes")
	return v, err == nil && v < unlimitedV1, err
}

// memoryUsage is what the cgroup is charged now.
func memoryUsage(c fault.Cgroup) (uint64, error) {
	if c.Unified() {
		return readUint(c, "memory.current")
	}
	return readUint(c, "memory.usage_in_bytes")
}

// oomKills is the cgroup's count of processes the OOM killer killed (v2 memory.events,
// v1 memory.oom_control since Linux 4.13).
func oomKills(c fault.Cgroup) (uint64, error) {
	name := "memory.oom_control"
	if c.Unified() {
		name = "memory.events"
	}
	s, err := readFile(c, name)
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(s, "\n") {
		if v, ok := strings.CutPrefix(l, "oom_kill "); ok {
			return strconv.ParseUint(v, 10, 64)
		}
	}
	return 0, fmt.Errorf("%s has no oom_kill count", name)
}

// cpuLimit is the cgroup's CPU quota in CPUs; ok is false when it has none.
func cpuLimit(c fault.Cgroup) (cpus float64, ok bool) {
	if c.Unified() {
		s, err := readFile(c, "cpu.max")
		q, p, _ := strings.Cut(s, " ")
		qv, err1 := strconv.ParseFloat(q, 64)
		pv, err2 := strconv.ParseFloat(p, 64)
		if err != nil || err1 != nil || err2 != nil || pv <= 0 {
			return 0, false
		}
		return qv / pv, true
	}
	qs, err1 := readFile(c, "cpu.cfs_quota_us")
	pv, err2 := readUint(c, "cpu.cfs_period_us")
	qv, err3 := strconv.ParseInt(qs, 10, 64)
	if errors.Join(err1, err2, err3) != nil || qv <= 0 || pv == 0 {
		return 0, false
	}
	return float64(qv) / float64(pv), true
}

// cpuUsage is the CPU time the cgroup has used (v1 cpuacct.usage, v2 cpu.stat).
func cpuUsage(cgs []fault.Cgroup) (time.Duration, error) {
	for _, c := range cgs {
		if !c.Unified() && hasController(c, "cpuacct") && c.Dir != "" {
			v, err := readUint(c, "cpuacct.usage")
			return time.Duration(v), err
		}
	}
	for _, c := range cgs {
		if c.Unified() && c.Dir != "" {
			s, err := readFile(c, "cpu.stat")
			if err != nil {
				return 0, err
			}
			for _, l := range strings.Split(s, "\n") {
				if v, ok := strings.CutPrefix(l, "usage_usec "); ok {
					us, err := strconv.ParseUint(v, 10, 64)
					return time.Duration(us) * time.Microsecond, err
				}
			}
		}
	}
	return 0, errors.New("no cpuacct or unified cgroup")
}

// moveInto puts process pid into each of cgs that the agent reaches, then reads
// /proc/<pid>/cgroup back and checks it is where the container is. Run it on the host
// thread (the node's cgroup namespace). It returns the hierarchies it could not reach.
func moveInto(pid int, cgs []fault.Cgroup) (skipped []string, err error) {
	want := map[string]string{}
	for _, c := range cgs {
		if c.Dir == "" {
			skipped = append(skipped, hierarchy(c))
			continue
		}
		if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return skipped, fmt.Errorf("moving stressor pid %d into the %s cgroup %s: %w", pid, hierarchy(c), c.Path, err)
		}
		want[c.Controllers] = c.Path
	}
	got, err := container.Cgroups("/proc", pid)
	if err != nil {
		return skipped, fmt.Errorf("reading back the cgroups of stressor pid %d: %w", pid, err)
	}
	for _, c := range got {
		if p, ok := want[c.Controllers]; ok && p != c.Path {
			return skipped, fmt.Errorf("stressor pid %d is in the %s cgroup %s, not the container's %s", pid, hierarchy(c), c.Path, p)
		}
		delete(want, c.Controllers)
	}
	for ctrl, p := range want {
		return skipped, fmt.Errorf("stressor pid %d is in no %s cgroup after the move into %s", pid, hierarchy(fault.Cgroup{Controllers: ctrl}), p)
	}
	return skipped, nil
}

func hierarchy(c fault.Cgroup) string {
	if c.Unified() {
		return "unified (v2)"
	}
	return c.Controllers
}
