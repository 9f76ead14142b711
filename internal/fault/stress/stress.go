// Package stress implements the stress faults: a stressor process that burns CPU or
// holds memory, charged to the target container's cgroup and bounded by its limits.
//
// The stressor is the agent's own binary re-executed (package worker: no stress-ng in the
// image). It is started parked, moved into every cgroup hierarchy the container is in
// (v1: each controller hierarchy; v2: the unified cgroup), journaled with its PID and
// start time, and only then released. It runs in the container's PID namespace where it
// can, dies with the agent (parent-death signal, set from a thread that lives as long as
// the agent) and is killed, and checked gone, on recovery.
//
// Validate, Describe and the texts shared with the agent's events are portable; the
// agent side is in *_linux.go.
package stress

import (
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits of the accepted values.
const (
	MaxCPUWorkers    = 128
	MaxMemoryWorkers = 64
	MinLoad          = 1   // percent of one CPU per worker
	MaxLoad          = 100 // percent of one CPU per worker
	MinMemoryBytes   = 1 << 20
	MaxMemoryBytes   = 1 << 40
	// MaxMemoryPercent: a percentage is of the container's memory limit; above 100 % a
	// byte size says what is meant (and gets the OOM behaviour, reported as such).
	MaxMemoryPercent = 100
)

// Validate checks a stress spec before anything is created. Errors name the CLI flag
// and the accepted range.
func Validate(s *plan.Stress) error {
	switch {
	case s == nil || (s.CPU == nil && s.Memory == nil):
		return fmt.Errorf("stress fault: nothing to do (give cpu or memory)")
	case s.CPU != nil && s.Memory != nil:
		return fmt.Errorf("stress fault: cpu and memory are separate experiments, give one")
	}
	if c := s.CPU; c != nil {
		if c.Workers < 1 || c.Workers > MaxCPUWorkers {
			return fmt.Errorf("--workers must be between 1 and %d, got %d", MaxCPUWorkers, c.Workers)
		}
		if c.Load < MinLoad || c.Load > MaxLoad {
			return fmt.Errorf("--load must be between %d and %d (percent of one CPU per worker), got %d", MinLoad, MaxLoad, c.Load)
		}
		return nil
	}
	m := s.Memory
	if m.Workers < 0 || m.Workers > MaxMemoryWorkers {
		return fmt.Errorf("--workers must be between 1 and %d, got %d", MaxMemoryWorkers, m.Workers)
	}
	switch {
	case m.Bytes == 0 && m.Percent == 0:
		return fmt.Errorf("--size is missing or 0: give a size like 256Mi or a percentage of the memory limit like 50%%")
	case m.Bytes > 0 && m.Percent != 0:
		return fmt.Errorf("--size is either a size (256Mi) or a percentage of the memory limit (50%%), not both")
	case m.Percent != 0:
		if !(m.Percent > 0 && m.Percent <= MaxMemoryPercent) {
			return fmt.Errorf("--size as a percentage of the container's memory limit must be in (0%%, %d%%], got %g%%; above the limit give a size like 1Gi", MaxMemoryPercent, m.Percent)
		}
	case m.Bytes < MinMemoryBytes || m.Bytes > MaxMemoryBytes:
		return fmt.Errorf("--size must be between %s and %s (or a percentage of the memory limit like 50%%), got %s",
			plan.FormatBytes(MinMemoryBytes), plan.FormatBytes(MaxMemoryBytes), plan.FormatBytes(m.Bytes))
	}
	return nil
}

// Workers is the number of worker threads the spec asks for (memory defaults to 1).
func Workers(s *plan.Stress) int {
	if s.CPU != nil {
		return s.CPU.Workers
	}
	return max(s.Memory.Workers, 1)
}

// WorkText says what the stressor does: "2 workers each busy 50% of one CPU",
// "1 worker holding 256Mi". The agent passes the size it computed from a percentage.
func WorkText(s *plan.Stress, bytes uint64) string {
	n := Workers(s)
	w := fmt.Sprintf("%d worker", n)
	if n > 1 {
		w += "s"
	}
	if s.CPU != nil {
		return fmt.Sprintf("%s each busy %d%% of one CPU", w, s.CPU.Load)
	}
	if bytes == 0 {
		return w + " holding " + s.Memory.SizeText()
	}
	return w + " holding " + plan.FormatBytes(bytes)
}

// RemoveText is how a stressor goes away, in --dry-run and in the agent's events.
const RemoveText = "SIGKILL, then checked gone by PID and start time; it also dies with the agent " +
	"(parent-death signal), and a restarted agent or a sweep kills it from the journal"

// ProcessObject is the stressor as --dry-run and the agent's events show it; where says
// what the agent found (PID, cgroup, namespace), "" for the plan.
func ProcessObject(s *plan.Stress, bytes uint64, where string) plan.Object {
	spec := "stressor (the agent binary re-executed): " + WorkText(s, bytes)
	if where == "" {
		where = "started parked, moved into the container's cgroups (v1: every hierarchy it is in; " +
			"v2: its cgroup), then released, so it is charged to the container and bounded by its " +
			"limits; in the container's PID namespace where possible"
	}
	return plan.Object{Kind: "process", Spec: spec + "; " + where, Remove: RemoveText}
}

// Describe lists what a stress fault creates on each target, for --dry-run.
func Describe(s *plan.Stress) []plan.Object {
	o := ProcessObject(s, 0, "")
	if m := s.Memory; m != nil && m.Percent > 0 {
		o.Condition = "if the container has a memory limit (a percentage is refused without one)"
	}
	return []plan.Object{o}
}
