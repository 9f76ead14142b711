// Package container is the container fault family, done by the agent on the target's
// node: `container pause` freezes the container's cgroup (cgroup v1 freezer or v2
// cgroup.freeze) until the fault ends, `container kill` signals its main process once
// (containerd's task API, kill(2) on the host PID as the fallback). This file is the
// portable part: the catalog entry (validation, dry-run text) and the signal table;
// the agent side is in *_linux.go.
package container

import (
	"fmt"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultSignal is what `container kill` sends without --signal.
const DefaultSignal = "KILL"

// signals are the signals `container kill` may send, with their Linux numbers (the
// agent runs on Linux nodes; this table is portable so the CLI can validate anywhere).
var signals = map[string]int{
	"HUP": 1, "INT": 2, "QUIT": 3, "ABRT": 6, "KILL": 9, "USR1": 10, "USR2": 12, "ALRM": 14, "TERM": 15,
}

// jobControl are refused: they leave the container stopped with nothing to undo it.
var jobControl = []string{"STOP", "TSTP", "TTIN", "TTOU", "CONT"}

func init() {
	catalog.Register(catalog.Kind[*plan.Container]{
		Name:       plan.KindContainer,
		Validate:   Validate,
		Describe:   Describe,
		Scope:      "on each target container, by the helper pod on its node",
		HostMounts: []catalog.HostMount{catalog.HostCgroup},
		OneShot:    func(c *plan.Container) bool { return c.Action == plan.ContainerKill },
		Follow:     follow,
	})
}

// SignalNames lists the accepted --signal values.
func SignalNames() []string {
	out := make([]string, 0, len(signals))
	for n := range signals {
		out = append(out, n)
	}
	sort.Slice(out, func(i, j int) bool { return signals[out[i]] < signals[out[j]] })
	return out
}

// NormalizeSignal turns "sigterm", "SIGTERM", "term" into "TERM".
func NormalizeSignal(s string) string {
	return strings.TrimPrefix(strings.ToUpper(strings.TrimSpace(s)), "SIG")
}

// SignalNumber returns the Linux number of a --signal value.
func SignalNumber(s string) (int, error) {
	name := NormalizeSignal(s)
	if n, ok := signals[name]; ok {
		return n, nil
	}
	if slices.Contains(jobControl, name) {
		return 0, fmt.Errorf("--signal %s: job-control signals are refused (SIG%s would leave the container stopped with nothing to undo it); use kubectl chaos container pause, which thaws it when the fault ends", s, name)
	}
	return 0, fmt.Errorf("--signal %q: unknown signal; accepted: %s (with or without SIG)", s, strings.Join(SignalNames(), ", "))
}

// Validate checks a container fault spec.
func Validate(c *plan.Container) error {
	switch c.Action {
	case plan.ContainerPause:
		if c.Signal != "" {
			return fmt.Errorf("--signal applies to container kill, not pause")
		}
		return nil
	case plan.ContainerKill:
		_, err := SignalNumber(c.Signal)
		return err
	}
	return fmt.Errorf("container fault action %q: want %s or %s", c.Action, plan.ContainerPause, plan.ContainerKill)
}

// Describe is what --dry-run lists for the fault: the same objects the agent reports.
func Describe(c *plan.Container) []plan.Object {
	switch c.Action {
	case plan.ContainerPause:
		return []plan.Object{
			FreezeObject(1, "<freezer hierarchy>/<container's cgroup>"),
			FreezeObject(2, "<container's cgroup>"),
		}
	case plan.ContainerKill:
		return []plan.Object{SignalObject(NormalizeSignal(c.Signal), 0, "")}
	}
	return nil
}

// FreezeObject describes a frozen cgroup (v1 freezer or v2 cgroup.freeze) at dir.
func FreezeObject(version int, dir string) plan.Object {
	if version == 1 {
		return plan.Object{Kind: "cgroup-freeze",
			Spec:      "freezer.state=FROZEN in " + dir + " (every process of the container stops)",
			Remove:    "freezer.state=THAWED (also from the journal after a crash)",
			Condition: "cgroup v1 (the node has a freezer hierarchy)"}
	}
	return plan.Object{Kind: "cgroup-freeze",
		Spec:      "cgroup.freeze=1 in " + dir + " (every process of the container stops)",
		Remove:    "cgroup.freeze=0 (also from the journal after a crash)",
		Condition: "cgroup v2"}
}

// SignalObject describes the signal sent to the container's main process (pid 0: not
// known yet); via says how it was delivered.
func SignalObject(name string, pid int, via string) plan.Object {
	target := "the container's main process"
	if pid > 0 {
		target += fmt.Sprintf(" (host pid %d)", pid)
	}
	if via == "" {
		via = "containerd's task API (kill(2) on the host PID if containerd cannot)"
	}
	return plan.Object{Kind: "signal",
		Spec:   "SIG" + name + " to " + target + " via " + via,
		Remove: "nothing to undo: the kubelet restarts the container as its restartPolicy says"}
}
