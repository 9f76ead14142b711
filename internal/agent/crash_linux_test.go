package agent

// Crash tests (issue 4): the real binary runs `kubectl-chaos agent` against a stand-in
// pod container (netns + veth + sleep, found through the /proc scan), is killed with
// SIGKILL mid-fault, and a restarted agent or a sweep must remove every object.

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/google/nftables"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestMain(m *testing.M) {
	code := m.Run()
	agentbin.Remove()
	os.Exit(code)
}

type agentProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan plan.Event
	stderr bytes.Buffer
	done   chan struct{}
	err    error
}

func startAgent(t *testing.T, p *plan.Plan, env []string, args ...string) *agentProc {
	t.Helper()
	enc, err := p.Encode()
	if err != nil {
		t.Fatal(err)
	}
	a := &agentProc{events: make(chan plan.Event, 100), done: make(chan struct{})}
	a.cmd = exec.Command(agentbin.Path(t), append([]string{"agent", "--proc-root", "/proc"}, args...)...)
	a.cmd.Env = append(append(os.Environ(), plan.EnvVar+"="+enc), env...)
	a.cmd.Stderr = &a.stderr
	if a.stdin, err = a.cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := a.cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev plan.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil {
				a.events <- ev
			} else {
				t.Logf("agent stdout: %s", sc.Text())
			}
		}
		a.err = a.cmd.Wait()
		close(a.events)
		close(a.done)
	}()
	t.Cleanup(func() {
		a.cmd.Process.Kill()
		<-a.done
	})
	return a
}

// waitEvent returns the first event of type typ, failing on an error event or exit.
func (a *agentProc) waitEvent(t *testing.T, typ string) plan.Event {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case ev, ok := <-a.events:
			if !ok {
				t.Fatalf("agent exited (%v) before a %s event; stderr:\n%s", a.err, typ, a.stderr.String())
			}
			if ev.Type == typ {
				return ev
			}
			if ev.Type == plan.EventError {
				t.Logf("agent error event: %s %s", ev.Message, ev.Error)
			}
		case <-timeout:
			t.Fatalf("no %s event within 30s; stderr:\n%s", typ, a.stderr.String())
		}
	}
}

func (a *agentProc) wait(t *testing.T) (exitCode int, evs []plan.Event) {
	t.Helper()
	for ev := range a.events {
		evs = append(evs, ev)
	}
	<-a.done
	return a.cmd.ProcessState.ExitCode(), evs
}

// kernelObjects lists what a fault left in the container's netns: qdiscs that are not
// the kernel's defaults, and nft tables.
func kernelObjects(t *testing.T, c *nstest.Container) []string {
	t.Helper()
	h, err := c.Handle()
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	var objs []string
	links, err := h.LinkList()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range links {
		qs, err := h.QdiscList(l)
		if err != nil {
			t.Fatal(err)
		}
		for _, q := range qs {
			switch q.Type() {
			case "noqueue", "noop", "pfifo_fast", "mq", "fq_codel":
				continue
			}
			objs = append(objs, fmt.Sprintf("qdisc %s %s %s", l.Attrs().Name, q.Type(), netlink.HandleStr(q.Attrs().Handle)))
		}
	}
	ns, err := netns.GetFromName(c.NetnsName)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	conn, err := nftables.New(nftables.WithNetNSFd(int(ns)))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.CloseLasting()
	tables, err := conn.ListTables()
	if err != nil {
		t.Fatal(err)
	}
	for _, tb := range tables {
		objs = append(objs, fmt.Sprintf("nft %d %s", tb.Family, tb.Name))
	}
	slices.Sort(objs)
	return objs
}

// residue runs ../shared/tools/residue and keeps the lines about this test's objects.
func residue(t *testing.T, keys ...string) []string {
	t.Helper()
	out, err := exec.Command("/work/shared/tools/residue").Output()
	if err != nil {
		t.Logf("residue: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		for _, k := range keys {
			if k != "" && strings.Contains(l, k) {
				lines = append(lines, l)
				break
			}
		}
	}
	return lines
}

// crashPlan is a network fault (tbf bandwidth + nft loss) when the network fault is
// registered in this build, else noop.
func crashPlan(t *testing.T, c *nstest.Container, experiment string) (p *plan.Plan, network bool) {
	p = &plan.Plan{
		Version: plan.Version, Experiment: experiment, Node: "test-node",
		CreatedAt: time.Now(), Deadline: time.Now().Add(3 * time.Minute),
		HeartbeatTimeout: plan.Duration(1500 * time.Millisecond),
		Runtime:          plan.Runtime{Endpoint: "-"},
		Targets: []plan.Target{{Namespace: "default", Pod: "crash-" + c.ID[:6], Container: "app",
			ContainerID: c.ContainerID()}},
	}
	if slices.Contains(fault.Kinds(), plan.KindNetwork) {
		p.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth", Network: &plan.Network{
			Bandwidth: &plan.Bandwidth{Rate: 1_000_000},
			Loss:      &plan.Percent{Percent: 30},
		}}
		return p, true
	}
	t.Logf("network fault not registered in this build: crash test runs the noop fault")
	p.Fault = plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}
	return p, false
}

