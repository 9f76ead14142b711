//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// The terminal experience on the cluster (issue 15): completion through kubectl's
// plugin shim, doctor against what the node really has, the live view in a real TTY.

// shimPath is a PATH holding this build's kubectl-chaos and the repository's
// kubectl_complete-chaos shim and kubectl, and nothing installed in /usr/local/bin;
// withShim false leaves the shim out.
func shimPath(t *testing.T, withShim bool) string {
	t.Helper()
	bin, err := exec.LookPath("kubectl-chaos")
	if err != nil {
		t.Fatalf("kubectl-chaos not on PATH (run.sh puts bin/ first): %v", err)
	}
	dir := t.TempDir()
	if err := os.Symlink(bin, filepath.Join(dir, "kubectl-chaos")); err != nil {
		t.Fatal(err)
	}
	if withShim {
		shim, err := os.ReadFile("../../completions/kubectl_complete-chaos")
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "kubectl_complete-chaos"), shim, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	kc, err := exec.LookPath("kubectl")
	if err != nil {
		t.Fatal(err)
	}
	return "PATH=" + dir + ":" + filepath.Dir(kc) + ":/usr/bin:/bin"
}

// completions runs `kubectl __complete ARGS` and returns the candidates (the last line,
// ":N", is cobra's directive).
func completions(t *testing.T, path string, args ...string) []string {
	t.Helper()
	r := run(t, 30*time.Second, []string{path}, "kubectl", append([]string{"__complete"}, args...)...)
	if r.Code != 0 {
		t.Fatalf("kubectl __complete %s: %s", strings.Join(args, " "), r)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(r.Stdout), "\n") {
		if l != "" && !strings.HasPrefix(l, ":") {
			w, _, _ := strings.Cut(l, "\t")
			out = append(out, w)
		}
	}
	return out
}

// TestCompletionThroughShim: kubectl (>= 1.26) completes `kubectl chaos …` by running
// kubectl_complete-chaos from PATH; through the repository's shim it offers the verbs,
// the flags, the cluster's namespaces, and the pods and deployments of the namespace
// named by -n (and not those of another). Without the shim kubectl offers none of it.
func TestCompletionThroughShim(t *testing.T) {
	sc := newScenario(t)
	ns := sc.NS
	sc.Echo("web", 1)
	pod := podNames(t, ns, "app=web")[0]
	path := shimPath(t, true)

	if got := completions(t, shimPath(t, false), "chaos", "net"); contains(got, "network") {
		t.Fatalf("without the shim kubectl already completes the plugin (%v): the test would not show the shim works", got)
	}
	want := func(what string, got []string, in []string, out ...string) {
		t.Helper()
		for _, w := range in {
			if !contains(got, w) {
				t.Errorf("%s: %q missing from %v", what, w, got)
			}
		}
		for _, w := range out {
			if contains(got, w) {
				t.Errorf("%s: %q offered, should not be: %v", what, w, got)
			}
		}
		t.Logf("%s: %d candidate(s), e.g. %v", what, len(got), got[:min(len(got), 6)])
	}
	want("verbs", completions(t, path, "chaos", ""), []string{"network", "stress", "pod", "container", "doctor", "rbac", "run", "ls", "gc"}, "agent")
	want("network verbs", completions(t, path, "chaos", "network", ""), []string{"delay", "loss", "partition", "bandwidth"})
	want("flags", completions(t, path, "chaos", "network", "loss", "--percent", "10", "--"), []string{"--duration", "--dry-run", "--namespace", "--loss-backend"}, "--percent")
	want("namespaces", completions(t, path, "chaos", "network", "loss", "-n", ""), []string{ns, "default", "kube-system"})
	want("pods", completions(t, path, "chaos", "network", "loss", "-n", ns, "pod/"), []string{"pod/" + pod})
	want("deployments", completions(t, path, "chaos", "network", "loss", "-n", ns, "deploy/"), []string{"deploy/web"})
	want("deployments of default", completions(t, path, "chaos", "network", "loss", "-n", "default", "deploy/"), nil, "deploy/web")
}

// doctorRow is one row of doctor's table.
type doctorRow struct{ status, detail string }

