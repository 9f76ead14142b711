package network

import (
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/network/netobj"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nft"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// TestDryRunMatchesInjected: for the same spec, the objects --dry-run lists (for a node
// without sch_netem, like this one) are the objects the agent reports once it created
// them, but for what only the node knows: the netns, the interface names when
// --interface is not given, the tables' names, and the nfqueue verdict this kernel takes.
// The journal records the same objects.
func TestDryRunMatchesInjected(t *testing.T) {
	if netemAvailable(t) {
		t.Skip("this kernel has sch_netem: TestNetemDryRunMatchesInjected covers it")
	}
	tp := newTopo(t)
	eth0 := plan.Filter{Interfaces: []string{"eth0"}}
	withIf := func(f plan.Filter) plan.Filter { f.Interfaces = []string{"eth0"}; return f }
	checkDryRunMatches(t, tp, condNoNet, []plan.Network{
		{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}, Filter: eth0},
		{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}}, // every interface but lo
		{Bandwidth: &plan.Bandwidth{Rate: 2_000_000}, Filter: withIf(plan.Filter{CIDRs: []string{cli4 + "/32", cli6 + "/128"}, Ports: []uint16{80}, Protocol: "tcp"})},
		{Loss: &plan.Percent{Percent: 30}, LossBackend: BackendNFT, Filter: eth0},
		{Loss: &plan.Percent{Percent: 12.5}, Filter: withIf(plan.Filter{Direction: "both", CIDRs: []string{cli4 + "/32"}, Protocol: "udp"})},
		{Partition: &plan.Partition{Direction: "both", Peers: []string{cli4 + "/32"}}, Filter: withIf(plan.Filter{Ports: []uint16{5432}})},
		{Partition: &plan.Partition{Direction: "to", Peers: []string{cli6 + "/128"}}},
		{Delay: &plan.Delay{Latency: ms(20), Jitter: ms(5), Correlation: 10}, Filter: eth0},
		{Delay: &plan.Delay{Latency: ms(20)}, Loss: &plan.Percent{Percent: 5}, Bandwidth: &plan.Bandwidth{Rate: 5_000_000}, Filter: eth0},
		{Delay: &plan.Delay{Latency: ms(20)}, DelayBackend: BackendNFQueue, Filter: withIf(plan.Filter{Ports: []uint16{443}, Protocol: "tcp"})},
	})
}

// TestNetemDryRunMatchesInjected is TestDryRunMatchesInjected where sch_netem exists
// (make test-netem).
func TestNetemDryRunMatchesInjected(t *testing.T) {
	requireNetem(t)
	tp := newTopo(t)
	eth0 := plan.Filter{Interfaces: []string{"eth0"}}
	checkDryRunMatches(t, tp, condNetem, []plan.Network{
		{Delay: &plan.Delay{Latency: ms(20), Jitter: ms(5)}, Loss: &plan.Percent{Percent: 5, Correlation: 10}, Duplicate: &plan.Percent{Percent: 1}, Corrupt: &plan.Percent{Percent: 1}, Filter: eth0},
		{Delay: &plan.Delay{Latency: ms(10)}, Reorder: &plan.Reorder{Percent: 25, Gap: 5}}, // every interface but lo
		{Delay: &plan.Delay{Latency: ms(20)}, Bandwidth: &plan.Bandwidth{Rate: 10_000_000}, Filter: eth0},
		{Delay: &plan.Delay{Latency: ms(20)}, Bandwidth: &plan.Bandwidth{Rate: 10_000_000}, Filter: plan.Filter{Interfaces: []string{"eth0"}, Ports: []uint16{80, 443}}},
		{Delay: &plan.Delay{Latency: ms(20)}, Loss: &plan.Percent{Percent: 10}, Filter: plan.Filter{Interfaces: []string{"eth0"}, Direction: "egress", CIDRs: []string{cli4 + "/32"}}},
		{Delay: &plan.Delay{Latency: ms(20)}, DelayBackend: BackendNFQueue, Loss: &plan.Percent{Percent: 10}, Filter: eth0},
		{Loss: &plan.Percent{Percent: 10}, LossBackend: BackendNFT, Duplicate: &plan.Percent{Percent: 1}, Filter: eth0},
	})
}

