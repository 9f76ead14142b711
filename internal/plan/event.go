package plan

import (
	"encoding/json"
	"time"
)

// Event types the agent writes, one JSON object per line, on stdout.
const (
	EventStarted   = "started"   // agent up, plan read; Message says the agent version
	EventResolved  = "resolved"  // a target's container resolved to PID/netns
	EventNote      = "note"      // information, e.g. "sch_netem missing: loss via nftables"
	EventInjected  = "injected"  // the fault is active on Target; Objects = what was created
	EventHeartbeat = "heartbeat" // periodic while active
	EventRecovered = "recovered" // the fault is gone from Target; Objects = what was removed
	EventError     = "error"     // something failed on Target (or the agent if Target is empty)
	EventExit      = "exit"      // the agent is about to exit; Reason says why
	// EventCounters carries what the agent read back from the objects it created on
	// Target (Counters), every second while attached, every heartbeat when detached,
	// and once just before recovery.
	EventCounters = "counters"
)

// Stop reasons, in EventExit.Reason and Result.Reason.
const (
	ReasonEOF         = "operator-gone" // stdin EOF while attached
	ReasonSignal      = "signal"        // SIGTERM/SIGINT to the agent (pod deleted, kubectl chaos stop)
	ReasonDeadline    = "deadline"      // the plan's deadline passed
	ReasonStopped     = "stopped"       // the operator asked on stdin ("stop" line)
	ReasonFailed      = "failed"        // could not apply on any target
	ReasonNoHeartbeat = "no-heartbeat"  // restarted agent heard no operator in time
	ReasonDone        = "done"          // a one-shot fault (container kill) was done
)

// Event is one line of the agent's stdout.
type Event struct {
	Time    time.Time `json:"time"`
	Type    string    `json:"type"`
	Node    string    `json:"node,omitempty"`
	Target  string    `json:"target,omitempty"` // Target.String()
	Message string    `json:"message,omitempty"`
	Error   string    `json:"error,omitempty"`
	Reason  string    `json:"reason,omitempty"`
	Objects []Object  `json:"objects,omitempty"`
	// Elapsed is, for injected/recovered, how long that step took on the agent.
	Elapsed Duration `json:"elapsed,omitempty"`
	// Restart counts how many times this agent was started for this experiment (0 = first).
	Restart int `json:"restart,omitempty"`
	// Marks, on the first injected event, are the agent's steps up to it with their
	// times (process start, plan read, first heartbeat, resolved, …): the phase table
	// of make bench-e2e and `-v` read them.
	Marks []Mark `json:"marks,omitempty"`
	// Counters, for EventCounters: running totals (and levels) read from the kernel.
	Counters []Counter `json:"counters,omitempty"`
	// NoTraffic, for EventCounters: the fault has been active for a while and none of
	// its traffic counters moved ("no traffic matched yet").
	NoTraffic bool `json:"noTraffic,omitempty"`
	// Step, from a serving agent (Plan.Serve), is the experiment ID of the step plan the
	// event belongs to; an exit event with Step is that step's end, not the agent's.
	Step string `json:"step,omitempty"`
}

// Mark is one named moment of the agent's start.
type Mark struct {
	Name string    `json:"name"`
	At   time.Time `json:"at"`
}

// Counter is one number the agent reads back from what it put in the kernel: packets
// an nft rule matched or dropped, a qdisc's sent/dropped/backlog, packets the NFQUEUE
// loop holds, queries a resolver altered.
type Counter struct {
	// Name says what is counted, e.g. "nft matched", "netem dropped", "nfqueue held".
	Name  string `json:"name"`
	Value uint64 `json:"value"`
	// Unit of Value: "packets", "bytes", "queries", "processes", "cpu-ms" (UnitCPUMillis).
	Unit string `json:"unit,omitempty"`
	// Gauge: a level (a backlog, packets held now), shown as is; otherwise a running
	// total, shown as a rate.
	Gauge bool `json:"gauge,omitempty"`
	// Traffic: counts traffic the fault's filter matched. When every Traffic counter of
	// a target stays 0, nothing matched the fault.
	Traffic bool `json:"traffic,omitempty"`
}

// Counter units the live view formats: sizes in bytes (a gauge shown as 12.5Mi), CPU
// time in milliseconds (a running total whose rate is shown as the CPUs it uses).
const (
	UnitBytes     = "bytes"
	UnitCPUMillis = "cpu-ms"
)

// Object is one kernel object the fault creates (dry-run, events) and how it is removed.
type Object struct {
	// Kind: "qdisc", "nft-table", "nft-chain", "nft-rule", "nfqueue", "process", ...
	Kind string `json:"kind"`
	// Where: the target netns (by inode) and interface, when they apply.
	Netns     string `json:"netns,omitempty"`
	Interface string `json:"interface,omitempty"`
	// Spec is the object in tc/nft words, e.g. "netem delay 100ms handle 4b43: root".
	Spec string `json:"spec"`
	// Remove is how it goes away, e.g. "qdisc del dev eth0 handle 4b43: root" or
	// "kernel deletes owned table when the agent's netlink socket closes".
	Remove string `json:"remove"`
	// Condition, for dry-run alternatives, e.g. "if sch_netem is available".
	Condition string `json:"condition,omitempty"`
}

// Command lines the CLI writes on the agent's stdin. A serving agent (Plan.Serve) also
// takes "plan KEY JSON" (apply this step plan) and "stop STEP" (recover that step
// only); an agent of one plan ignores both, as it ignores every line it does not know.
const (
	StdinHeartbeat = "heartbeat"
	StdinStop      = "stop"
	StdinPlan      = "plan"
)

// Result is the agent's final word, written to the termination message
// (/dev/termination-log, at most 4096 bytes: keep it compact).
type Result struct {
	Experiment string         `json:"experiment"`
	Node       string         `json:"node"`
	Reason     string         `json:"reason"`
	Targets    []TargetResult `json:"targets"`
	Error      string         `json:"error,omitempty"`
}

// TargetResult is how one target fared.
type TargetResult struct {
	Target      string    `json:"target"`
	Injected    bool      `json:"injected"`
	Recovered   bool      `json:"recovered"`
	InjectedAt  time.Time `json:"injectedAt,omitzero"`
	RecoveredAt time.Time `json:"recoveredAt,omitzero"`
	Error       string    `json:"error,omitempty"`
	// Step and PodUID: set by a serving agent (the helpers of kubectl chaos run), whose
	// result gathers the targets of every step: the step's experiment ID and the pod's
	// UID, for the Events ls and gc write when the CLI could not.
	Step   string `json:"step,omitempty"`
	PodUID string `json:"podUID,omitempty"`
}

// OK reports whether every target was injected and recovered without error.
func (r *Result) OK() bool {
	if r.Error != "" {
		return false
	}
	for _, t := range r.Targets {
		if t.Error != "" || !t.Injected || !t.Recovered {
			return false
		}
	}
	return true
}

// EncodeEvent returns the event as one JSON line (without the newline).
func EncodeEvent(e Event) []byte {
	b, _ := json.Marshal(e)
	return b
}
