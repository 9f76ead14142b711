package agent

import (
	"io"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// TestSecondExperimentSameTarget is the node side of the e2e test of that name: three
// agents of three experiments on one container. The first holds tbf + nft loss; a second
// experiment's nft loss composes with it (its own table) and recovers only its own; a
// third experiment's tbf is refused before anything is journaled, its agent ends with
// reason "failed" (exit 0, so no restart), reports no recovery failure and leaves no
// journal, and the first's objects are untouched.
func TestSecondExperimentSameTarget(t *testing.T) {
	nstest.RequireRoot(t)
	if !slices.Contains(fault.Kinds(), plan.KindNetwork) {
		t.Skip("network fault not registered in this build")
	}
	agentbin.Path(t)
	c := nstest.NewContainer(t)
	dir := t.TempDir()
	keys := []string{c.NetnsName, dir, agentbin.Dir()}
	before := residue(t, keys...)
	env := []string{"POD_UID=" + c.PodUID}
	args := []string{"--journal-dir", dir, "--termination-log", ""}

	first, _ := crashPlan(t, c, "first-"+nstest.RandomHex(4))
	a := startAgent(t, first, env, args...)
	// Keep the first's operator alive while the others run.
	stopBeat := make(chan struct{})
	beatDone := make(chan struct{})
	go func() {
		defer close(beatDone)
		tk := time.NewTicker(200 * time.Millisecond)
		defer tk.Stop()
		for {
			if _, err := io.WriteString(a.stdin, plan.StdinHeartbeat+"\n"); err != nil {
				return
			}
			select {
			case <-stopBeat:
				return
			case <-tk.C:
			}
		}
	}()
	a.waitEvent(t, plan.EventInjected)
	firstObjs := kernelObjects(t, c)
	t.Logf("first experiment: %v", firstObjs)

	withFault := func(exp string, n plan.Network) *plan.Plan {
		p, _ := crashPlan(t, c, exp)
		p.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "loss", Network: &n}
		return p
	}

	// Second: nft loss of another experiment composes.
	second := withFault("second-"+nstest.RandomHex(4), plan.Network{Loss: &plan.Percent{Percent: 50}, LossBackend: "nft"})
	b := startAgent(t, second, env, args...)
	io.WriteString(b.stdin, plan.StdinHeartbeat+"\n")
	b.waitEvent(t, plan.EventInjected)
	both := kernelObjects(t, c)
	if len(both) != len(firstObjs)+1 {
		t.Fatalf("with the second active: %v, want the first's %v and one more table", both, firstObjs)
	}
	b.stdin.Close()
	b.waitEvent(t, plan.EventRecovered)
	if code, _ := b.wait(t); code != 0 {
		t.Fatalf("second agent exit %d; stderr:\n%s", code, b.stderr.String())
	}
	if got := kernelObjects(t, c); !slices.Equal(got, firstObjs) {
		t.Fatalf("after the second's recovery: %v, want the first's %v", got, firstObjs)
	}

	// Third: a tbf over the first's tbf is refused.
	third := withFault("third-"+nstest.RandomHex(4), plan.Network{Bandwidth: &plan.Bandwidth{Rate: 2_000_000}})
	cAgent := startAgent(t, third, env, args...)
	io.WriteString(cAgent.stdin, plan.StdinHeartbeat+"\n")
	code, evs := cAgent.wait(t)
	var refusal string
	for _, ev := range evs {
		if ev.Type == plan.EventError && ev.Message == "recovering a partial apply" {
			t.Errorf("the refused agent failed to recover: %+v", ev)
		}
		if ev.Type == plan.EventError && strings.Contains(ev.Error, "stop it first") {
			refusal = ev.Error
		}
	}
	// A failed apply exits 0 (no kubelet restart) with the exit event's reason "failed".
	last := evs[len(evs)-1]
	if code != 0 || refusal == "" || last.Type != plan.EventExit || last.Reason != plan.ReasonFailed {
		t.Fatalf("third agent: exit %d, refusal %q, last event %+v; stderr:\n%s", code, refusal, last, cAgent.stderr.String())
	}
	if strings.Contains(cAgent.stderr.String(), "could not be recovered") {
		t.Errorf("third agent reports a recovery failure:\n%s", cAgent.stderr.String())
	}
	t.Logf("third experiment refused (exit %d): %s", code, refusal)
	if _, err := os.Stat(journal.ExperimentDir(dir, third.Experiment)); err == nil {
		t.Errorf("the refused experiment left its journal directory")
	}
	if got := kernelObjects(t, c); !slices.Equal(got, firstObjs) {
		t.Fatalf("after the refusal: %v, want the first's %v", got, firstObjs)
	}

	close(stopBeat)
	<-beatDone
	a.stdin.Close()
	a.waitEvent(t, plan.EventRecovered)
	if code, _ := a.wait(t); code != 0 {
		t.Fatalf("first agent exit %d; stderr:\n%s", code, a.stderr.String())
	}
	if objs := kernelObjects(t, c); len(objs) != 0 {
		t.Fatalf("left in the target netns: %v", objs)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("journal dir not empty: %v", ents)
	}
	if after := residue(t, keys...); !slices.Equal(before, after) {
		t.Fatalf("residue differs\nbefore: %q\nafter:  %q", before, after)
	}
}
