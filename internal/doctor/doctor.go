// Package doctor says what works on a node: the probe (an agent mode, `kubectl-chaos
// agent --probe`, which also runs standalone on any Linux machine) tries each kernel
// feature the fault kinds use in a throwaway network namespace and reports a Report;
// Needs maps each fault to the checks it needs, so `kubectl chaos doctor --fault X`
// can say which nodes cannot run X.
package doctor

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"text/tabwriter"
)

// Status of one check.
type Status string

// The statuses: ok, a fallback the tool uses instead, missing (what needs it fails).
const (
	OK       Status = "ok"
	Fallback Status = "fallback"
	Missing  Status = "missing"
)

// The checks a probe makes, by name.
const (
	Runtime  = "runtime"   // container runtime socket (else the /proc scan)
	Cgroup   = "cgroup"    // cgroup version and mount
	Freezer  = "freezer"   // cgroup freezer (container pause)
	Netem    = "sch_netem" // netem qdisc (delay, loss, duplicate, corrupt, reorder)
	TBF      = "tbf"       // tbf qdisc (bandwidth)
	NFTables = "nftables"  // an owned nft table with a filter chain (partition, dns, netem-less loss and duplicate)
	NFQueue  = "nfqueue"   // nft queue (native), or the xt NFQUEUE target through nft_compat
	FUSE     = "fuse"      // /dev/fuse (io faults)
	Ptrace   = "ptrace"    // CAP_SYS_PTRACE and Yama (time faults)
)

// Check is one line of a probe's report.
type Check struct {
	Name   string `json:"name"`
	Status Status `json:"status"`
	Detail string `json:"detail,omitempty"`
}

// Report is what a probe found on one node.
type Report struct {
	Node   string  `json:"node,omitempty"`
	Kernel string  `json:"kernel,omitempty"`
	Checks []Check `json:"checks"`
	// Error says why the probe did not run (set by the CLI for a node it could not probe).
	Error string `json:"error,omitempty"`
}

// Get returns the check called name (Missing with a detail if the probe made none).
func (r Report) Get(name string) Check {
	for _, c := range r.Checks {
		if c.Name == name {
			return c
		}
	}
	return Check{Name: name, Status: Missing, Detail: "not probed"}
}

// needs lists, per fault, alternatives of checks: the fault works when every group has
// one check that is not Missing. Faults that go through the API alone (pod kill,
// pod failure) need nothing on the node.
var needs = map[string][][]string{
	"network.delay":     {{Netem, NFQueue}},
	"network.loss":      {{Netem, NFTables}},
	"network.duplicate": {{Netem, NFTables}},
	"network.corrupt":   {{Netem, NFQueue}},
	"network.reorder":   {{Netem, NFQueue}},
	"network.bandwidth": {{TBF}},
	"network.partition": {{NFTables}},
	"network.dns":       {{NFTables}},
	"stress.cpu":        {{Cgroup}},
	"stress.memory":     {{Cgroup}},
	"io.latency":        {{FUSE}},
	"io.fault":          {{FUSE}},
	"io.attr":           {{FUSE}},
	"time.shift":        {{Ptrace}},
	"container.pause":   {{Freezer}},
	"container.kill":    {{Runtime}},
	"pod.kill":          nil,
	"pod.failure":       nil,
}

// backends are the checks a fault's --X-backend flag can pin it to (the network
// faults' auto|netem|nfqueue|nft): `--fault network.delay:netem` asks whether delay
// with --delay-backend netem can work, where plain network.delay also accepts the
// fallback auto would pick.
var backends = map[string]string{"netem": Netem, "nfqueue": NFQueue, "nft": NFTables}

// Faults returns the fault names --fault accepts, sorted (each may take a
// :BACKEND suffix, see FaultBackends).
func Faults() []string {
	out := make([]string, 0, len(needs))
	for f := range needs {
		out = append(out, f)
	}
	sort.Strings(out)
	return out
}

// FaultBackends returns the backends fault (without suffix) can be pinned to, sorted.
func FaultBackends(fault string) []string {
	var out []string
	for b, check := range backends {
		if slices.ContainsFunc(needs[fault], func(alts []string) bool { return len(alts) > 1 && slices.Contains(alts, check) }) {
			out = append(out, b)
		}
	}
	sort.Strings(out)
	return out
}

// CheckFault says what is wrong with a --fault value: FAMILY.ACTION or
// FAMILY.ACTION:BACKEND (nil when it is right).
func CheckFault(f string) error {
	name, backend, pinned := strings.Cut(f, ":")
	if _, ok := needs[name]; !ok {
		return fmt.Errorf("--fault %q: want one of %s (network faults also FAULT:BACKEND, e.g. network.delay:netem)", f, strings.Join(Faults(), ", "))
	}
	if !pinned {
		return nil
	}
	if bs := FaultBackends(name); !slices.Contains(bs, backend) {
		if len(bs) == 0 {
			return fmt.Errorf("--fault %q: %s has no backend to choose; use --fault %s", f, name, name)
		}
		return fmt.Errorf("--fault %q: the backend of %s is one of %s", f, name, strings.Join(bs, ", "))
	}
	return nil
}

// ValidFault reports whether f is a value --fault accepts.
func ValidFault(f string) bool { return CheckFault(f) == nil }

// groups is what fault (maybe :BACKEND) needs: needs[fault], with a pinned backend's
// group narrowed to that backend's check alone.
func groups(fault string) [][]string {
	name, backend, pinned := strings.Cut(fault, ":")
	if !pinned {
		return needs[name]
	}
	check := backends[backend]
	var out [][]string
	for _, alts := range needs[name] {
		if slices.Contains(alts, check) {
			alts = []string{check}
		}
		out = append(out, alts)
	}
	return out
}

// Blockers returns, for fault on r's node, what is missing ("" when it can run).
func Blockers(r Report, fault string) []string {
	if r.Error != "" {
		return []string{"not probed: " + r.Error}
	}
	var out []string
	for _, alts := range groups(fault) {
		if !slices.ContainsFunc(alts, func(n string) bool { return r.Get(n).Status != Missing }) {
			out = append(out, strings.Join(alts, " or ")+" missing")
		}
	}
	return out
}

// Relevant reports whether check name matters to any of faults (all when none given).
func Relevant(name string, faults []string) bool {
	if len(faults) == 0 {
		return true
	}
	for _, f := range faults {
		for _, alts := range groups(f) {
			if slices.Contains(alts, name) {
				return true
			}
		}
	}
	return false
}

// PrintTable writes reports as one table: NODE CHECK STATUS DETAIL, only the checks that
// matter to faults (all when none given).
func PrintTable(w io.Writer, reports []Report, faults []string) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NODE\tCHECK\tSTATUS\tDETAIL")
	for _, r := range reports {
		node := r.Node
		if node == "" {
			node = "(local)"
		}
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", node, "probe", Missing, r.Error)
			continue
		}
		if r.Kernel != "" {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", node, "kernel", OK, r.Kernel)
		}
		for _, c := range r.Checks {
			if Relevant(c.Name, faults) {
				fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", node, c.Name, c.Status, c.Detail)
			}
		}
	}
	return tw.Flush()
}
