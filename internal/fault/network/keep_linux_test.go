package network

import (
	"context"
	"os/exec"
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// inNetns runs a command in tp's target namespace and returns its output.
func (tp *topo) inNetns(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", tp.tName}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %v\n%s", args, err, out)
	}
	return string(out)
}

// TestPodsOwnQdiscAndTablesKept (issue 16): a pod whose eth0 already carries a root
// qdisc of its own (tbf or htb with a class, set by someone else) and which has an nft
// table of its own keeps both byte for byte: a tc fault on that interface is refused
// before anything is journaled; nft faults (loss, partition) go into our own table
// and leave theirs as it was during the fault and after recovery.
func TestPodsOwnQdiscAndTablesKept(t *testing.T) {
	for _, root := range [][]string{
		{"tc qdisc add dev eth0 root handle 1: tbf rate 10mbit burst 32kb latency 50ms"},
		{"tc qdisc add dev eth0 root handle 1: htb default 10", "tc class add dev eth0 parent 1: classid 1:10 htb rate 5mbit ceil 8mbit"},
	} {
		t.Run(strings.Fields(root[0])[8], func(t *testing.T) {
			tp := newTopo(t)
			for _, c := range root {
				tp.inNetns(t, strings.Fields(c)...)
			}
			tp.inNetns(t, "nft", "add table inet robust_own ; add chain inet robust_own out { type filter hook output priority 0 ; policy accept ; } ; add rule inet robust_own out ip daddr 192.0.2.1 drop")
			state := func() string {
				return tp.inNetns(t, "tc", "qdisc", "show", "dev", "eth0") + tp.inNetns(t, "tc", "class", "show", "dev", "eth0") +
					tp.inNetns(t, "nft", "list", "table", "inet", "robust_own")
			}
			before := state()

			_, rec, err := applyExp(t, tp, "chaos-robust01", plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}})
			if err == nil || !strings.Contains(err.Error(), "not kubectl-chaos's") {
				t.Fatalf("bandwidth over the pod's own root qdisc: %v, want a refusal that says why", err)
			}
			if len(rec.entries) != 0 {
				t.Errorf("the refused fault journaled %d entries", len(rec.entries))
			}
			if got := state(); got != before {
				t.Fatalf("refused tc fault changed the pod's own objects:\nbefore:\n%s\nafter:\n%s", before, got)
			}

			for _, n := range []plan.Network{
				{Loss: &plan.Percent{Percent: 50}, LossBackend: BackendNFT},
				{Partition: &plan.Partition{Direction: "both", Peers: []string{"192.0.2.0/24"}}},
			} {
				act, _, err := applyExp(t, tp, "chaos-robust02", n)
				if err != nil {
					t.Fatalf("nft fault %+v beside the pod's own table: %v", n, err)
				}
				if got := state(); got != before {
					t.Errorf("during the fault the pod's own objects changed:\nbefore:\n%s\nduring:\n%s", before, got)
				}
				if _, err := act.Recover(context.Background()); err != nil {
					t.Fatal(err)
				}
				if got := state(); got != before {
					t.Errorf("after recovery the pod's own objects changed:\nbefore:\n%s\nafter:\n%s", before, got)
				}
				if tables := tp.inNetns(t, "nft", "list", "tables"); strings.Contains(tables, "kubectl_chaos") {
					t.Errorf("our table is left after recovery: %s", tables)
				}
			}
		})
	}
}
