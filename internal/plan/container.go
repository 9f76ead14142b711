package plan

import "strings"

// KindContainer is the container fault family: the agent acts on one container of a
// pod on the node (freeze its cgroup, signal its main process).
const KindContainer = "container"

// Container actions.
const (
	ContainerPause = "pause" // freeze the container's cgroup until the fault ends
	ContainerKill  = "kill"  // signal the container's main process once
)

// Container is a container fault.
type Container struct {
	// Action is ContainerPause or ContainerKill.
	Action string `json:"action"`
	// Signal is the signal name for kill, without "SIG" ("KILL", "TERM", …).
	Signal string `json:"signal,omitempty"`
}

// Summary is "pause" or "kill SIGKILL".
func (c *Container) Summary() string {
	if c.Action == ContainerKill {
		return "kill SIG" + strings.ToUpper(strings.TrimPrefix(strings.ToUpper(c.Signal), "SIG"))
	}
	return c.Action
}
