//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"
)

// The phase table of make bench-e2e (issue 17): where the time from the command's start
// to an active fault goes, and from Ctrl-C to the command's exit. Three sources on one
// clock (this machine): the CLI's `-v` step lines (`msg="session step" step=… at=…`,
// with the agent's own marks that come on its first injected event), containerd's log
// for the helper's sandbox and container, and the probe stream for the fault itself.

// startSteps are the steps to an active fault, in the order they happen.
var startSteps = []struct{ key, label string }{
	{"cli-init", "CLI binary: first package init (≈ exec; before it: kubectl's own start)"},
	{"cli-main", "CLI main (runtime + package inits done)"},
	{"cli-targets-resolved", "CLI: kubeconfig, targets resolved"},
	{"cli-namespace-ready", "CLI: helper namespace checked"},
	{"create-sent", "CLI: helper create sent"},
	{"create-returned", "API create returned"},
	{"ctrd-sandbox-start", "kubelet asks for the sandbox (RunPodSandbox)"},
	{"ctrd-sandbox-ready", "sandbox ready (netns, CNI add)"},
	{"ctrd-container-started", "agent container started (StartContainer returned)"},
	{"agent-process-start", "agent process created (runc init's fork, before the exec; 10 ms resolution)"},
	{"agent-init-start", "agent binary: first package init (≈ exec)"},
	{"agent-plan-read", "agent main: plan read (runtime + package inits)"},
	{"attach-start", "the attach that reached the agent started"},
	{"agent-targets-resolved", "agent: targets resolved"},
	{"attach-first-event", "attach open: first agent event at the CLI"},
	{"agent-first-heartbeat", "agent: first heartbeat heard"},
	{"agent-injected", "agent: fault in the kernel (first target)"},
	{"fault-active", "probe: fault active (last pod)"},
	{"injected-received", "CLI: injected event received"},
}

// warmStartSteps are the steps to an active fault on a warm helper (no pod to start:
// the plan goes as a line over a new attach to the running agent).
var warmStartSteps = []struct{ key, label string }{
	{"cli-init", "CLI binary: first package init (≈ exec; before it: kubectl's own start)"},
	{"cli-main", "CLI main (runtime + package inits done)"},
	{"cli-warm-listed", "CLI: warm helpers listed (while the targets resolve)"},
	{"attach-start", "CLI: attach to the warm helper started (since perf17: right after the list; before: after the targets)"},
	{"cli-targets-resolved", "CLI: kubeconfig, targets resolved"},
	{"cli-warm-found", "CLI: warm helper picked for the resolved targets"},
	{"agent-plan-read", "agent: plan line read"},
	{"agent-targets-resolved", "agent: step's targets resolved"},
	{"agent-injected", "agent: fault in the kernel (first target)"},
	{"fault-active", "probe: fault active (last pod)"},
	{"injected-received", "CLI: injected event received"},
}

// stopSteps are the steps from Ctrl-C to the command's exit.
var stopSteps = []struct{ key, label string }{
	{"interrupt", "CLI: signal handled"},
	{"stop-sent", "CLI: stop line queued to every agent"},
	{"agent-recovered", "agent: fault removed (first recovered event)"},
	{"fault-gone", "probe: fault gone (last pod)"},
	{"recovered-received", "CLI: recovered event received"},
	{"delete-returned", "CLI: helper delete accepted by the API"},
	{"cli-exit", "command exited"},
	{"pod-gone", "helper pod gone (if the CLI waited for it)"},
}

var stepLine = regexp.MustCompile(`msg="session step" step=(\S+) helper=(\S*) at=(\S+)`)

// cliSteps reads the first time of each step from the CLI's -v stderr.
func cliSteps(stderr string) (map[string]time.Time, string) {
	m := map[string]time.Time{}
	helper := ""
	for _, l := range strings.Split(stderr, "\n") {
		g := stepLine.FindStringSubmatch(l)
		if g == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, g[3])
		if err != nil {
			continue
		}
		if helper == "" && g[2] != "" && g[2] != `""` {
			helper = g[2]
		}
		// attach-start: the last one before the first event (earlier probes reached nobody).
		if _, ok := m[g[1]]; ok && g[1] != "attach-start" {
			continue
		}
		if g[1] == "attach-start" {
			if _, opened := m["attach-first-event"]; opened {
				continue
			}
		}
		m[g[1]] = at
	}
	return m, helper
}

var ctrdTime = regexp.MustCompile(`^time="([^"]+)"`)

// containerdSteps reads the helper's sandbox and container start from containerd's log.
func containerdSteps(helper string, since time.Time) map[string]time.Time {
	m := map[string]time.Time{}
	b, err := os.ReadFile("/var/lib/kc-e2e-cluster/logs/containerd.log")
	if err != nil || helper == "" {
		return m
	}
	sandbox, ctr := "", ""
	sbRe := regexp.MustCompile(`returns sandbox id \\"([0-9a-f]+)\\"`)
	ctRe := regexp.MustCompile(`returns container id \\"([0-9a-f]+)\\"`)
	for _, l := range strings.Split(string(b), "\n") {
		g := ctrdTime.FindStringSubmatch(l)
		if g == nil {
			continue
		}
		at, err := time.Parse(time.RFC3339Nano, g[1])
		if err != nil || at.Before(since) {
			continue
		}
		switch {
		case strings.Contains(l, "RunPodSandbox for &PodSandboxMetadata{Name:"+helper+","):
			if s := sbRe.FindStringSubmatch(l); s != nil {
				sandbox = s[1]
				m["ctrd-sandbox-ready"] = at
			} else if _, ok := m["ctrd-sandbox-start"]; !ok {
				m["ctrd-sandbox-start"] = at
			}
		case sandbox != "" && ctr == "" && strings.Contains(l, `CreateContainer within sandbox \"`+sandbox):
			if c := ctRe.FindStringSubmatch(l); c != nil {
				ctr = c[1]
			}
		case ctr != "" && strings.Contains(l, `StartContainer for \"`+ctr+`\" returns successfully`):
			m["ctrd-container-started"] = at
		}
	}
	return m
}

