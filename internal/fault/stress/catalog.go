package stress

import (
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// HostCgroupDir is the node's cgroup filesystem, mounted at the same path in the helper:
// on a cgroup v2 node the helper's own /sys/fs/cgroup is only its own subtree (its
// cgroup namespace), and the stressor must be moved into the target's cgroup.
var HostCgroupDir = catalog.HostCgroup.Path

func init() {
	catalog.Register(catalog.Kind[*plan.Stress]{
		Name:       plan.KindStress,
		Validate:   Validate,
		Describe:   Describe,
		Scope:      "started on each target's node and charged to the target container's cgroups",
		Details:    details,
		HostMounts: []catalog.HostMount{catalog.HostCgroup},
	})
}

// details are the dry-run header lines: how the load or size relates to the limits.
func details(s *plan.Stress) []catalog.Detail {
	if c := s.CPU; c != nil {
		return []catalog.Detail{{Name: "Load", Value: fmt.Sprintf(
			"%d × %d%% = %g CPU per container, bounded by the container's CPU limit (shared with its own processes)",
			c.Workers, c.Load, float64(c.Workers*c.Load)/100)}}
	}
	m := s.Memory
	if m.Percent > 0 {
		return []catalog.Detail{{Name: "Memory", Value: fmt.Sprintf(
			"%g%% of each container's memory limit, read from its cgroup on the node", m.Percent)}}
	}
	return []catalog.Detail{{Name: "Memory", Value: plan.FormatBytes(m.Bytes) + " per container; above a container's " +
		"memory limit the kernel's OOM killer acts as it would for the container's own processes, and the report says so"}}
}