// doctorTable reads doctor's human table: CHECK -> row, for the one node.
func doctorTable(t *testing.T, out string) map[string]doctorRow {
	t.Helper()
	rows := map[string]doctorRow{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 3 || f[0] == "NODE" {
			continue
		}
		if s := f[2]; s == "ok" || s == "fallback" || s == "missing" {
			rows[f[1]] = doctorRow{s, strings.Join(f[3:], " ")}
		}
	}
	return rows
}

// hostNet tries, in a network namespace of the test's own (unshare -n: it dies with
// the shell, and leaves no /run/netns mount as ip netns add would), what doctor's
// probe tries; it returns whether each command worked.
func hostNet(t *testing.T) map[string]bool {
	t.Helper()
	script := `ip link set lo up
try() { name=$1; shift; if "$@" >/dev/null 2>&1; then echo "$name=1"; else echo "$name=0"; fi; }
try sch_netem tc qdisc add dev lo root handle 1: netem delay 1ms
tc qdisc del dev lo root 2>/dev/null
try tbf tc qdisc add dev lo root handle 1: tbf rate 1mbit burst 1600 limit 10000
try nftables nft 'add table inet kc_ux3; add chain inet kc_ux3 c { type filter hook input priority 0; }'
try nfqueue nft add rule inet kc_ux3 c queue num 0 bypass
`
	r := run(t, 30*time.Second, nil, "unshare", "-n", "sh", "-c", script)
	if r.Code != 0 {
		t.Fatalf("unshare -n: %s", r)
	}
	got := map[string]bool{}
	for _, l := range strings.Fields(r.Stdout) {
		k, v, _ := strings.Cut(l, "=")
		got[k] = v == "1"
	}
	if len(got) != 4 {
		t.Fatalf("the netns tries gave %v: %s", got, r)
	}
	got["nfqueue"] = got["nftables"] && got["nfqueue"]
	return got
}

