package container

import (
	"bytes"
	"context"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// pidResolver resolves every target to one PID (the stand-in container's process).
type pidResolver struct{ pid int }

func (r pidResolver) Resolve(_ context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: r.pid, NetnsPath: "/proc/self/ns/net"}, nil
}

func agentPlan(c plan.Container, id string, d time.Duration) *plan.Plan {
	return &plan.Plan{Version: plan.Version, Experiment: "chaos-podkill" + id[:6], Node: "n",
		CreatedAt: time.Now(), Deadline: time.Now().Add(d), Runtime: plan.Runtime{Endpoint: "-"},
		Fault:   plan.Fault{Kind: plan.KindContainer, Action: c.Action, Container: &c},
		Targets: []plan.Target{{Namespace: "default", Pod: "p", Container: "app", ContainerID: "containerd://" + id}}}
}

// TestAgentKillIsOneShot: the agent sends the signal, reports, and exits at once
// ("done"), long before the plan's deadline; the process is gone.
func TestAgentKillIsOneShot(t *testing.T) {
	p := sleeper(t, false)
	pl := agentPlan(plan.Container{Action: plan.ContainerKill, Signal: "KILL"}, strings.Repeat("cd", 32), 5*time.Minute)
	var out bytes.Buffer
	start := time.Now()
	res, err := agent.Run(context.Background(), agent.Options{Plan: pl, Stdout: &out, JournalDir: t.TempDir(),
		Resolver: pidResolver{p.Process.Pid}, ProcRoot: "/proc"})
	if err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	if res.Reason != plan.ReasonDone || !res.OK() {
		t.Fatalf("result %+v, want done and OK", res)
	}
	if el := time.Since(start); el > 30*time.Second {
		t.Fatalf("a one-shot agent ran %s", el)
	}
	if alive(p.Process.Pid) {
		t.Fatal("the process survived SIGKILL")
	}
	if !strings.Contains(out.String(), "the process exited") {
		t.Fatalf("events do not say the process exited:\n%s", out.String())
	}
}

// TestAgentPause: the agent freezes the container until the deadline and thaws it.
func TestAgentPause(t *testing.T) {
	cg := newTestCgroup(t, 2)
	tk := startTicker(t, cg)
	pl := agentPlan(plan.Container{Action: plan.ContainerPause}, cg.ID, 3*time.Second)
	dir := t.TempDir()
	var out bytes.Buffer
	done := make(chan error, 1)
	var res *plan.Result
	go func() {
		var err error
		res, err = agent.Run(context.Background(), agent.Options{Plan: pl, Stdout: &out, JournalDir: dir,
			Resolver: pidResolver{tk.pid()}, ProcRoot: "/proc"})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatalf("%v\n%s", err, out.String())
	}
	end, endWall := mono(), time.Now()
	if res.Reason != plan.ReasonDeadline || !res.OK() {
		t.Fatalf("result %+v\n%s", res, out.String())
	}
	tk.waitTick(t, end, 5*time.Second)
	inj, rec := res.Targets[0].InjectedAt, res.Targets[0].RecoveredAt
	silent := rec.Sub(inj)
	// No tick between injected and recovered (give each stamp 50 ms of slack for the
	// gap between the kernel state change and the agent's clock reading). The agent's
	// wall-clock stamps are put on the ticker's monotonic clock through (end, endWall),
	// read together: time.Since after waitTick would shift the window back by the wait
	// (hundreds of ms under load: the window then took in ticks from before the freeze).
	lo := end - int64(endWall.Sub(inj)) + int64(50*time.Millisecond)
	hi := end - int64(endWall.Sub(rec)) - int64(50*time.Millisecond)
	if n := tk.between(lo, hi); n != 0 {
		t.Fatalf("%d ticks while the agent held the freeze (%s)\n%s", n, silent, out.String())
	}
	// Held until the deadline, not thawed before it (however slow the start was).
	if !inj.Before(pl.Deadline) || rec.Before(pl.Deadline) {
		t.Fatalf("injected %s, recovered %s, deadline %s: the freeze must span the deadline", inj, rec, pl.Deadline)
	}
	t.Logf("frozen %s, thawed %s after the deadline", silent, rec.Sub(pl.Deadline))
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Fatalf("journal dir not empty: %v", entries)
	}
}