// pollGone waits until check reports nothing and returns how long that took.
func pollGone(t *testing.T, what string, check func() []string) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		left := check()
		if len(left) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > 20*time.Second {
			t.Fatalf("%s: still there after 20s: %v", what, left)
		}
		time.Sleep(time.Millisecond)
	}
}

type crashSetup struct {
	c          *nstest.Container
	p          *plan.Plan
	network    bool
	dir        string
	before     []string
	keys       []string
	journal    string
	injectedAt time.Time
}

// injectAndKill starts an agent, waits until the fault is active, checks it is
// visible, and kills the agent with SIGKILL.
func injectAndKill(t *testing.T) *crashSetup {
	nstest.RequireRoot(t)
	agentbin.Path(t) // before the plan: the build may take minutes on a loaded machine
	s := &crashSetup{c: nstest.NewContainer(t), dir: t.TempDir()}
	s.p, s.network = crashPlan(t, s.c, "crash-"+nstest.RandomHex(4))
	s.journal = journal.PathFor(s.dir, s.p.Experiment, s.p.Targets[0])
	s.keys = []string{s.c.NetnsName, s.dir, agentbin.Dir()}
	s.before = residue(t, s.keys...)

	a := startAgent(t, s.p, []string{"POD_UID=" + s.c.PodUID}, "--journal-dir", s.dir, "--termination-log", "")
	io.WriteString(a.stdin, plan.StdinHeartbeat+"\n") // the operator attached
	res := a.waitEvent(t, plan.EventResolved)
	if !strings.Contains(res.Message, fmt.Sprintf("pid %d", s.c.PID)) {
		t.Fatalf("resolved %q, want pid %d", res.Message, s.c.PID)
	}
	inj := a.waitEvent(t, plan.EventInjected)
	s.injectedAt = time.Now()
	objs := kernelObjects(t, s.c)
	t.Logf("injected in %s: %d object(s) reported, kernel shows %v", inj.Elapsed.D(), len(inj.Objects), objs)
	if s.network && len(objs) == 0 {
		t.Fatal("network fault injected but no qdisc or nft table in the target netns")
	}
	if _, err := os.Stat(s.journal); err != nil {
		t.Fatalf("journal while active: %v", err)
	}
	if err := a.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	<-a.done
	killedAt := time.Now()
	// Owned nft tables die with the agent's socket; the qdiscs stay for the journal.
	if s.network {
		pollGone(t, "owned nft tables after kill -9", func() []string {
			var nft []string
			for _, o := range kernelObjects(t, s.c) {
				if strings.HasPrefix(o, "nft ") {
					nft = append(nft, o)
				}
			}
			return nft
		})
		t.Logf("kill -9: owned nft tables gone %s after the agent died; left for the journal: %v", time.Since(killedAt), kernelObjects(t, s.c))
	}
	if _, err := os.Stat(s.journal); err != nil {
		t.Fatalf("journal after kill -9: %v", err)
	}
	return s
}

func (s *crashSetup) checkClean(t *testing.T) {
	t.Helper()
	if objs := kernelObjects(t, s.c); len(objs) != 0 {
		t.Fatalf("left in the target netns: %v", objs)
	}
	if ents, _ := os.ReadDir(s.dir); len(ents) != 0 {
		t.Fatalf("journal dir not empty: %v", ents)
	}
	after := residue(t, s.keys...)
	if !slices.Equal(s.before, after) {
		t.Fatalf("residue differs\nbefore: %q\nafter:  %q", s.before, after)
	}
	t.Logf("residue about this test unchanged (%d line(s))", len(after))
}

// TestCrashRestartRecovers: kill -9, then the restarted agent (same plan, like kubelet's
// OnFailure restart) recovers from the journal and, hearing no heartbeat, exits.
func TestCrashRestartRecovers(t *testing.T) {
	s := injectAndKill(t)
	start := time.Now()
	a := startAgent(t, s.p, []string{"POD_UID=" + s.c.PodUID}, "--journal-dir", s.dir, "--termination-log", "")
	gone := pollGone(t, "objects after restart", func() []string {
		left := kernelObjects(t, s.c)
		if _, err := os.Stat(s.journal); err == nil {
			left = append(left, "journal "+s.journal)
		}
		return left
	})
	rec := a.waitEvent(t, plan.EventRecovered)
	code, evs := a.wait(t)
	total := time.Since(start)
	if code != 0 {
		t.Fatalf("restarted agent exit %d; stderr:\n%s", code, a.stderr.String())
	}
	last := evs[len(evs)-1]
	if last.Type != plan.EventExit || last.Reason != plan.ReasonNoHeartbeat || last.Restart != 1 {
		t.Fatalf("last event %+v, want exit no-heartbeat restart 1", last)
	}
	t.Logf("restart → objects gone: %s (agent's own recovery %s, %d object(s)); restart → exit (heartbeat timeout %s): %s",
		gone, rec.Elapsed.D(), len(rec.Objects), s.p.HeartbeatTimeout.D(), total)
	s.checkClean(t)
}

