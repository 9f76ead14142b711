package sentinel

// The harness: a sentinel network namespace standing in for the node's (the helper's
// own since hostNetwork), an agent child process started inside it, and a snapshot of
// everything in the sentinel an agent could touch by mistake.

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mdlayher/netlink"
	ct "github.com/ti-mo/conntrack"
	"github.com/vishvananda/netns"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The child's environment: it is the agent.
const (
	envPlan  = "KC_SENTINEL_PLAN"
	envNetns = "KC_SENTINEL_NETNS"
	envInode = "KC_SENTINEL_INODE"
	envPID   = "KC_SENTINEL_PID"
	envDir   = "KC_SENTINEL_DIR"
)

func TestMain(m *testing.M) {
	if os.Getenv(envPlan) != "" {
		os.Exit(child())
	}
	os.Exit(m.Run())
}

// fixedResolver resolves every target to the namespace the parent named.
type fixedResolver struct {
	path string
	ino  uint64
	pid  int
}

func (r fixedResolver) Resolve(_ context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{Target: t, PID: r.pid, NetnsPath: r.path, NetnsInode: r.ino}, nil
}

// child runs the real agent (agent.Run, as `kubectl-chaos agent` does) on the plan in
// its environment, with stdin as its operator and events on stdout.
func child() int {
	var p plan.Plan
	if err := json.Unmarshal([]byte(os.Getenv(envPlan)), &p); err != nil {
		fmt.Fprintln(os.Stderr, "plan:", err)
		return 2
	}
	ino, _ := strconv.ParseUint(os.Getenv(envInode), 10, 64)
	pid, _ := strconv.Atoi(os.Getenv(envPID))
	_, err := agent.Run(context.Background(), agent.Options{
		Plan: &p, Stdin: os.Stdin, Stdout: os.Stdout, JournalDir: os.Getenv(envDir),
		Resolver:          fixedResolver{os.Getenv(envNetns), ino, pid},
		HeartbeatInterval: time.Second, CounterInterval: 200 * time.Millisecond, ProcRoot: "/proc",
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, "agent:", err)
		return 1
	}
	return 0
}

// sentinel is a named network namespace with lo, a veth pair inside it (an agent that
// picked "every interface but lo" in its own namespace would find one) with IPv4 and
// IPv6 addresses, and a sleeping process whose /proc/PID/net shows its sockets.
type sentinel struct {
	name  string
	ino   uint64
	sleep int
	links []string
}

