package stress

// The real binary as the agent: kill -9 of it mid-stress leaves no stressor (the
// parent-death signal), and a sweep then clears its journal from the record alone.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestMain(m *testing.M) {
	code := m.Run()
	agentbin.Remove()
	os.Exit(code)
}

func stressPlan(s *standIn, f plan.Fault) *plan.Plan {
	return &plan.Plan{
		Version: plan.Version, Experiment: "chaos-stress" + s.ID[:6], Node: "test-node",
		CreatedAt: time.Now(), Deadline: time.Now().Add(3 * time.Minute), Detached: true,
		Runtime: plan.Runtime{Endpoint: "-"}, Fault: f,
		Targets: []plan.Target{s.Target.Target},
	}
}

// runAgent starts the binary's agent on p and returns it with its event stream.
func runAgent(t testing.TB, p *plan.Plan, dir, podUID string, args ...string) (*exec.Cmd, <-chan plan.Event, *bytes.Buffer) {
	t.Helper()
	enc, _ := p.Encode()
	cmd := exec.Command(agentbin.Path(t), append([]string{"agent", "--proc-root", "/proc", "--journal-dir", dir, "--termination-log", ""}, args...)...)
	cmd.Env = append(os.Environ(), plan.EnvVar+"="+enc, journal.EnvPodUID+"="+podUID)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	events := make(chan plan.Event, 100)
	go func() {
		defer close(events)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev plan.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				events <- ev
			}
		}
	}()
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return cmd, events, &stderr
}

func waitEvent(t testing.TB, events <-chan plan.Event, typ string, stderr *bytes.Buffer) plan.Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("agent ended before a %s event; stderr:\n%s", typ, stderr)
			}
			if ev.Type == plan.EventError || ev.Type == plan.EventNote {
				t.Logf("agent %s: %s %s", ev.Type, ev.Message, ev.Error)
			}
			if ev.Type == typ {
				return ev
			}
		case <-timeout:
			t.Fatalf("no %s event within 60s; stderr:\n%s", typ, stderr)
		}
	}
}

// stressorOf is the process other than the stand-in in its cpu (or unified) cgroup.
func stressorOf(t testing.TB, s *standIn) int {
	h := "cpu"
	if _, ok := s.dirs[h]; !ok {
		h = "unified"
	}
	for _, p := range s.procs(t, h) {
		if p != s.PID {
			return p
		}
	}
	t.Fatalf("no stressor in the %s cgroup %s", h, s.dirs[h])
	return 0
}

func TestKill9AgentLeavesNoStressor(t *testing.T) {
	agentbin.Path(t) // before the plan: a slow build must not eat its deadline
	s := newStandIn(t, limits{cpus: 1, memory: 256 * mib})
	before := residueOf(t, s.ID[:8], "stress-worker")
	dir := t.TempDir()
	p := stressPlan(s, plan.Fault{Kind: plan.KindStress, Action: "cpu", Stress: &plan.Stress{CPU: &plan.CPUStress{Workers: 2, Load: 20}}})
	agent, events, stderr := runAgent(t, p, dir, "kc-stress-no-such-pod-"+s.ID[:8])
	ev := waitEvent(t, events, plan.EventInjected, stderr)
	t.Logf("injected in %s: %s", ev.Elapsed.D(), ev.Objects[0].Spec)
	pid := stressorOf(t, s)
	start := mustStart(t, pid)
	checkInCgroups(t, s, pid)
	if f, _ := procStat(pid); len(f) < 2 || f[1] != strconv.Itoa(agent.Process.Pid) {
		t.Errorf("stressor pid %d has parent %v, want the agent %d", pid, f, agent.Process.Pid)
	}

	killed := time.Now()
	agent.Process.Signal(syscall.SIGKILL)
	for alive(pid, start) {
		if time.Since(killed) > 5*time.Second {
			t.Fatalf("stressor pid %d still running 5s after kill -9 of the agent", pid)
		}
		time.Sleep(time.Millisecond)
	}
	t.Logf("TABLE|kill -9 of the agent|stressor gone|after %s", time.Since(killed).Round(100*time.Microsecond))
	agent.Wait()

	files, _ := journal.List(dir, p.Experiment)
	if len(files) != 1 {
		t.Fatalf("journal files after kill -9: %v, want the target's", files)
	}
	sweep := exec.Command(agentbin.Path(t), "agent", "--sweep-only", "--proc-root", "/proc", "--journal-dir", dir)
	out, err := sweep.CombinedOutput()
	if err != nil || !strings.Contains(string(out), journal.SweepHelperGone) || !strings.Contains(string(out), "stressor") {
		t.Fatalf("sweep: %v\n%s", err, out)
	}
	if files, _ := journal.List(dir, p.Experiment); len(files) != 0 {
		t.Errorf("journal left after the sweep: %v", files)
	}
	for h := range s.dirs {
		if got := s.procs(t, h); len(got) != 1 {
			t.Errorf("%s cgroup lists %v after kill -9 and sweep", h, got)
		}
	}
	if after := residueOf(t, s.ID[:8], "stress-worker"); !slices.Equal(before, after) {
		t.Errorf("residue changed:\nbefore %v\nafter  %v", before, after)
	}
}

// The whole agent loop on a memory stressor: injected with the size held, then a stop
// line... here SIGTERM (a deleted helper pod), recovered and nothing left.
func TestAgentMemoryStressSIGTERM(t *testing.T) {
	agentbin.Path(t)
	s := newStandIn(t, limits{memory: 256 * mib})
	base := s.memUsage(t)
	dir := t.TempDir()
	p := stressPlan(s, plan.Fault{Kind: plan.KindStress, Action: "memory", Stress: &plan.Stress{Memory: &plan.MemoryStress{Percent: 50}}})
	agent, events, stderr := runAgent(t, p, dir, "")
	ev := waitEvent(t, events, plan.EventInjected, stderr)
	used := s.memUsage(t) - base
	t.Logf("injected in %s: %s", ev.Elapsed.D(), ev.Objects[0].Spec)
	// +8Mi: the stressor process's own runtime is charged to the cgroup too (see TestMemoryStressMeasured).
	if d := float64(used) - 128*mib; d < -0.05*128*mib || d > 0.05*128*mib+8*mib {
		t.Errorf("memory cgroup grew by %s, want 128Mi -5%% … +5%%+8Mi", plan.FormatBytes(used))
	}
	pid := stressorOf(t, s)
	start := mustStart(t, pid)
	agent.Process.Signal(syscall.SIGTERM)
	ev = waitEvent(t, events, plan.EventRecovered, stderr)
	t.Logf("recovered in %s: %s", ev.Elapsed.D(), ev.Objects[0].Spec)
	if alive(pid, start) {
		t.Errorf("stressor pid %d alive after recovery", pid)
	}
	if err := agent.Wait(); err != nil {
		t.Errorf("agent exit: %v\n%s", err, stderr)
	}
	if files, _ := journal.List(dir, p.Experiment); len(files) != 0 {
		t.Errorf("journal left after a clean recovery: %v", files)
	}
}