// TestCrashRestartResumes: the restarted agent hears its operator and re-applies the
// fault until stopped; then it recovers normally.
func TestCrashRestartResumes(t *testing.T) {
	s := injectAndKill(t)
	a := startAgent(t, s.p, []string{"POD_UID=" + s.c.PodUID}, "--journal-dir", s.dir, "--termination-log", "")
	a.waitEvent(t, plan.EventRecovered)
	io.WriteString(a.stdin, plan.StdinHeartbeat+"\n")
	inj := a.waitEvent(t, plan.EventInjected)
	if inj.Restart != 1 {
		t.Fatalf("resumed inject restart %d, want 1", inj.Restart)
	}
	if s.network && len(kernelObjects(t, s.c)) == 0 {
		t.Fatal("fault not re-applied after resume")
	}
	start := time.Now()
	a.stdin.Close() // the operator goes away: EOF
	rec := a.waitEvent(t, plan.EventRecovered)
	code, _ := a.wait(t)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, a.stderr.String())
	}
	t.Logf("resumed after restart; stdin EOF → exit %s (recovery %s)", time.Since(start), rec.Elapsed.D())
	s.checkClean(t)
}

// TestCrashSweepOnly: kill -9, then only `agent --sweep-only` (what the next agent on
// the node does first) recovers the experiment, because its helper pod is gone.
func TestCrashSweepOnly(t *testing.T) {
	s := injectAndKill(t)
	// The helper "pod" of the dead agent: its UID is in no process's cgroup. (The fake
	// container's own cgroup is named pod<c.PodUID>, so use another UID.)
	f, err := journal.Read(s.journal)
	if err != nil {
		t.Fatal(err)
	}
	if f.HelperPodUID != s.c.PodUID {
		t.Fatalf("journal helper UID %q, want %q", f.HelperPodUID, s.c.PodUID)
	}
	// While the pod UID is alive (the fake container's cgroup is pod<UID>), the sweep
	// must leave the experiment alone: its helper may be restarting.
	start := time.Now()
	out, err := exec.Command(agentbin.Path(t), "agent", "--sweep-only", "--journal-dir", s.dir, "--proc-root", "/proc").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) != 0 {
		t.Fatalf("sweep with helper alive: %v %s", err, out)
	}
	if _, err := os.Stat(s.journal); err != nil {
		t.Fatal("sweep removed an experiment whose helper is alive")
	}
	t.Logf("sweep with helper alive left it alone (%s)", time.Since(start))

	// Rewrite the journal's helper UID to one no process has: the helper is gone.
	f.HelperPodUID = "00000000-dead-dead-dead-000000000000"
	b, _ := json.Marshal(f)
	if err := os.WriteFile(s.journal, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start = time.Now()
	out, err = exec.Command(agentbin.Path(t), "agent", "--sweep-only", "--journal-dir", s.dir, "--proc-root", "/proc").Output()
	el := time.Since(start)
	if err != nil {
		t.Fatalf("sweep: %v %s", err, out)
	}
	var sw journal.Swept
	if err := json.Unmarshal(out, &sw); err != nil || sw.Reason != journal.SweepHelperGone || sw.Experiment != s.p.Experiment {
		t.Fatalf("sweep output %s (%v)", out, err)
	}
	t.Logf("--sweep-only (helper gone): %d object(s) removed, process run %s", len(sw.Removed), el)
	s.checkClean(t)
}

// TestCrashAgentSIGTERM: SIGTERM (pod deletion) recovers and exits 0.
func TestCrashAgentSIGTERM(t *testing.T) {
	nstest.RequireRoot(t)
	agentbin.Path(t)
	c := nstest.NewContainer(t)
	dir := t.TempDir()
	p, network := crashPlan(t, c, "term-"+nstest.RandomHex(4))
	tlog := filepath.Join(t.TempDir(), "termination-log")
	a := startAgent(t, p, nil, "--journal-dir", dir, "--termination-log", tlog)
	io.WriteString(a.stdin, plan.StdinHeartbeat+"\n") // the operator attached
	a.waitEvent(t, plan.EventInjected)
	if network && len(kernelObjects(t, c)) == 0 {
		t.Fatal("nothing injected")
	}
	start := time.Now()
	a.cmd.Process.Signal(syscall.SIGTERM)
	rec := a.waitEvent(t, plan.EventRecovered)
	code, _ := a.wait(t)
	if code != 0 {
		t.Fatalf("exit %d; stderr:\n%s", code, a.stderr.String())
	}
	if objs := kernelObjects(t, c); len(objs) != 0 {
		t.Fatalf("left: %v", objs)
	}
	var res plan.Result
	b, _ := os.ReadFile(tlog)
	if err := json.Unmarshal(b, &res); err != nil || res.Reason != plan.ReasonSignal || !res.OK() {
		t.Fatalf("termination log %s (%v)", b, err)
	}
	t.Logf("SIGTERM → exit %s (recovery %s)", time.Since(start), rec.Elapsed.D())
}