func run(t testing.TB, args ...string) string {
	t.Helper()
	out, err := exec.Command(args[0], args[1:]...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func newSentinel(t *testing.T) *sentinel {
	id := nstest.RandomHex(3)
	s := &sentinel{name: "kc-hostnet-sent-" + id, links: []string{"lo", "kchs0" + id[:4], "kchs1" + id[:4]}}
	h, err := nstest.NewNamed(s.name) // not `ip netns add`: it leaves /run/netns a mount point
	if err != nil {
		t.Fatalf("creating netns %s: %v", s.name, err)
	}
	h.Close()
	t.Cleanup(func() { netns.DeleteNamed(s.name) })
	// No link-local addresses and no DAD: nothing in the sentinel changes on its own.
	// (/proc/sys/net is the namespace of the thread that opens it.)
	if err := nsutil.Do("/run/netns/"+s.name, func() error {
		return errors.Join(os.WriteFile("/proc/sys/net/ipv6/conf/default/addr_gen_mode", []byte("1"), 0o644),
			os.WriteFile("/proc/sys/net/ipv6/conf/default/accept_dad", []byte("0"), 0o644))
	}); err != nil {
		t.Fatal(err)
	}
	run(t, "ip", "-n", s.name, "link", "add", s.links[1], "type", "veth", "peer", "name", s.links[2])
	for i, l := range s.links[1:] {
		run(t, "ip", "-n", s.name, "addr", "add", fmt.Sprintf("10.232.0.%d/24", i+1), "dev", l)
		run(t, "ip", "-n", s.name, "addr", "add", fmt.Sprintf("fd00:232::%d/64", i+1), "dev", l, "nodad")
	}
	for _, l := range s.links {
		run(t, "ip", "-n", s.name, "link", "set", l, "up")
	}
	cmd := exec.Command("sleep", "3600")
	if err := nsutil.Do("/run/netns/"+s.name, cmd.Start); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s.sleep = cmd.Process.Pid
	if s.ino, err = nsutil.Inode("/run/netns/" + s.name); err != nil {
		t.Fatal(err)
	}
	// Settled: two snapshots in a row the same (carrier, routes).
	prev := s.snapshot(t)
	for i := 0; ; i++ {
		time.Sleep(300 * time.Millisecond)
		cur := s.snapshot(t)
		if cur == prev {
			break
		}
		if i == 20 {
			t.Fatalf("the sentinel does not settle:\n%s", diff(prev, cur))
		}
		prev = cur
	}
	return s
}

// snapshot is everything of the sentinel's network an agent could change by mistake:
// links (with their qdisc), addresses, routes, rules, neighbours, every qdisc, class and
// filter, the nft ruleset, the sockets (/proc/PID/net of a process inside) and the
// conntrack entries. No counters: nothing in it moves by itself.
func (s *sentinel) snapshot(t testing.TB) string {
	var b strings.Builder
	cmds := [][]string{
		{"ip", "-n", s.name, "-d", "link", "show"}, {"ip", "-n", s.name, "addr", "show"},
		{"ip", "-n", s.name, "-4", "route", "show", "table", "all"}, {"ip", "-n", s.name, "-6", "route", "show", "table", "all"},
		{"ip", "-n", s.name, "-4", "rule"}, {"ip", "-n", s.name, "-6", "rule"}, {"ip", "-n", s.name, "neigh", "show"},
		{"tc", "-n", s.name, "qdisc", "show"}, {"ip", "netns", "exec", s.name, "nft", "list", "ruleset"},
	}
	for _, l := range s.links {
		cmds = append(cmds, []string{"tc", "-n", s.name, "class", "show", "dev", l},
			[]string{"tc", "-n", s.name, "filter", "show", "dev", l}, []string{"tc", "-n", s.name, "filter", "show", "dev", l, "ingress"})
	}
	for _, c := range cmds {
		out, _ := exec.Command(c[0], c[1:]...).CombinedOutput()
		fmt.Fprintf(&b, "$ %s\n%s", strings.Join(c[3:], " "), out)
	}
	for _, f := range []string{"tcp", "tcp6", "udp", "udp6", "raw", "raw6", "unix", "packet"} {
		out, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", s.sleep, f))
		if err != nil {
			t.Fatalf("the sentinel's sockets: %v", err)
		}
		fmt.Fprintf(&b, "$ /proc/net/%s\n%s", f, out)
	}
	fmt.Fprintf(&b, "$ conntrack\n%s", s.conntrack(t))
	return b.String()
}

func (s *sentinel) conntrack(t testing.TB) string {
	ns, err := os.Open("/run/netns/" + s.name)
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Close()
	c, err := ct.Dial(&netlink.Config{NetNS: int(ns.Fd())})
	if err != nil {
		t.Fatalf("conntrack socket in the sentinel: %v", err)
	}
	defer c.Close()
	flows, err := c.Dump(nil)
	if err != nil {
		t.Fatalf("conntrack dump in the sentinel: %v", err)
	}
	var lines []string
	for _, f := range flows {
		lines = append(lines, fmt.Sprintf("%s mark %#x", f.TupleOrig, f.Mark))
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n") + "\n"
}

// diff shows the lines of a snapshot that differ.
func diff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	in := func(ls []string) map[string]int {
		m := map[string]int{}
		for _, l := range ls {
			m[l]++
		}
		return m
	}
	am, bm := in(al), in(bl)
	var out []string
	for _, l := range al {
		if bm[l] < am[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range bl {
		if am[l] < bm[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}

// agentProc is the agent child, started inside the sentinel.
type agentProc struct {
	cmd    *exec.Cmd
	stdin  io.WriteCloser
	events chan plan.Event
	stderr strings.Builder
	stopHB chan struct{}
}

// tgt is the target the agent is told about: its namespace by path and inode, and a
// process inside.
type tgt struct {
	path string
	ino  uint64
	pid  int
}

// startAgent starts the agent on p with its whole process in the sentinel: forked from
// a thread switched into it, so the Go runtime of the child starts there and every
// thread it makes starts there too — as the real agent starts in the node's namespace.
func startAgent(t *testing.T, s *sentinel, p *plan.Plan, tg tgt) *agentProc {
	pj, err := json.Marshal(p)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), envPlan+"="+string(pj), envNetns+"="+tg.path,
		envInode+"="+strconv.FormatUint(tg.ino, 10), envPID+"="+strconv.Itoa(tg.pid), envDir+"="+t.TempDir())
	a := &agentProc{cmd: cmd, events: make(chan plan.Event, 256), stopHB: make(chan struct{})}
	cmd.Stderr = &a.stderr
	if a.stdin, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := nsutil.Do("/run/netns/"+s.name, cmd.Start); err != nil {
		t.Fatalf("starting the agent in the sentinel: %v", err)
	}
	if ino, err := nsutil.Inode(fmt.Sprintf("/proc/%d/ns/net", cmd.Process.Pid)); err != nil || ino != s.ino {
		cmd.Process.Kill()
		t.Fatalf("the agent runs in net:[%d] (%v), want the sentinel's net:[%d]", ino, err, s.ino)
	}
	go func() {
		defer close(a.events)
		sc := bufio.NewScanner(out)
		sc.Buffer(make([]byte, 1<<20), 1<<20)
		for sc.Scan() {
			var e plan.Event
			if json.Unmarshal(sc.Bytes(), &e) == nil {
				a.events <- e
			}
		}
	}()
	go func() { // the operator's heartbeat, as the CLI sends it
		tk := time.NewTicker(500 * time.Millisecond)
		defer tk.Stop()
		for {
			io.WriteString(a.stdin, "heartbeat\n")
			select {
			case <-a.stopHB:
				return
			case <-tk.C:
			}
		}
	}()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// injected waits for the agent's injected event; an error or exit first fails.
func (a *agentProc) injected(t *testing.T) plan.Event {
	t.Helper()
	timeout := time.After(60 * time.Second)
	for {
		select {
		case e, ok := <-a.events:
			if !ok {
				t.Fatalf("the agent ended before injecting: %s", a.stderr.String())
			}
			switch e.Type {
			case plan.EventInjected:
				return e
			case plan.EventError, plan.EventExit:
				t.Fatalf("agent: %s %s %s\n%s", e.Type, e.Error, e.Reason, a.stderr.String())
			}
		case <-timeout:
			t.Fatal("no injected event within 60 s")
		}
	}
}

// stop closes the operator's stdin (the CLI is gone): the agent recovers and exits 0.
func (a *agentProc) stop(t testing.TB) {
	if a.cmd.ProcessState != nil {
		return
	}
	select {
	case <-a.stopHB:
	default:
		close(a.stopHB)
	}
	a.stdin.Close()
	done := make(chan error, 1)
	go func() {
		for range a.events {
		}
		done <- a.cmd.Wait()
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("the agent exited with %v: %s", err, a.stderr.String())
		}
	case <-time.After(60 * time.Second):
		a.cmd.Process.Kill()
		<-done
		t.Errorf("the agent did not exit within 60 s of stdin EOF")
	}
}

// threadsIn checks that every thread of the agent is in the sentinel or the target's
// namespace (a locked thread switched there): none escaped anywhere else.
func (a *agentProc) threadsIn(t *testing.T, allowed ...uint64) {
	t.Helper()
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/ns/net", a.cmd.Process.Pid))
	for _, p := range tasks {
		ino, err := nsutil.Inode(p)
		if err != nil {
			continue // the thread ended
		}
		ok := false
		for _, w := range allowed {
			ok = ok || ino == w
		}
		if !ok {
			t.Errorf("agent thread %s is in net:[%d], neither the sentinel nor the target", p, ino)
		}
	}
	t.Logf("agent pid %d: %d threads, each in the sentinel or the target's namespace", a.cmd.Process.Pid, len(tasks))
}