// checkDryRunMatches applies each spec for real and compares the objects the agent
// reports with the ones Describe lists for the alternative cond (and unconditionally).
func checkDryRunMatches(t *testing.T, tp *topo, cond string, specs []plan.Network) {
	t.Helper()
	for _, n := range specs {
		name := "every interface"
		if len(n.Filter.Interfaces) > 0 {
			name = strings.Join(n.Filter.Interfaces, ",")
		}
		t.Run(n.Summary()+" on "+name, func(t *testing.T) {
			var want []plan.Object
			for _, o := range Describe(&n) {
				if o.Condition == "" || o.Condition == cond {
					o.Condition = ""
					want = append(want, o)
				}
			}
			act, rec := apply(t, tp, n)
			got := normalizeObjects(tp, &n, act.Objects())
			var journaled []plan.Object
			for _, e := range rec.entries {
				if cond == condNoNet && strings.HasPrefix(e.Object.Spec, "netem ") {
					continue // the netem root this kernel refused: journaled, then marked never created
				}
				journaled = append(journaled, e.Object)
			}
			journaled = normalizeObjects(tp, &n, journaled)
			recoverClean(t, tp, act)
			if d := cmp.Diff(want, got); d != "" {
				t.Errorf("--dry-run (-) and the injected objects (+) differ:\n%s", d)
			}
			for _, j := range journaled {
				if !containsObject(got, j) {
					t.Errorf("journaled object %+v is not one the agent reports", j)
				}
			}
			t.Logf("%d objects alike, %d journaled", len(got), len(journaled))
		})
	}
}

// normalizeObjects replaces in the agent's objects what only the node knows with
// Describe's placeholders.
func normalizeObjects(tp *topo, n *plan.Network, objs []plan.Object) []plan.Object {
	tg := tp.faultTarget()
	where := fmt.Sprintf("%s/%s/%d", tg.Namespace, tg.Pod, tp.ino)
	r := strings.NewReplacer(
		nft.ExperimentTableName("delay", tg.Experiment, where), "kubectl_chaos_delay_<experiment>_<hash>",
		nft.ExperimentTableName("", tg.Experiment, where), ownedTable,
		"NFQUEUE (xt target via nft_compat)", "queue",
	)
	anyIf := len(n.Filter.Interfaces) == 0
	out := make([]plan.Object, 0, len(objs))
	for _, o := range objs {
		o.Netns = ""
		o.Spec, o.Remove = r.Replace(o.Spec), r.Replace(o.Remove)
		if anyIf {
			// The target has one interface but lo: eth0.
			ifr := strings.NewReplacer(" eth0", " "+netobj.AnyInterface, "_eth0", "_"+netobj.AnyInterface)
			o.Spec, o.Remove = ifr.Replace(o.Spec), ifr.Replace(o.Remove)
			if o.Interface == "eth0" {
				o.Interface = netobj.EachInterface
			}
		}
		out = append(out, o)
	}
	return out
}

func containsObject(objs []plan.Object, o plan.Object) bool {
	for _, x := range objs {
		if x == o {
			return true
		}
	}
	return false
}

// TestMatchRulesCounts: the count Validate bounds and --dry-run shows is the number of
// u32 filters the agent creates, and never below the nft rules of any chain.
func TestMatchRulesCounts(t *testing.T) {
	for _, f := range []plan.Filter{
		{},
		{Protocol: "icmp"},
		{Ports: []uint16{80}},
		{Ports: []uint16{80, 443}, Protocol: "udp"},
		{CIDRs: []string{"10.0.0.0/8", "fd00::/64", "::ffff:10.1.0.0/112"}, Ports: []uint16{53}},
		{CIDRs: []string{"10.0.0.0/8"}, Protocol: "icmp"},
		{CIDRs: []string{"10.0.0.0/8"}, Interfaces: []string{"eth0", "eth1"}, Ports: []uint16{1, 2, 3}},
	} {
		alts, err := u32Alternatives(f)
		if err != nil {
			t.Fatal(err)
		}
		if want := matchRules(f, f.CIDRs); len(alts) != want {
			t.Errorf("%+v: %d u32 filters, matchRules says %d", f, len(alts), want)
		}
		for _, fam := range []byte{nft.FamilyNetdev, nft.FamilyINet} {
			for _, dir := range []nft.Direction{nft.Egress, nft.Ingress} {
				rules, err := nft.Selector{Family: fam, Direction: dir, Remote: f.CIDRs, Ports: f.Ports, Protocol: f.Protocol, Interfaces: f.Interfaces}.Rules()
				if err != nil {
					t.Fatal(err)
				}
				if bound := matchRules(f, f.CIDRs) * max(1, len(f.Interfaces)); len(rules) > bound {
					t.Errorf("%+v: %d nft rules (family %d, %s), more than Validate's bound %d", f, len(rules), fam, dir, bound)
				}
			}
		}
	}
}
