package stress

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// bounding returns the container's cgroup that accounts and limits ctrl ("cpu",
// "memory"): the v1 hierarchy that carries it, else the unified one. A container whose
// cgroup there is the root is refused: the stressor would be charged to no container.
func bounding(cgs []fault.Cgroup, ctrl string) (fault.Cgroup, error) {
	c, ok := container.ControllerCgroup(cgs, ctrl)
	if !ok {
		return fault.Cgroup{}, fmt.Errorf("the container has no %s cgroup (v1 %s hierarchy or v2 unified)", ctrl, ctrl)
	}
	switch {
	case c.Path == "/":
		return c, fmt.Errorf("the container's %s cgroup is the node's root cgroup: a stressor there would be charged to no container", ctrl)
	case c.Dir == "":
		return c, fmt.Errorf("the container's %s cgroup %s is not reachable from the agent (the node's cgroup filesystem is mounted at %s in the helper pod)", ctrl, c.Path, HostCgroupDir)
	}
	return c, nil
}

// moveInto puts process pid into each of cgs that the agent reaches, then reads
// /proc/<pid>/cgroup back and checks it is where the container is. Run it on the host
// thread (the node's cgroup namespace). It returns the hierarchies it could not reach.
func moveInto(pid int, cgs []fault.Cgroup) (skipped []string, err error) {
	want := map[string]string{}
	for _, c := range cgs {
		if c.Dir == "" {
			skipped = append(skipped, container.HierarchyName(c))
			continue
		}
		if err := os.WriteFile(filepath.Join(c.Dir, "cgroup.procs"), []byte(strconv.Itoa(pid)), 0); err != nil {
			return skipped, fmt.Errorf("moving stressor pid %d into the %s cgroup %s: %w", pid, container.HierarchyName(c), c.Path, err)
		}
		want[c.Controllers] = c.Path
	}
	got, err := container.Cgroups("/proc", pid)
	if err != nil {
		return skipped, fmt.Errorf("reading back the cgroups of stressor pid %d: %w", pid, err)
	}
	for _, c := range got {
		if p, ok := want[c.Controllers]; ok && p != c.Path {
			return skipped, fmt.Errorf("stressor pid %d is in the %s cgroup %s, not the container's %s", pid, container.HierarchyName(c), c.Path, p)
		}
		delete(want, c.Controllers)
	}
	for ctrl, p := range want {
		return skipped, fmt.Errorf("stressor pid %d is in no %s cgroup after the move into %s", pid, container.HierarchyName(fault.Cgroup{Controllers: ctrl}), p)
	}
	return skipped, nil
}
