package timefault

// kill -9 of the real agent mid-fault: the patched processes keep running shifted (the
// kernel detaches a dead tracer's tracees; the patch is in their memory), and the sweep
// of the next agent on the node (here `agent --sweep-only`) restores every one of them
// from the journal, the forked child that inherited a patch included.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestAgentKilledThenSweep(t *testing.T) {
	bins := buildProgs(t)
	bin := agentbin.Path(t)
	c := newContainer(t)
	var ps []*prog
	for name, b := range bins {
		ps = append(ps, launch(t, c.CgroupDir, name, b))
	}
	dir := t.TempDir()
	const offset = -3 * time.Hour
	p := timePlan(c, "tf-crash-", offset, 5*time.Minute)
	ar := startAgent(t, bin, c, dir, p)
	agent, events, notes := ar.cmd, ar.events, ar.notes
	// The rescans report through the agent's note events from now on.
	var mu sync.Mutex
	go func() {
		for events.Scan() {
			var ev plan.Event
			if json.Unmarshal(events.Bytes(), &ev) == nil && ev.Type == plan.EventNote {
				mu.Lock()
				notes = append(notes, ev.Message)
				mu.Unlock()
			}
		}
	}()
	// A child forked after the patch inherits it; the rescan journals it.
	parent := ps[0]
	for _, q := range ps {
		if q.name == "glibc-dynamic" {
			parent = q
		}
	}
	syscall.Kill(parent.pid, syscall.SIGUSR1)
	var child int
	if parent.name == "glibc-dynamic" {
		child = waitChild(t, parent)
		defer syscall.Kill(child, syscall.SIGKILL)
		want := fmt.Sprintf("pid %d (glibc-dynamic): inherited the patch of pid %d (forked)", child, parent.pid)
		deadline := time.Now().Add(10 * time.Second)
		for {
			mu.Lock()
			got := strings.Join(notes, "\n")
			mu.Unlock()
			if strings.Contains(got, want) {
				break
			}
			if time.Now().After(deadline) {
				t.Fatalf("the agent's notes do not report the forked child (%q):\n%s", want, got)
			}
			time.Sleep(50 * time.Millisecond)
		}
	}
	boot, _ := hostClocks(t)
	for _, q := range ps {
		checkReal(t, q, q.next(t, boot), offset.Seconds())
	}
	agent.Process.Signal(syscall.SIGKILL)
	agent.Wait()
	boot, _ = hostClocks(t)
	for _, q := range ps {
		checkReal(t, q, q.next(t, boot), offset.Seconds()) // still shifted, still running
	}
	path := journal.PathFor(dir, p.Experiment, p.Targets[0])
	f, err := journal.Read(path)
	if err != nil {
		t.Fatalf("journal after kill -9: %v", err)
	}
	// The helper "pod" is gone (a UID no process has): the sweep recovers.
	f.HelperPodUID = "00000000-dead-dead-dead-000000000000"
	b, _ := json.Marshal(f)
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	sweep, err := exec.Command(bin, "agent", "--sweep-only", "--journal-dir", dir, "--proc-root", "/proc").Output()
	if err != nil {
		t.Fatalf("sweep: %v %s", err, sweep)
	}
	t.Logf("sweep in %s: %s", time.Since(start).Round(time.Millisecond), strings.TrimSpace(string(sweep)))
	boot, _ = hostClocks(t)
	for _, q := range ps {
		checkReal(t, q, q.next(t, boot), 0)
		if !q.alive() {
			t.Errorf("%s died", q.name)
		}
	}
	if child != 0 {
		if sh := measure(t, parent.next(t, boot, child)); !near(sh.real, 0, 1) {
			t.Errorf("forked child %d after the sweep: realtime %+.3fs from the host", child, sh.real)
		}
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Errorf("journal directory not empty after the sweep: %v", ents)
	}
}

// timePlan is the plan of a time shift of the stand-in container, ending after ttl.
func timePlan(c *nstest.Container, prefix string, offset, ttl time.Duration) *plan.Plan {
	return &plan.Plan{
		Version: plan.Version, Experiment: prefix + c.ID[:6], Node: "test-node",
		CreatedAt: time.Now(), Deadline: time.Now().Add(ttl),
		Runtime: plan.Runtime{Endpoint: "-"},
		Fault:   plan.Fault{Kind: plan.KindTime, Action: "shift", Time: &plan.TimeShift{Offset: plan.Duration(offset), Rescan: plan.Duration(200 * time.Millisecond)}},
		Targets: []plan.Target{{Namespace: "default", Pod: "tf-" + c.ID[:6], Container: "app", ContainerID: c.ContainerID()}},
	}
}

// agentRun is the real agent running a plan, as its helper pod would.
type agentRun struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events *bufio.Scanner
	stderr *strings.Builder
	notes  []string
}

// startAgent runs the agent on p, sends the CLI's first heartbeat and reads its events
// until it injected.
func startAgent(t *testing.T, bin string, c *nstest.Container, dir string, p *plan.Plan) *agentRun {
	t.Helper()
	enc, _ := p.Encode()
	ar := &agentRun{stderr: &strings.Builder{}}
	ar.cmd = exec.Command(bin, "agent", "--proc-root", "/proc", "--journal-dir", dir, "--termination-log", "")
	ar.cmd.Env = append(os.Environ(), plan.EnvVar+"="+enc, "POD_UID="+c.PodUID)
	ar.stdin, _ = ar.cmd.StdinPipe()
	out, _ := ar.cmd.StdoutPipe()
	ar.cmd.Stderr = ar.stderr
	if err := ar.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ar.cmd.Process.Kill(); ar.cmd.Wait() })
	io.WriteString(ar.stdin, plan.StdinHeartbeat+"\n")
	ar.events = bufio.NewScanner(out)
	for ar.events.Scan() {
		var ev plan.Event
		if json.Unmarshal(ar.events.Bytes(), &ev) != nil {
			continue
		}
		if ev.Type == plan.EventNote {
			ar.notes = append(ar.notes, ev.Message)
		}
		if ev.Type == plan.EventError || ev.Type == plan.EventExit {
			t.Fatalf("agent: %s %s %s; stderr:\n%s", ev.Type, ev.Message, ev.Error, ar.stderr.String())
		}
		if ev.Type == plan.EventInjected {
			t.Logf("injected in %s: %d process(es); notes: %s", ev.Elapsed.D(), len(ev.Objects), strings.Join(ar.notes, "; "))
			return ar
		}
	}
	t.Fatalf("agent output ended before it injected; stderr:\n%s", ar.stderr.String())
	return nil
}
