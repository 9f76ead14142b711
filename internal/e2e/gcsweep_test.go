//go:build e2e

package e2e

import (
	"encoding/json"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
	sess "github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// The case only `kubectl chaos gc` can clean up: a bandwidth fault (a tc qdisc in the
// target's network namespace, and its journal under /run/kubectl-chaos), its agent
// killed with SIGKILL, and its helper pod deleted at once, before kubelet could restart
// the agent; no agent will ever recover that journal. `gc --all-nodes` starts a sweep
// pod on the node, which removes the qdisc and the journal and says so.
//
// The agent is frozen (SIGSTOP) before the delete and killed (SIGKILL) right after it,
// so kubelet cannot restart it in between however loaded the machine is: the pod is
// already terminating when the agent dies, and kubelet does not restart containers of a
// terminating pod.
func TestGCSweepsAfterAgentKilledAndHelperDeleted(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	before := residue(t)
	free := download(t, ip, time.Second).Mbps
	t.Logf("download before the fault: %.0f Mbit/s", free)

	r := chaos(t, "network", "bandwidth", "deploy/web", "-n", ns, "--rate", "10mbit", "--duration", "3m", "--detach")
	if r.Code != 0 {
		t.Fatalf("bandwidth --detach: %s", r)
	}
	waitRate(t, ip, 60*time.Second, "the limit to bite", func(m float64) bool { return m < 20 })
	helper := waitHelperRunning(t, 30*time.Second)
	id := experimentOf(t, helper)
	pids := agentPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("want one agent process on the node, found %v", pids)
	}
	if err := syscall.Kill(pids[0], syscall.SIGSTOP); err != nil {
		t.Fatalf("SIGSTOP agent %d: %v", pids[0], err)
	}
	hns, hname, _ := strings.Cut(helper, "/")
	kubectl(t, "-n", hns, "delete", "pod", hname, "--wait=false")
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 agent %d: %v", pids[0], err)
	}
	waitNoHelpers(t, 60*time.Second)
	if p := agentPIDs(t); len(p) != 0 {
		t.Fatalf("an agent runs again after the kill and the delete: %v", p)
	}

	// What is left on the node: the qdisc in the target's netns and the journal, and a
	// client still sees the limit.
	added, _ := diffLines(before, residue(t))
	left := strings.Join(added, "\n")
	if !strings.Contains(left, "qdisc tbf 4b43:") || !strings.Contains(left, "journal /run/kubectl-chaos/"+id+"/") {
		t.Fatalf("want the tbf qdisc and the journal of %s left on the node, residue added:\n%s", id, left)
	}
	leaked := download(t, ip, 2*time.Second).Mbps
	t.Logf("left on the node:\n  %s\ndownload with the leaked limit: %.2f Mbit/s", strings.Join(added, "\n  "), leaked)
	if leaked > 11 {
		t.Fatalf("no leaked limit to collect (%.1f Mbit/s): the agent recovered after all", leaked)
	}

	start := time.Now()
	gc := chaosPlain(t, nil, "gc", "--all-nodes", "-o", "json")
	took := time.Since(start)
	if gc.Code != 0 {
		t.Fatalf("kubectl chaos gc --all-nodes: %s", gc)
	}
	var rep sess.GCReport
	if err := json.Unmarshal([]byte(gc.Stdout), &rep); err != nil {
		t.Fatalf("gc -o json: %v\n%s", err, gc)
	}
	// The report names what it removed: the qdisc of experiment id, and its journal.
	var named []string
	for _, s := range rep.Sweeps {
		if !s.OK() {
			t.Errorf("sweep on %s: %s", s.Node, s.Error)
		}
		for _, j := range s.Result.Swept {
			for _, ob := range j.Removed {
				named = append(named, s.Node+" "+j.Experiment+" "+j.Reason+" "+ob.Kind+" "+ob.Interface+" "+ob.Spec)
			}
			named = append(named, s.Node+" "+j.Experiment+" "+j.Reason+" journal files "+strconv.Itoa(j.Files))
		}
	}
	t.Logf("gc --all-nodes took %v (sweep pods on %d node(s)); it removed:\n  %s", took.Round(time.Millisecond), len(rep.Sweeps), strings.Join(named, "\n  "))
	report := strings.Join(named, "\n")
	if !strings.Contains(report, id+" helper-gone qdisc eth0 tbf") || !strings.Contains(report, id+" helper-gone journal files 1") {
		t.Errorf("gc's report does not name the qdisc and the journal of %s:\n%s", id, report)
	}
	after := download(t, ip, time.Second).Mbps
	t.Logf("download after gc: %.0f Mbit/s", after)
	if after < 100 || after < free/3 {
		t.Errorf("throughput after gc %.1f Mbit/s (before the fault %.0f): the limit is still there", after, free)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}

// gc --dry-run names the sweep pod it would create and creates nothing.
func TestGCDryRun(t *testing.T) {
	needCluster(t)
	r := chaosPlain(t, nil, "gc", "--all-nodes", "--dry-run")
	if r.Code != 0 {
		t.Fatalf("gc --dry-run: %s", r)
	}
	for _, want := range []string{"Dry run:", "Sweep pods to create", "on node e2e-node", "--sweep-only"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("gc --dry-run lacks %q:\n%s", want, r.Stdout)
		}
	}
	if h := helperPods(t); len(h) != 0 {
		t.Errorf("gc --dry-run created pods: %v", h)
	}
}

// waitRate polls a short download until ok(Mbit/s).
func waitRate(t *testing.T, ip string, timeout time.Duration, what string, ok func(float64) bool) {
	t.Helper()
	start := time.Now()
	var last float64
	for time.Since(start) < timeout {
		r, err := probe.Download(ip+":7002", 500*time.Millisecond)
		if err == nil {
			if last = r.Mbps; ok(last) {
				return
			}
		}
	}
	t.Fatalf("%s: not within %v (last %.1f Mbit/s)", what, timeout, last)
}
