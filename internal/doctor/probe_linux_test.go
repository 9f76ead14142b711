package doctor

import (
	"os"
	"strings"
	"testing"
)

// The probe on this machine: it must run without a cluster and report what the kernel
// really has. On the development machine (no sch_netem, no nft queue) it must say netem
// is missing and name the fallbacks; in the netem VM (KUBECTL_CHAOS_NETEMVM=1) it expects netem and the native queue.
func TestProbeHere(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("the probe needs root (a network namespace of its own)")
	}
	before := tables(t)
	r, err := Probe(ProbeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range r.Checks {
		t.Logf("%-10s %-8s %s", c.Name, c.Status, c.Detail)
	}
	names := map[string]bool{}
	for _, c := range r.Checks {
		names[c.Name] = true
	}
	for _, n := range []string{Runtime, Cgroup, Freezer, Netem, TBF, NFTables, NFQueue, FUSE, Ptrace} {
		if !names[n] {
			t.Errorf("no %s check", n)
		}
	}
	netem, queue := r.Get(Netem), r.Get(NFQueue)
	if os.Getenv("KUBECTL_CHAOS_NETEMVM") == "1" {
		// The netem VM (stock kernel, sch_netem and nft_queue loaded): no fallback.
		if netem.Status != OK || queue.Status != OK {
			t.Errorf("in the netem VM: netem %+v, queue %+v; want both ok (native)", netem, queue)
		}
	} else if netem.Status == Missing {
		// This machine: the delay fallback must work, and the report must say which.
		if !strings.Contains(netem.Detail, "fallbacks") || queue.Status == Missing {
			t.Errorf("netem missing but the fallbacks are not reported or not usable: %+v %+v", netem, queue)
		}
		if b := Blockers(r, "network.delay"); len(b) != 0 {
			t.Errorf("network.delay blocked here: %v", b)
		}
	}
	if got := tables(t); got != before {
		t.Errorf("the host's nft tables changed: %q -> %q", before, got)
	}
}

func tables(t *testing.T) string {
	b, err := os.ReadFile("/proc/net/netfilter/nf_tables")
	if err != nil {
		return ""
	}
	return string(b)
}
