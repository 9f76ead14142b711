package agent

// Forged plans (issue 16, security): the agent checks again what it is about to touch.
// A resolver stands in for a plan whose container leads to the wrong place — the node's
// own network or mount namespace, or a process outside the named container's cgroup —
// and a plan whose spec the CLI would never send. Each is refused before anything is
// created: no journal entry, the node's own qdiscs byte for byte as before and no nft
// table of the experiment.

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/container"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/dns"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/iofault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/timefault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// hostResolver resolves every target to this test process: the node's own network and
// mount namespaces, and cgroups that name no container.
type hostResolver struct{ ino uint64 }

func (h hostResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: os.Getpid(), NetnsPath: "/proc/self/ns/net", NetnsInode: h.ino}, nil
}

// nodeState is what the node's network shows of its own: the qdiscs of lo and of the
// default route's links, and the nft ruleset lines that could be this experiment's.
// (Other engineers' tests add and remove links and tables in parallel.)
func nodeState(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	out, err := exec.Command("tc", "qdisc", "show").CombinedOutput()
	if err != nil {
		t.Fatalf("tc qdisc show: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, " dev lo ") || strings.Contains(l, " dev eth") || strings.Contains(l, " dev ens") {
			b.WriteString(l + "\n")
		}
	}
	out, err = exec.Command("nft", "list", "tables").CombinedOutput()
	if err != nil {
		t.Fatalf("nft list tables: %v\n%s", err, out)
	}
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "robust01") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestForgedPlansRefused(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	ino, err := nsutil.Inode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	ms := func(n int) plan.Duration { return plan.Duration(time.Duration(n) * time.Millisecond) }
	cases := []struct {
		name string
		f    plan.Fault
		want string
	}{
		{"tc bandwidth in the node's netns", plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth",
			Network: &plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}}}, "node's own network namespace"},
		{"nft loss in the node's netns", plan.Fault{Kind: plan.KindNetwork, Action: "loss",
			Network: &plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: "nft"}}, "node's own network namespace"},
		{"partition of the node", plan.Fault{Kind: plan.KindNetwork, Action: "partition",
			Network: &plan.Network{Partition: &plan.Partition{Direction: "both", Peers: []string{"0.0.0.0/0"}}}}, "node's own network namespace"},
		{"dns redirect in the node's netns", plan.Fault{Kind: plan.KindDNS,
			DNS: &plan.DNS{Patterns: []string{"example.com"}, Error: "SERVFAIL"}}, "node's own network namespace"},
		{"io mount in the node's mount ns", plan.Fault{Kind: plan.KindIO, Action: "latency",
			IO: &plan.IO{Path: "/tmp", Percent: 100, Latency: &plan.IOLatency{Delay: ms(10)}}}, "node's own mount namespace"},
		{"freeze a cgroup outside the container", plan.Fault{Kind: plan.KindContainer, Action: "pause",
			Container: &plan.Container{Action: "pause"}}, "container"},
		{"stress charged outside the container", plan.Fault{Kind: plan.KindStress, Action: "cpu",
			Stress: &plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 10}}}, "outside the target container"},
		{"time shift of processes outside the container", plan.Fault{Kind: plan.KindTime, Action: "shift",
			Time: &plan.TimeShift{Offset: plan.Duration(time.Hour)}}, "container"},
		// Specs the CLI never sends: refused by the catalog's Validate, run again.
		{"io path escaping the container root", plan.Fault{Kind: plan.KindIO, Action: "latency",
			IO: &plan.IO{Path: "/data/../../etc", Percent: 100, Latency: &plan.IOLatency{Delay: ms(10)}}}, "--path"},
		{"unknown kind", plan.Fault{Kind: "rootkit"}, "rootkit"},
		{"latency past the limit", plan.Fault{Kind: plan.KindNetwork, Action: "delay",
			Network: &plan.Network{Delay: &plan.Delay{Latency: plan.Duration(time.Hour)}}}, "--latency"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := nodeState(t)
			p := testPlan(1, plan.Noop{})
			p.Experiment = "chaos-robust01"
			p.Fault = tc.f
			p.Targets[0].ContainerID = "containerd://" + strings.Repeat("ab", 32)
			r := start(t, p, func(o *Options) { o.Resolver = hostResolver{ino} })
			r.wait(t)
			r.checkEnd(t, plan.ReasonFailed)
			msg := r.res.Error
			for _, tr := range r.res.Targets {
				msg += " " + tr.Error
				if tr.Injected {
					t.Errorf("target %s was injected", tr.Target)
				}
			}
			if !strings.Contains(msg, tc.want) {
				t.Errorf("refusal %q does not say %q", msg, tc.want)
			}
			r.checkJournalEmpty(t)
			if after := nodeState(t); after != before {
				t.Errorf("the node's qdiscs or nft ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
			}
		})
	}
}