// TestDoctorOnNode: doctor's table for the cluster's node (this machine) says what
// the machine has, each row checked against the machine itself: netem and tbf and the
// nft queue tried by the test in a netns of its own, the cgroup layout, the freezer,
// /dev/fuse, Yama, the runtime socket. --fault narrows the table and the exit code: 0
// for faults that can work (network.delay through its fallback when netem is
// missing), 3 for one pinned to a backend the node lacks (network.delay:netem), 1 for
// a backend the fault has not; no probe pod is left.
func TestDoctorOnNode(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	net := hostNet(t)
	doctor := func(args ...string) result {
		t.Helper()
		r := chaosPlain(t, nil, append([]string{"doctor", "--runtime-socket", runtimeSocket, "--image-pull-policy", "Never"}, args...)...)
		t.Logf("doctor %v:\n%s%s", args, r.Stdout, r.Stderr)
		if len(helperPods(t)) > 0 {
			t.Errorf("doctor %v returned with its probe pod still there: %v", args, helperPods(t))
		}
		return r
	}
	r := doctor()
	if r.Code != 0 {
		t.Fatalf("doctor: exit %d, want 0 (root has every permission; no --fault)", r.Code)
	}
	rows := doctorTable(t, r.Stdout)
	status := func(ok bool, no string) string {
		if ok {
			return "ok"
		}
		return no
	}
	var uts unix.Utsname
	_ = unix.Uname(&uts)
	var cg unix.Statfs_t
	_ = unix.Statfs("/sys/fs/cgroup", &cg)
	var un unix.Statfs_t
	hybrid := cg.Type != unix.CGROUP2_SUPER_MAGIC && unix.Statfs("/sys/fs/cgroup/unified", &un) == nil && un.Type == unix.CGROUP2_SUPER_MAGIC
	_, ferr := os.Stat("/sys/fs/cgroup/freezer")
	fuse, fuseErr := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	if fuseErr == nil {
		fuse.Close()
	}
	yama, yerr := os.ReadFile("/proc/sys/kernel/yama/ptrace_scope")
	yamaDetail := "ptrace_scope " + strings.TrimSpace(string(yama))
	if yerr != nil {
		yamaDetail = "no Yama"
	}
	cgroupDetail := "v1"
	switch {
	case cg.Type == unix.CGROUP2_SUPER_MAGIC:
		cgroupDetail = "v2"
	case hybrid:
		cgroupDetail = "hybrid"
	}
	expect := []struct {
		check, status, detail string
	}{
		{"kernel", "ok", unix.ByteSliceToString(uts.Release[:])},
		{"sch_netem", status(net["sch_netem"], "missing"), map[bool]string{true: "netem", false: "NFQUEUE engine"}[net["sch_netem"]]},
		{"tbf", status(net["tbf"], "missing"), ""},
		{"nftables", status(net["nftables"], "missing"), ""},
		{"nfqueue", status(net["nfqueue"], "fallback"), map[bool]string{true: "native", false: "nft_compat"}[net["nfqueue"]]},
		{"cgroup", "ok", cgroupDetail},
		{"freezer", status(ferr == nil || cg.Type == unix.CGROUP2_SUPER_MAGIC, "missing"), ""},
		{"fuse", status(fuseErr == nil, "missing"), "/dev/fuse"},
		{"ptrace", status(strings.TrimSpace(string(yama)) != "3", "missing"), yamaDetail},
		{"runtime", "ok", runtimeSocket},
	}
	for _, e := range expect {
		got, ok := rows[e.check]
		switch {
		case !ok:
			t.Errorf("doctor's table has no %s row", e.check)
		case got.status != e.status || !strings.Contains(got.detail, e.detail):
			t.Errorf("%s: doctor says %s %q; this machine: %s (detail with %q)", e.check, got.status, got.detail, e.status, e.detail)
		}
	}
	t.Logf("this machine: %v, cgroup %s, freezer %v, fuse %v, yama %q", net, cgroupDetail, ferr == nil, fuseErr == nil, strings.TrimSpace(string(yama)))

	r = doctor("--fault", "network.delay", "--fault", "network.loss")
	if r.Code != 0 || !strings.Contains(r.Stdout, "network.delay: can work on every node") {
		t.Errorf("--fault network.delay --fault network.loss: exit %d, want 0 (a backend or its fallback works here)", r.Code)
	}
	if rows := doctorTable(t, r.Stdout); len(rows) == 0 || rows["fuse"] != (doctorRow{}) || rows["sch_netem"] == (doctorRow{}) {
		t.Errorf("--fault network.delay does not narrow the table to its checks: %v", rows)
	}
	r = doctor("--fault", "network.delay:netem")
	wantCode := map[bool]int{true: 0, false: 3}[net["sch_netem"]]
	if r.Code != wantCode {
		t.Errorf("--fault network.delay:netem: exit %d, want %d (sch_netem here: %v)", r.Code, wantCode, net["sch_netem"])
	}
	if !net["sch_netem"] && (!strings.Contains(r.Stdout, "network.delay:netem: cannot work") || !strings.Contains(r.Stderr, "sch_netem missing")) {
		t.Errorf("--fault network.delay:netem does not say why it cannot work")
	}
	r = doctor("--fault", "network.bandwidth:netem")
	if r.Code != 1 || !strings.Contains(r.Stderr, "--fault") || !strings.Contains(r.Stderr, "no backend") {
		t.Errorf("--fault network.bandwidth:netem: exit %d, want 1 naming --fault", r.Code)
	}
	waitNoHelpers(t, 10*time.Second)
}

// tmux drives a terminal of its own (a server on a socket named for the test).
type tmux struct {
	t    *testing.T
	sock string
}

func (x tmux) run(args ...string) string {
	x.t.Helper()
	r := run(x.t, 30*time.Second, nil, "tmux", append([]string{"-L", x.sock}, args...)...)
	if r.Code != 0 {
		x.t.Fatalf("tmux %v: %s", args, r)
	}
	return r.Stdout
}

func (x tmux) screen() string { return x.run("capture-pane", "-p", "-t", "live") }

var droppedRE = regexp.MustCompile(`nft matched \S+ \((\d+)\) · nft dropped \S+ \((\d+)\)`)

// counters reads the target's nft matched and dropped totals off the screen.
func counters(screen string) (matched, dropped int, ok bool) {
	m := droppedRE.FindStringSubmatch(screen)
	if m == nil {
		return 0, 0, false
	}
	a, _ := strconv.Atoi(m[1])
	b, _ := strconv.Atoi(m[2])
	return a, b, true
}