// phaseRun is one run's steps, as offsets from the command's start (start side) and
// from Ctrl-C (stop side).
type phaseRun struct {
	start, stop map[string]time.Duration
}

func phasesOf(s *session, activeAt, sig, goneAt time.Time) phaseRun {
	steps, helper := cliSteps(s.Output())
	for k, v := range containerdSteps(helper, s.Started) {
		steps[k] = v
	}
	pr := phaseRun{start: map[string]time.Duration{}, stop: map[string]time.Duration{}}
	steps["fault-active"] = activeAt
	steps["fault-gone"] = goneAt
	steps["cli-exit"] = s.exited
	for _, st := range append(startSteps, warmStartSteps...) {
		if at, ok := steps[st.key]; ok && !at.IsZero() {
			pr.start[st.key] = at.Sub(s.Started)
		}
	}
	for _, st := range stopSteps {
		if at, ok := steps[st.key]; ok && !at.IsZero() && !at.Before(sig) {
			pr.stop[st.key] = at.Sub(sig)
		}
	}
	return pr
}

// phaseTable prints the median offset of each step over the runs, and the median of
// the gap from the step before.
func phaseTable(title string, steps []struct{ key, label string }, runs []map[string]time.Duration) string {
	med := func(d []time.Duration) string {
		if len(d) == 0 {
			return "—"
		}
		sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
		return fmt.Sprintf("%d (%d–%d)", d[len(d)/2].Milliseconds(), d[0].Milliseconds(), d[len(d)-1].Milliseconds())
	}
	lines := []string{title, "| step | at, ms: median (min–max) | since the step before, ms |", "|---|---|---|"}
	for i, st := range steps {
		var at, gap []time.Duration
		for _, r := range runs {
			v, ok := r[st.key]
			if !ok {
				continue
			}
			at = append(at, v)
			if i > 0 {
				if p, ok := r[steps[i-1].key]; ok {
					gap = append(gap, v-p)
				}
			}
		}
		lines = append(lines, fmt.Sprintf("| %s | %s | %s |", st.label, med(at), med(gap)))
	}
	return strings.Join(lines, "\n")
}

// logPhases logs and returns the phase tables of runs; what names them (pods, probe
// rate, runs, load).
func logPhases(t *testing.T, what string, rs []phaseRun) string {
	var st, sp []map[string]time.Duration
	for _, r := range rs {
		st, sp = append(st, r.start), append(sp, r.stop)
	}
	a := phaseTable(fmt.Sprintf("To an active fault, %s (ms after the command started)", what), startSteps, st)
	b := phaseTable(fmt.Sprintf("From Ctrl-C to the exit, %s (ms after the signal)", what), stopSteps, sp)
	t.Log("\n" + a + "\n\n" + b)
	return a + "\n\n" + b
}

// loadavg is the machine's load (1, 5, 15 min), said with every bench run: the
// machine is shared and the figures move with it.
func loadavg() string {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		return "?"
	}
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return "load " + strings.Join(f[:3], " ")
}

// benchCLIStart times `kubectl --help`, `kubectl noop` (a plugin that does nothing: the
// floor of any `kubectl PLUGIN`, kubectl's own start), `kubectl chaos --help`, `kubectl
// chaos version` and our binary alone, in the same run, interleaved, 9 times each: the
// table rows (median, min–max).
//
// Issue 17 asked for `kubectl chaos --help` not slower than `kubectl --help`. Through
// kubectl's shim no plugin can be: kubectl builds its whole command tree before it
// execs the plugin, and the noop row shows that floor run by run. What is ours is the
// plugin's own start, so that is the row judged against `kubectl --help` (the decision
// is in internal/e2e/README.md, "CLI start").
func benchCLIStart(t *testing.T) []string {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "kubectl-noop"), []byte("#!/bin/sh\nexit 0\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	env := []string{"PATH=" + dir + ":" + os.Getenv("PATH")}
	cmds := []struct {
		label, goal string
		args        []string
	}{
		{"kubectl --help", "—", []string{"kubectl", "--help"}},
		{"kubectl noop", "floor of any plugin", []string{"kubectl", "noop"}},
		{"kubectl chaos --help", "kubectl noop + ours", []string{"kubectl", "chaos", "--help"}},
		{"kubectl chaos version", "kubectl noop + ours", []string{"kubectl", "chaos", "version"}},
		// The plugin alone (what kubectl execs after its own start).
		{"kubectl-chaos --help", "≤ `kubectl --help`", []string{"kubectl-chaos", "--help"}},
	}
	took := make([][]time.Duration, len(cmds))
	for i := 0; i < 9; i++ {
		for j, c := range cmds {
			r := run(t, time.Minute, env, c.args[0], c.args[1:]...)
			if r.Code != 0 {
				t.Fatalf("%s: %s", strings.Join(c.args, " "), r)
			}
			took[j] = append(took[j], r.Took)
		}
	}
	var rows []string
	for j, c := range cmds {
		var rs []benchRun
		for _, d := range took[j] {
			rs = append(rs, benchRun{active: d})
		}
		rows = append(rows, fmt.Sprintf("| CLI start: `%s` (9 runs)%s | %-26s | %s |", c.label,
			strings.Repeat(" ", max(0, 22-len(c.label))), durs(rs, func(b benchRun) time.Duration { return b.active }), c.goal))
	}
	return rows
}
