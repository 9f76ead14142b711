package container

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// Accounting and limits read from a container's cgroups (v1 and v2 file names).

// ControllerCgroup returns the cgroup of cgs that accounts and limits controller ctrl
// ("cpu", "memory"): the v1 hierarchy that carries it, else the unified one.
func ControllerCgroup(cgs []fault.Cgroup, ctrl string) (fault.Cgroup, bool) {
	for _, c := range cgs {
		if !c.Unified() && HasController(c, ctrl) {
			return c, true
		}
	}
	for _, c := range cgs {
		if c.Unified() {
			return c, true
		}
	}
	return fault.Cgroup{}, false
}

// unlimitedV1 is where a v1 limit counts as none (the kernel reports PAGE_COUNTER_MAX
// pages, 9223372036854771712 bytes on 4 KiB pages).
const unlimitedV1 = 1 << 62

// HasController reports whether a v1 hierarchy carries controller ctrl.
func HasController(c fault.Cgroup, ctrl string) bool {
	for _, x := range strings.Split(c.Controllers, ",") {
		if x == ctrl {
			return true
		}
	}
	return false
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

// MemoryLimit is the cgroup's memory limit; ok is false when it has none.
func MemoryLimit(c fault.Cgroup) (limit uint64, ok bool, err error) {
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

// MemoryUsage is what the cgroup is charged now.
func MemoryUsage(c fault.Cgroup) (uint64, error) {
	if c.Unified() {
		return readUint(c, "memory.current")
	}
	return readUint(c, "memory.usage_in_bytes")
}

// OOMKills is the cgroup's count of processes the OOM killer killed (v2 memory.events,
// v1 memory.oom_control since Linux 4.13).
func OOMKills(c fault.Cgroup) (uint64, error) {
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

// CPULimit is the cgroup's CPU quota in CPUs; ok is false when it has none.
func CPULimit(c fault.Cgroup) (cpus float64, ok bool) {
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

// CPUUsage is the CPU time the cgroup has used (v1 cpuacct.usage, v2 cpu.stat).
func CPUUsage(cgs []fault.Cgroup) (time.Duration, error) {
	for _, c := range cgs {
		if !c.Unified() && HasController(c, "cpuacct") && c.Dir != "" {
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
