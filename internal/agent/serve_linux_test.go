package agent

// Serving agents (kubectl chaos run's helpers) with real kernel objects: the real binary
// takes network steps over stdin in a stand-in pod's netns, each applied and removed at
// its own deadline; a forged step into the node's own netns is refused; and a kill -9
// mid-step is recovered from the step's journal by the restarted agent.

import (
	"io"
	"os"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// serveSetup is a serving agent of the real binary next to a stand-in pod.
type serveSetup struct {
	c      *nstest.Container
	dir    string
	keys   []string
	before []string
	base   *plan.Plan
	env    []string
	args   []string
}

func newServeSetup(t *testing.T) *serveSetup {
	nstest.RequireRoot(t)
	if !slices.Contains(fault.Kinds(), plan.KindNetwork) {
		t.Skip("network fault not registered in this build")
	}
	agentbin.Path(t) // before any clock: the build may take minutes
	s := &serveSetup{c: nstest.NewContainer(t), dir: t.TempDir()}
	s.keys = []string{s.c.NetnsName, s.dir, agentbin.Dir()}
	s.before = residue(t, s.keys...)
	s.base = servePlan(3 * time.Minute)
	s.base.Experiment = "run-reuse-" + nstest.RandomHex(4)
	s.base.Node = "test-node"
	s.base.Runtime = plan.Runtime{Endpoint: "-"}
	s.base.HeartbeatTimeout = plan.Duration(1500 * time.Millisecond)
	s.env = []string{"POD_UID=" + s.c.PodUID}
	s.args = []string{"--journal-dir", s.dir, "--termination-log", ""}
	return s
}

// start starts a serving agent and waits until it serves.
func (s *serveSetup) start(t *testing.T) *agentProc {
	t.Helper()
	a := startAgent(t, s.base, s.env, s.args...)
	io.WriteString(a.stdin, plan.StdinHeartbeat+"\n")
	a.waitEvent(t, plan.EventHeartbeat)
	return a
}

// step is a network step (tbf bandwidth + nft loss) on the stand-in pod.
func (s *serveSetup) step(t *testing.T, id string, d time.Duration) *plan.Plan {
	p, _ := crashPlan(t, s.c, id)
	p.Deadline = time.Now().Add(d)
	return p
}

// waitStep returns the step's first event of type typ.
func (a *agentProc) waitStep(t *testing.T, step, typ string) plan.Event {
	t.Helper()
	for {
		ev := a.waitEvent(t, typ)
		if ev.Step == step {
			return ev
		}
	}
}

func (s *serveSetup) checkClean(t *testing.T) {
	t.Helper()
	if objs := kernelObjects(t, s.c); len(objs) != 0 {
		t.Fatalf("left in the target netns: %v", objs)
	}
	if ents, _ := os.ReadDir(s.dir); len(ents) != 0 {
		t.Fatalf("journal dir not empty: %v", ents)
	}
	if after := residue(t, s.keys...); !slices.Equal(s.before, after) {
		t.Fatalf("residue differs\nbefore: %q\nafter:  %q", s.before, after)
	}
}

// TestServeNetworkStepsRoot: two network steps over stdin, one after the other, each in
// the kernel while active and gone at its own deadline; the second is applied right
// after the first ended (the agent's part of a further fault's activation).
func TestServeNetworkStepsRoot(t *testing.T) {
	s := newServeSetup(t)
	a := s.start(t)
	var took []time.Duration
	for i, id := range []string{"s1-" + nstest.RandomHex(3), "s2-" + nstest.RandomHex(3), "s3-" + nstest.RandomHex(3)} {
		p := s.step(t, id, 1500*time.Millisecond)
		sent := time.Now()
		sendPlan(t, a.stdin, testStepKey, p)
		inj := a.waitStep(t, id, plan.EventInjected)
		active := time.Since(sent)
		if objs := kernelObjects(t, s.c); len(objs) < 2 {
			t.Fatalf("step %d injected, but the netns holds %v (want tbf and the nft table)", i+1, objs)
		}
		a.waitStep(t, id, plan.EventExit)
		end := time.Now()
		if objs := kernelObjects(t, s.c); len(objs) != 0 {
			t.Fatalf("step %d ended, but the netns still holds %v", i+1, objs)
		}
		if late := end.Sub(p.Deadline); late < -100*time.Millisecond || late > 2*time.Second {
			t.Errorf("step %d gone %s after its deadline", i+1, late)
		}
		took = append(took, active)
		t.Logf("step %d: plan line → injected %s (the apply itself %s); gone %s after its deadline",
			i+1, active.Round(time.Microsecond), inj.Elapsed.D().Round(time.Microsecond), end.Sub(p.Deadline).Round(time.Millisecond))
	}
	sort.Slice(took, func(i, j int) bool { return took[i] < took[j] })
	t.Logf("TABLE|serving agent: plan line on stdin → step injected (tbf + nft loss), 3 steps|%v", took)
	a.stdin.Close()
	if code, _ := a.wait(t); code != 0 {
		t.Fatalf("agent exit %d; stderr:\n%s", code, a.stderr.String())
	}
	s.checkClean(t)
}

// TestServeKillMidStepRoot: kill -9 of a serving agent with a step active; the nft table
// dies with it, the tbf stays for the journal, and the restarted agent of the same
// helper pod recovers it before it hears its operator, then says so.
func TestServeKillMidStepRoot(t *testing.T) {
	s := newServeSetup(t)
	a := s.start(t)
	id := "kill-" + nstest.RandomHex(3)
	sendPlan(t, a.stdin, testStepKey, s.step(t, id, time.Minute))
	a.waitStep(t, id, plan.EventInjected)
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	if objs := kernelObjects(t, s.c); len(objs) == 0 {
		t.Fatal("nothing left after kill -9: the test proves nothing (want the tbf qdisc)")
	}
	b := startAgent(t, s.base, s.env, s.args...)
	took := pollGone(t, "the step's objects after the restart", func() []string { return kernelObjects(t, s.c) })
	t.Logf("the restarted serving agent removed the step's objects %s after it started, before its operator attached", took.Round(time.Millisecond))
	io.WriteString(b.stdin, plan.StdinHeartbeat+"\n")
	rec := b.waitStep(t, id, plan.EventRecovered)
	end := b.waitStep(t, id, plan.EventExit)
	if len(rec.Objects) == 0 || end.Error == "" {
		t.Fatalf("restarted agent: recovered %+v, step end %+v", rec, end)
	}
	b.stdin.Close()
	if code, _ := b.wait(t); code != 0 {
		t.Fatalf("restarted agent exit %d; stderr:\n%s", code, b.stderr.String())
	}
	s.checkClean(t)
}

// TestServeForgedStepIntoTheNodeRoot: a step plan whose container leads to the node's
// own network namespace is refused by the serving agent as by an agent of one plan:
// nothing journaled, the node's qdiscs and tables as before.
func TestServeForgedStepIntoTheNodeRoot(t *testing.T) {
	nstest.RequireRoot(t)
	if !slices.Contains(fault.Kinds(), plan.KindNetwork) {
		t.Skip("network fault not registered in this build")
	}
	ino, err := nsutil.Inode("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	before := nodeState(t)
	r := start(t, servePlan(2*time.Minute), func(o *Options) { o.Resolver = hostResolver{ino} })
	r.ev.waitFor(t, plan.EventHeartbeat, 1)
	p := stepPlan("chaos-robust01", time.Minute)
	p.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth", Network: &plan.Network{Bandwidth: &plan.Bandwidth{Rate: 1_000_000}}}
	sendPlan(t, r.stdin, testStepKey, p)
	end := waitStepEnd(t, r, p.Experiment)
	var msg string
	for _, ev := range stepEvents(t, r, p.Experiment) {
		msg += " " + ev.Error
		if ev.Type == plan.EventInjected {
			t.Fatalf("forged step injected: %+v", ev)
		}
	}
	if end.Reason != plan.ReasonFailed || !strings.Contains(msg, "node's own network namespace") {
		t.Fatalf("step end %q, errors %q: want refused for the node's own netns", end.Reason, msg)
	}
	if after := nodeState(t); after != before {
		t.Errorf("the node's qdiscs or nft ruleset changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	r.stdin.Close()
	r.wait(t)
	r.checkJournalEmpty(t)
}