// TestLiveViewTmux: `kubectl chaos network loss` in a tmux pane (a real TTY on stdin
// and stderr) draws the live view; two reads of the screen 2 s apart show the agent's
// counters moving, dropped/matched near the asked 50 %; the S key stops all, the
// screen shows the target recovered, the CLI exits 0, and a UDP client outside sees
// the loss end.
func TestLiveViewTmux(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	base := udpLoss(t, ip, 300)
	if base.Loss > 0.02 {
		t.Fatalf("baseline UDP loss %.1f%%", base.Loss*100)
	}
	bin, err := exec.LookPath("kubectl-chaos")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	exitFile := filepath.Join(dir, "exit")
	args := chaosArgs("network", "loss", "deploy/web", "--percent", "50", "--loss-backend", "nft", "--duration", "2m", "-n", sc.NS)
	script := fmt.Sprintf("#!/bin/sh\nexport KUBECONFIG=%q KUBECTL_CHAOS_RUNTIME_SOCKET=%q KUBECTL_CHAOS_STATE_DIR=%q PATH=%q\nkubectl %s\necho $? >%q\nexec sleep 600\n",
		kubeconfig, runtimeSocket, filepath.Join(os.TempDir(), "kc-e2e-state"), filepath.Dir(bin)+":"+os.Getenv("PATH"), strings.Join(args, " "), exitFile)
	if err := os.WriteFile(filepath.Join(dir, "live.sh"), []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	x := tmux{t, fmt.Sprintf("kc-ux3-%d", os.Getpid())}
	sc.Snapshot()
	s := newStream(t, ip)
	defer s.close()
	x.run("-f", "/dev/null", "new-session", "-d", "-s", "live", "-x", "120", "-y", "40", filepath.Join(dir, "live.sh"))
	t.Cleanup(func() { _ = run(t, 10*time.Second, nil, "tmux", "-L", x.sock, "kill-server") })

	first, took := until(t, "the live view shows the counters", 90*time.Second, paced(250*time.Millisecond, x.screen), func(s string) bool {
		_, d, ok := counters(s)
		return ok && d > 0
	})
	t.Logf("live view with counters %v after the start:\n%s", took.Round(time.Millisecond), first)
	for _, w := range []string{"S stop all", "active", "node "} {
		if !strings.Contains(first, w) {
			t.Errorf("the live view lacks %q", w)
		}
	}
	m1, d1, _ := counters(first)
	time.Sleep(2 * time.Second)
	second := x.screen()
	m2, d2, ok := counters(second)
	if !ok || m2 <= m1 || d2 <= d1 {
		t.Fatalf("the counters did not move in 2 s: matched %d → %d, dropped %d → %d\n%s", m1, m2, d1, d2, second)
	}
	ratio := float64(d2-d1) / float64(m2-m1)
	t.Logf("2 s of counters on screen: matched +%d, dropped +%d (%.0f %%, asked 50 %%)", m2-m1, d2-d1, ratio*100)
	if ratio < 0.35 || ratio > 0.65 {
		t.Errorf("dropped/matched %.2f on screen, want 0.5 ± 0.15 for --percent 50", ratio)
	}
	if l := udpLoss(t, ip, 300); l.Loss < 0.25 {
		t.Errorf("a client outside measures %.1f%% loss during the fault, want about 50%% (baseline %.1f%%)", l.Loss*100, base.Loss*100)
	}

	x.run("send-keys", "-t", "live", "S")
	stopped := time.Now()
	last, _ := until(t, "the CLI exited after S", 60*time.Second, paced(250*time.Millisecond, func() string {
		b, _ := os.ReadFile(exitFile)
		return strings.TrimSpace(string(b))
	}), func(s string) bool { return s != "" })
	t.Logf("S → CLI exit %s after %v; the screen:\n%s", last, time.Since(stopped).Round(time.Millisecond), x.screen())
	// S is "stop all, as Ctrl-C": 130, interrupted after a clean recovery (docs/exit-codes.md).
	if last != "130" {
		t.Errorf("exit %s after the S key, want 130 (as Ctrl-C, recovered)", last)
	}
	if scr := x.screen(); !strings.Contains(scr, "recovered") {
		t.Errorf("the screen does not show the recovery")
	}
	_, gone := until(t, "loss gone for a client outside", 10*time.Second, lossOf(t, ip, 100), func(r probe.UDPReport) bool { return r.Loss <= 0.02 })
	t.Logf("loss gone %v after the CLI exited", gone.Round(time.Millisecond))
	sc.End()
}
