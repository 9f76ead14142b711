//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// The kill matrix (issue 16): each fault family whose effect lives on the node (network,
// stress, IO, time, container pause), cut short in each way a session can be cut short
// — kill -9 of the CLI or of the agent, deletion of the helper or of the target pod, a
// restart of the target container (its main process killed: a new container in the same
// pod sandbox), a crash loop of the target container (kmCrashes exits of the echo
// workload's crash-loop mode, the kubelet backing off 10 s before the last restart), a
// restart of containerd or of the kubelet — at a seeded random instant while the fault
// is being injected, held or recovered. After each case, within a
// measured bound: the effect gone for a client outside the pod, no helper pod, the
// node's residue (qdiscs, nft tables, FUSE mounts, the tool's processes, journals,
// cgroups) as before.
//
// A restarted or crash-looping target (docs/agent.md, "When the target container
// restarts"): a network fault lives in the pod sandbox's netns and must hold through
// every restart (asserted in the hold phase, measured once the container runs again)
// and be recovered through the sandbox (chaos-mesh#4827); stress, IO and time end with
// the container they were applied to and are not applied to its successors (the agent
// says so); a paused container cannot die while frozen, it crashes after the thaw.
//
// Pod kill and pod failure are API calls without a helper (nothing on the node to cut
// short): pod kill is done when the API accepted the delete, and pod failure's undo
// record lives on the pod (TestPodFailureKillCLIThenGC covers its CLI kill); container
// kill is one signal. They are not in the matrix.
//
// `make test` runs a seeded subset: one case per family, the cuts a seeded permutation
// (so five different cuts per run; restart-target and crashloop-target share a slot),
// the phase drawn per case. `make test-reliability`
// (E2E_RELIABILITY=full) runs every case; E2E_KILLMATRIX=REGEXP picks cases by name
// ("network-loss/kill-agent/hold") from the full list; E2E_SEED=N replays the instants.

// kmFamily is one fault family of the matrix: its workload, its fault, and how a client
// outside the pod measures it.
type kmFamily struct {
	name string
	app  string // the workload: km (echo server with limits) or kmio (the IO workload)
	args []string
	unit string
	// measure is one fresh measurement (NaN: nothing to measure now, e.g. the target is
	// restarting); active and gone judge it.
	measure      func(w *kmWorkload) float64
	active, gone func(v float64) bool
	// freezes: the fault freezes the container, which cannot restart before the thaw.
	freezes bool
}

func kmLoss(w *kmWorkload) float64 {
	r, err := probe.UDP(w.ip+":9000", 40, time.Millisecond, 300*time.Millisecond)
	if err != nil {
		return math.NaN()
	}
	return r.Loss
}

var kmFamilies = []kmFamily{
	{
		name: "network-loss", app: "km", unit: "% UDP loss",
		args:    []string{"network", "loss", "deploy/km", "--percent", "100"},
		measure: kmLoss,
		active:  func(v float64) bool { return v == 100 },
		gone:    func(v float64) bool { return v == 0 },
	},
	{
		name: "stress-cpu", app: "km", unit: "CPU above the idle pod",
		args: []string{"stress", "cpu", "deploy/km", "--workers", "2", "--load", "40"},
		measure: func(w *kmWorkload) float64 {
			v, err := w.cpuRate(time.Second)
			if err != nil {
				return math.NaN()
			}
			return v - w.cpuBase
		},
		active: func(v float64) bool { return v > 0.15 },
		gone:   func(v float64) bool { return v < 0.08 },
	},
	{
		name: "io-latency", app: "kmio", unit: "ms write p50 (999: errors or a FUSE mount)",
		args: []string{"io", "latency", "deploy/kmio", "--path", "/data", "--delay", "50ms", "--methods", "write"},
		measure: func(w *kmWorkload) float64 {
			r, err := ioWindowErr(w.ip, time.Second)
			switch {
			case err != nil || r.Fresh.Ops < 5:
				return math.NaN()
			case r.FUSE > 0 || r.Fresh.ErrorRate("") > 0 || r.Held.ErrorRate("") > 0:
				return 999 // ENOTCONN of a dead agent's mount, or our mount still there
			}
			return max(r.Fresh.P50Ms, r.Held.P50Ms)
		},
		active: func(v float64) bool { return v >= 40 },
		gone:   func(v float64) bool { return v < 10 },
	},
	{
		name: "time-shift", app: "km", unit: "s behind the node",
		args: []string{"time", "shift", "deploy/km", "--offset", "-1h"},
		measure: func(w *kmWorkload) float64 {
			d, err := skewErr(w.ip)
			if err != nil {
				return math.NaN()
			}
			return -d.Seconds()
		},
		active: func(v float64) bool { return math.Abs(v-3600) < 1 },
		gone:   func(v float64) bool { return math.Abs(v) < 1 },
	},
	{
		name: "container-pause", app: "km", unit: "% UDP loss (frozen server)",
		args:    []string{"container", "pause", "deploy/km"},
		freezes: true,
		measure: kmLoss,
		active:  func(v float64) bool { return v == 100 },
		gone:    func(v float64) bool { return v == 0 },
	},
}

// kmCut is one way a session is cut short. do performs it and says what it did.
type kmCut struct {
	name string
	do   func(c *kmCase) string
	// The target pod is replaced (its sandbox, IP and cgroups change) or its container
	// restarted (new container, same sandbox and IP) crashes times.
	replacesTarget, restartsTarget bool
	crashes                        int
}

// kmCrashes is how often crashloop-target makes the target's container exit: the
// kubelet restarts it at once the first time and after its 10 s back-off the second
// (a third would add 20 s more to every such case).
const kmCrashes = 2

// kmCrashFile is the workload's crash-loop count file (an emptyDir: it outlives the
// container), as the container sees it; the echo workload's $ECHO_CRASHLOOP
// (tools/echo/crashloop.go).
const kmCrashFile = "/crash/count"

var kmCuts = []kmCut{
	{name: "kill-cli", do: func(c *kmCase) string {
		if !c.s.Running() {
			return "the CLI had exited already"
		}
		c.s.Signal(syscall.SIGKILL)
		return "SIGKILL to the CLI"
	}},
	{name: "kill-agent", do: func(c *kmCase) string {
		// While injecting the agent may not run yet, while recovering no more: wait a little.
		var pids []int
		if !c.poll(func() bool { pids = agentPIDs(c.t); return len(pids) > 0 }) {
			return "no agent process to kill (none yet, or it had exited)"
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		return fmt.Sprintf("SIGKILL to agent pid %v", pids)
	}},
	{name: "delete-helper", do: func(c *kmCase) string {
		if !c.poll(func() bool { return len(helperPods(c.t)) > 0 }) {
			return "no helper pod to delete"
		}
		kubectl(c.t, "-n", helperNS, "delete", "pods", "-l", "app.kubernetes.io/managed-by=kubectl-chaos", "--wait=false")
		return "kubectl delete pod (helper)"
	}},
	{name: "delete-target", replacesTarget: true, do: func(c *kmCase) string {
		kubectl(c.t, "-n", c.w.ns, "delete", "pod", c.w.pod, "--wait=false")
		return "kubectl delete pod " + c.w.pod
	}},
	{name: "restart-target", restartsTarget: true, crashes: 1, do: func(c *kmCase) string {
		pids := containerPIDs(c.w.containerID)
		if len(pids) == 0 {
			c.t.Fatalf("no process of the target container %s on the node", c.w.containerID)
		}
		if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
			c.t.Fatalf("kill -9 of the target's main process %d: %v", pids[0], err)
		}
		return fmt.Sprintf("SIGKILL to the target's main process %d", pids[0])
	}},
	{name: "crashloop-target", restartsTarget: true, crashes: kmCrashes, do: func(c *kmCase) string {
		pids := containerPIDs(c.w.containerID)
		if len(pids) == 0 {
			c.t.Fatalf("no process of the target container %s on the node", c.w.containerID)
		}
		// Through the main process's root: no exec, no API, no network (works while a
		// network fault drops everything and while the container is frozen).
		f := fmt.Sprintf("/proc/%d/root%s", pids[0], kmCrashFile)
		if err := os.WriteFile(f+".new", []byte(strconv.Itoa(kmCrashes)), 0o644); err != nil {
			c.t.Fatalf("crash-loop trigger: %v", err)
		}
		if err := os.Rename(f+".new", f); err != nil {
			c.t.Fatalf("crash-loop trigger: %v", err)
		}
		return fmt.Sprintf("crash-loop: %d crashes asked of the target (pid %d)", kmCrashes, pids[0])
	}},
	{name: "restart-containerd", do: func(c *kmCase) string { return restartNodeDaemon(c.t, "containerd") }},
	{name: "restart-kubelet", do: func(c *kmCase) string { return restartNodeDaemon(c.t, "kubelet") }},
}

// restartNodeDaemon restarts containerd or the kubelet of the local cluster (cluster.sh
// restart: SIGTERM, SIGKILL after 2 s, started again with the same command line).
func restartNodeDaemon(t *testing.T, name string) string {
	t.Helper()
	r := run(t, 90*time.Second, nil, "bash", "cluster/cluster.sh", "restart", name)
	if r.Code != 0 {
		t.Fatalf("cluster.sh restart %s: %s", name, r)
	}
	return fmt.Sprintf("%s restarted (serving again after %v)", name, r.Took.Round(time.Millisecond))
}

var kmPhases = []string{"inject", "hold", "recover"}

// kmCase is one case of the matrix while it runs.
type kmCase struct {
	t     *testing.T
	fam   kmFamily
	cut   kmCut
	phase string
	rng   *rand.Rand
	w     *kmWorkload
	s     *session
}

func (c *kmCase) name() string { return c.fam.name + "/" + c.cut.name + "/" + c.phase }

// poll calls ok every 50 ms until it holds (true) or the session is over (false), at
// most 20 s; once: while recovering (what is not there any more will not come back).
func (c *kmCase) poll(ok func() bool) bool {
	for start := time.Now(); time.Since(start) < 20*time.Second; time.Sleep(50 * time.Millisecond) {
		if ok() {
			return true
		}
		if c.phase == "recover" || !c.s.Running() && len(helperPods(c.t)) == 0 {
			return false
		}
	}
	return false
}

// kmWorkload is a matrix target: one pod of a Deployment, re-read when it is replaced.
type kmWorkload struct {
	ns, app          string
	pod, ip          string
	containerID      string
	restarts         int
	cgs              []fault.Cgroup // the pod's own cgroups (parents of its container's)
	cpuBase          float64
	deploy           func(t *testing.T)
	measured, needed bool
}

// refresh waits for the one Ready pod of the workload and reads its name, IP, container,
// restart count and cgroups.
func (w *kmWorkload) refresh(t *testing.T) {
	t.Helper()
	w.ip = podIPs(t, w.ns, "app="+w.app, 1)[0]
	w.pod = podNames(t, w.ns, "app="+w.app)[0]
	kubectl(t, "-n", w.ns, "wait", "--for=condition=Ready", "pod/"+w.pod, "--timeout=90s")
	for _, id := range containerIDs(t, w.ns, w.pod) {
		w.containerID = id
	}
	w.restarts = atoi(kubectl(t, "-n", w.ns, "get", "pod", w.pod, "-o", "jsonpath={.status.containerStatuses[0].restartCount}"))
	w.cgs = nil
	for _, c := range podCgroups(t, w.ns, w.pod) {
		c.Dir, c.Path = filepath.Dir(c.Dir), path.Dir(c.Path)
		w.cgs = append(w.cgs, c)
	}
}

// cpuRate is the pod's CPU use over d, in CPUs, from its own cgroup (which outlives a
// restart of its container).
func (w *kmWorkload) cpuRate(d time.Duration) (float64, error) {
	u0, err := container.CPUUsage(w.cgs)
	if err != nil {
		return 0, err
	}
	t0 := time.Now()
	time.Sleep(d)
	u1, err := container.CPUUsage(w.cgs)
	return float64(u1-u0) / float64(time.Since(t0)), err
}

// kmSeed is E2E_SEED, or a fresh one printed for replay.
func kmSeed(t *testing.T) uint64 {
	if s := os.Getenv("E2E_SEED"); s != "" {
		n, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("E2E_SEED=%q: want an unsigned integer", s)
		}
		return n
	}
	return uint64(time.Now().UnixNano()) % 1_000_000_000
}

// kmPlan lists the cases to run: every one (E2E_RELIABILITY=full), those whose name
// matches E2E_KILLMATRIX, or the seeded subset. Each case's random instant comes from
// its own generator (seed, its index in the full list), so a case has the same instant
// in the subset, in the full matrix and alone.
func kmPlan(t *testing.T, seed uint64) []*kmCase {
	var all []*kmCase
	for _, f := range kmFamilies {
		for _, cut := range kmCuts {
			for _, ph := range kmPhases {
				all = append(all, &kmCase{fam: f, cut: cut, phase: ph, rng: rand.New(rand.NewPCG(seed, uint64(len(all))))})
			}
		}
	}
	if re := os.Getenv("E2E_KILLMATRIX"); re != "" {
		rx, err := regexp.Compile(re)
		if err != nil {
			t.Fatalf("E2E_KILLMATRIX=%q: %v", re, err)
		}
		var out []*kmCase
		for _, c := range all {
			if rx.MatchString(c.name()) {
				out = append(out, c)
			}
		}
		return out
	}
	if os.Getenv("E2E_RELIABILITY") == "full" {
		return all
	}
	// The target's restart and its crash loop share one slot of the permutation (a coin
	// picks one), so the subset costs what it did before the crash loop (10 s of the
	// kubelet's back-off more) came.
	pick := rand.New(rand.NewPCG(seed, math.MaxUint64))
	var slots []int // indices into kmCuts
	loop := -1
	for i, cut := range kmCuts {
		if cut.crashes > 1 {
			loop = i
			continue
		}
		slots = append(slots, i)
	}
	perm := pick.Perm(len(slots))
	var out []*kmCase
	for i := range kmFamilies {
		cut := slots[perm[i%len(perm)]]
		if kmCuts[cut].crashes == 1 && loop >= 0 && pick.IntN(2) == 1 {
			cut = loop
		}
		out = append(out, all[(i*len(kmCuts)+cut)*len(kmPhases)+pick.IntN(len(kmPhases))])
	}
	return out
}

// TestKillMatrix runs the kill matrix and prints its table (TABLE lines, and the table
// at the end, also written to _out/e2e/killmatrix.md).
func TestKillMatrix(t *testing.T) {
	sc := newScenario(t)
	seed := kmSeed(t)
	cases := kmPlan(t, seed)
	fmt.Printf("kill matrix: seed %d (replay: E2E_SEED=%d), %d case(s)\n", seed, seed, len(cases))
	t.Logf("kill matrix: seed %d (replay: E2E_SEED=%d), %d case(s)", seed, seed, len(cases))
	work := map[string]*kmWorkload{
		"km": {ns: sc.NS, app: "km", deploy: func(t *testing.T) {
			deployEchoWith(t, sc.NS, "km", 1, `        resources:
          limits: {cpu: "1", memory: "128Mi"}
          requests: {cpu: "1", memory: "128Mi"}
        env: [{name: ECHO_CRASHLOOP, value: `+kmCrashFile+`}]
        volumeMounts: [{name: crash, mountPath: `+path.Dir(kmCrashFile)+`}]
      volumes: [{name: crash, emptyDir: {}}]
`)
		}},
		"kmio": {ns: sc.NS, app: "kmio", deploy: func(t *testing.T) { deployIOWork(t, sc.NS, "kmio", true) }},
	}
	for _, c := range cases {
		work[c.fam.app].needed = true
	}
	for _, w := range work {
		if w.needed {
			w.deploy(t)
		}
	}
	var rows []string
	start := time.Now()
	for _, c := range cases {
		c.w = work[c.fam.app]
		t.Run(c.name(), func(t *testing.T) {
			c.t = t
			row := fmt.Sprintf("| %s | %s | %s | | | | FAILED | see the test's log |", c.fam.name, c.cut.name, c.phase)
			defer func() {
				rows = append(rows, row)
				t.Logf("TABLE|kill matrix|%s", row)
			}()
			row = c.run()
		})
	}
	table := "kill matrix, seed " + strconv.FormatUint(seed, 10) + fmt.Sprintf(", %d case(s) in %v (%s)\n", len(cases), time.Since(start).Round(time.Second), loadavg()) +
		"| family | cut | phase | instant | after the cut | fault gone | outcome, clean | CLI exit, notes |\n|---|---|---|---|---|---|---|---|\n" +
		strings.Join(rows, "\n")
	fmt.Println(table)
	root, _ := filepath.Abs("../..")
	_ = os.MkdirAll(filepath.Join(root, "_out/e2e"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "_out/e2e/killmatrix.md"), []byte(table+"\n"), 0o644)
}

// Bounds of one case: the effect must be gone and the node clean within these after the
// session ended (the cut itself, or the Ctrl-C that ended a session the cut left running).
const (
	kmGoneWithin  = 45 * time.Second // an agent that never heard its CLI gives up after 30 s
	kmCleanWithin = 60 * time.Second
	kmSettle      = 8 * time.Second // how long a session may run on after the cut before the Ctrl-C
	// kmLoopWithin bounds a crash loop of kmCrashes (the target's server is down in it,
	// so nothing is measured): 19-23 s measured at load 35, of which 10 s back-off.
	kmLoopWithin = 60 * time.Second
)

func (c *kmCase) run() string {
	t := c.t
	cleanupHelpers(t)
	c.ready()
	sc := &scenario{t: t, NS: c.w.ns}
	sc.Track("node", residue)
	if c.cut.replacesTarget {
		sc.ReplacesPods()
	}
	c.s = sc.Start(append(append([]string{}, c.fam.args...), "--duration", "3m")...)
	instant := c.instant()
	cutAt := time.Now()
	did := c.cut.do(c)
	t.Logf("%s at %s: %s", c.cut.name, instant, did)
	after, endAt := c.settle(cutAt)
	if kmCutMissed(did) {
		// The row must not read as a cut that was survived: nothing was cut.
		after = "cut missed: " + did + "; " + after
	}
	code := c.s.Wait(90 * time.Second)
	if c.cut.restartsTarget && c.phase == "inject" && code == 3 {
		// Exit 3 (a target failed) was this case's outcome before the agent followed a
		// restarted container; now the fault must have been applied.
		t.Errorf("%s: CLI exit 3: the agent did not apply the fault to the restarted target container", c.name())
	}
	if c.cut.replacesTarget {
		c.w.refresh(t) // the client measures the new pod
	}
	c.t.Logf("CLI output (exit %d):\n%s", code, tailLines(c.s.Output(), 12))
	// A restarted target keeps its IP and pod cgroups: the client measures it at once.
	gone, clean, outcome, notes := c.verify(sc, endAt)
	if n := strings.Count(c.s.Output(), "waiting for the kubelet's retry"); n > 0 {
		// The cut made a helper's start fail before the attach; the CLI waited for the
		// kubelet's retry (docs/README.md "A helper that cannot start").
		notes += fmt.Sprintf("; %d failed helper start(s) waited out", n)
	}
	if c.cut.crashes > 1 {
		// The loop may outlast the session (a short one, or a frozen container that
		// crashes at the thaw): read the container that runs after it.
		t.Logf("after the session: %s", c.awaitRestart())
	}
	if c.cut.restartsTarget {
		c.w.refresh(t)
	}
	return fmt.Sprintf("| %s | %s | %s | %s | %s | %s | %s %s | exit %d%s |", c.fam.name, c.cut.name, c.phase, instant, after,
		ms(gone), outcome, ms(clean), code, notes)
}

// ready makes sure the workload is there, measured and clean before the case.
func (c *kmCase) ready() {
	w := c.w
	if c.cut.restartsTarget && w.restarts > 0 {
		// A fresh pod: kubelet backs off restarting a container that restarted before.
		kubectl(c.t, "-n", w.ns, "delete", "pod", w.pod, "--wait=true")
		w.measured = false
	}
	if !w.measured {
		w.refresh(c.t)
		w.cpuBase, _ = w.cpuRate(2 * time.Second)
		w.measured = true
	}
	until(c.t, "the "+w.app+" workload clean before the case", 30*time.Second, func() float64 { return c.fam.measure(w) }, c.fam.gone)
}

// instant waits for the case's seeded instant in its phase (for recover: Ctrl-C, then
// the instant) and says what it was.
func (c *kmCase) instant() string {
	var delay time.Duration
	switch c.phase {
	case "inject":
		c.s.WaitOutput("creating helper pod", 60*time.Second)
		delay = time.Duration(c.rng.IntN(2500)) * time.Millisecond
	case "hold":
		until(c.t, "fault active", 90*time.Second, func() float64 { return c.fam.measure(c.w) }, c.fam.active)
		delay = time.Duration(c.rng.IntN(3000)) * time.Millisecond
	case "recover":
		until(c.t, "fault active", 90*time.Second, func() float64 { return c.fam.measure(c.w) }, c.fam.active)
		delay = time.Duration(c.rng.IntN(150)) * time.Millisecond
		c.s.Signal(syscall.SIGINT)
	}
	time.Sleep(delay)
	return fmt.Sprintf("%s +%v (CLI: %s)", c.phase, delay, c.milestone())
}

// settle lets the session end by itself (helper deleted, CLI killed) or run on for
// kmSettle after the cut; a session still running is then measured (did the fault
// hold?) and ended with Ctrl-C. It returns what happened and when the session ended.
func (c *kmCase) settle(cutAt time.Time) (string, time.Time) {
	for c.s.Running() && time.Since(cutAt) < kmSettle {
		time.Sleep(100 * time.Millisecond)
	}
	if !c.s.Running() {
		return "session ended by itself", cutAt
	}
	v, restart := math.NaN(), "" // a replaced target: its old IP is no measure
	if !c.cut.replacesTarget {
		switch {
		case c.cut.restartsTarget && c.fam.freezes:
			restart = "frozen: the container restarts at the thaw; "
		case c.cut.restartsTarget:
			restart = c.awaitRestart() + "; "
		}
		v = c.fam.measure(c.w)
	}
	// The pod sandbox outlives its container: a network fault must still hold on the new
	// container (chaos-mesh#4827) until the session ends.
	if c.cut.restartsTarget && c.phase == "hold" && c.fam.name == "network-loss" && !c.fam.active(v) {
		c.t.Errorf("%s: the network fault did not hold across the container's restart: %v %s", c.name(), v, c.fam.unit)
	}
	// A restart before the injection: the agent follows the container that replaced the
	// planned one (docs/agent.md, "A restart between the plan and the injection").
	if c.cut.restartsTarget && c.phase == "inject" && !c.fam.freezes && c.mustHoldAfterInjectRestart() {
		// The agent injects once the successor runs, at about the time this test sees it
		// run: give it a few seconds.
		for start := time.Now(); !c.fam.active(v) && time.Since(start) < 5*time.Second; {
			time.Sleep(200 * time.Millisecond)
			v = c.fam.measure(c.w)
		}
		if !c.fam.active(v) {
			c.t.Errorf("%s: the fault is not held on the container that replaced the planned one: %v %s", c.name(), v, c.fam.unit)
		}
	}
	if f := c.followed(); f != "" {
		restart += "agent: " + f + "; "
	}
	ran := fmt.Sprintf("%ssession ran on (fault %s: %.4g %s)", restart, heldWord(c.fam.active(v)), v, c.fam.unit)
	now := time.Now()
	if err := c.s.cmd.Process.Signal(syscall.SIGINT); err != nil {
		// It ended by itself while measured (a kubelet restart that took longer than
		// kmSettle breaks the attach stream late).
		return ran + "; ended by itself before the Ctrl-C", now
	}
	return ran + "; Ctrl-C", now
}

// verify checks, within the bounds after the session ended, that the effect is gone,
// no helper pod is left and the node's residue is as before; `gc --all-nodes` runs
// (and is noted) only where something is left that no agent will recover.
func (c *kmCase) verify(sc *scenario, endAt time.Time) (gone, clean time.Duration, outcome, notes string) {
	t := c.t
	within := kmGoneWithin
	if c.cut.crashes > 1 {
		within += kmLoopWithin // the client sees the server again after the loop
	}
	v, gone, ok := c.waitGone(endAt, within)
	if !ok {
		notes += "; " + c.sweep("fault still measured "+fmt.Sprint(v))
		if v, gone, ok = c.waitGone(endAt, within+60*time.Second); !ok {
			t.Errorf("%s: the fault is still there %v after the session ended (and gc --all-nodes): %v %s", c.name(), time.Since(endAt).Round(time.Millisecond), v, c.fam.unit)
		}
	}
	waitHelpersEnded(t, kmCleanWithin, "after the case")
	if !c.noHelpersWithin(15 * time.Second) {
		gc(t) // finished helpers (Succeeded/Failed) stay in the API until gc, as designed
		notes += "; gc removed finished helpers"
	}
	waitNoHelpers(t, kmCleanWithin)
	_, added, removed := sameWithin(sc.before, sc.snapshot, kmCleanWithin)
	if len(added)+len(removed) > 0 {
		notes += "; " + c.sweep("left on the node: "+strings.Join(added, "; "))
		_, added, removed = sameWithin(sc.before, sc.snapshot, kmCleanWithin)
	}
	clean = time.Since(endAt)
	outcome = "ok"
	if len(added)+len(removed) > 0 {
		outcome = "LEFT " + strings.Join(added, "; ") + " GONE " + strings.Join(removed, "; ")
		t.Errorf("%s: node state differs %v after the session:\nleft behind:\n  %s\ngone:\n  %s", c.name(), clean.Round(time.Millisecond),
			strings.Join(added, "\n  "), strings.Join(removed, "\n  "))
	}
	if !ok {
		outcome = "FAULT STILL ACTIVE"
	}
	return gone, clean, outcome, notes
}

// noHelpersWithin says whether every helper pod is gone within d (deleted ones
// terminate; finished ones of a CLI that died stay until gc).
func (c *kmCase) noHelpersWithin(d time.Duration) bool {
	for start := time.Now(); time.Since(start) < d; time.Sleep(200 * time.Millisecond) {
		h := helperPods(c.t)
		if len(h) == 0 {
			return true
		}
		terminating := false
		for _, phase := range h {
			terminating = terminating || phase == "Running" || phase == "Pending"
		}
		if !terminating {
			return false // finished: only gc removes them
		}
	}
	return false
}

// awaitRestart waits (bounded) for the target container to run again after the cut's
// restarts (not for Ready: kubelet's readiness probe comes from the node, through a
// network fault). A crash-looping one runs again after its last restart, when the count
// file is down to 0 (the last crash wrote it) and it stayed up past its crash delay.
func (c *kmCase) awaitRestart() string {
	start, bound := time.Now(), 20*time.Second
	if c.cut.crashes > 1 {
		bound = kmLoopWithin
	}
	for time.Since(start) < bound {
		f := strings.Fields(kubectl(c.t, "-n", c.w.ns, "get", "pod", c.w.pod, "-o",
			"jsonpath={.status.containerStatuses[0].restartCount} {.status.containerStatuses[0].state.running.startedAt}"))
		if len(f) == 2 && atoi(f[0]) >= c.w.restarts+c.cut.crashes {
			time.Sleep(500 * time.Millisecond) // its server binds its ports (or crashes)
			if c.cut.crashes > 1 && !c.crashLoopOver() {
				continue
			}
			return fmt.Sprintf("container restarted %d time(s), running %v later", c.cut.crashes, time.Since(start).Round(time.Millisecond))
		}
		time.Sleep(200 * time.Millisecond)
	}
	return fmt.Sprintf("the container did not run again after %d restart(s) within %v", c.cut.crashes, bound)
}

// followed is what the agent's note says it followed ("" when it followed none).
func (c *kmCase) followed() string {
	out := c.s.Output()
	i := strings.Index(out, "restarted before injection; injecting into its successor ")
	if i < 0 {
		return ""
	}
	j := strings.LastIndex(out[:i], "container ")
	line, _, _ := strings.Cut(out[j:], "\n")
	return line
}

// mustHoldAfterInjectRestart says whether the fault must hold on the target's container
// that runs now after a restart cut in the inject phase: a network fault lives in the
// sandbox's netns, so it holds whenever it was applied (before the restart, or on the
// successor the agent followed); a container-bound one (stress, IO, time) only when the
// agent injected into the container that runs now (the note names it): when the cut
// came after the injection, or a crash loop's later exit ended the successor, it ended
// with that container, as in the hold phase.
func (c *kmCase) mustHoldAfterInjectRestart() bool {
	if c.fam.name == "network-loss" {
		return true
	}
	f := c.followed()
	if f == "" {
		return false
	}
	for _, id := range containerIDs(c.t, c.w.ns, c.w.pod) {
		return strings.HasSuffix(f, "successor "+id[:12])
	}
	return false
}

// crashLoopOver says whether the target's container runs with no crash left to come.
func (c *kmCase) crashLoopOver() bool {
	for _, id := range containerIDs(c.t, c.w.ns, c.w.pod) {
		for _, pid := range containerPIDs(id) {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", pid, kmCrashFile))
			return err == nil && strings.TrimSpace(string(b)) == "0"
		}
	}
	return false
}

// kmCutMissed says whether a cut found nothing to act on (the CLI, the agent or the
// helper already gone at the instant: a recover-phase instant after a fast recovery).
func kmCutMissed(did string) bool {
	return strings.HasPrefix(did, "no ") || strings.HasPrefix(did, "the CLI had exited")
}

func heldWord(active bool) string {
	if active {
		return "held"
	}
	return "not held"
}

// milestone is the last step the CLI reported before the instant.
func (c *kmCase) milestone() string {
	out := c.s.Output()
	m := "started"
	for _, s := range []string{"creating helper pod", "attached", "fault active"} {
		if strings.Contains(out, s) {
			m = s
		}
	}
	return m
}

// waitGone polls the effect until it is gone, at most until from+bound; it returns the
// last value and when the effect was first seen gone, relative to from.
func (c *kmCase) waitGone(from time.Time, bound time.Duration) (float64, time.Duration, bool) {
	var v float64
	for {
		v = c.fam.measure(c.w)
		if c.fam.gone(v) {
			return v, time.Since(from), true
		}
		if time.Since(from) > bound {
			return v, 0, false
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// sweep runs `kubectl chaos gc --all-nodes` (a sweep pod on the node recovers every
// journal no live agent holds): the design's answer when no agent will recover a
// journal again. It says why it ran and what the report said.
func (c *kmCase) sweep(why string) string {
	r := chaosPlain(c.t, nil, "gc", "--all-nodes")
	if r.Code != 0 {
		c.t.Errorf("kubectl chaos gc --all-nodes: %s", r)
	}
	c.t.Logf("%s: %s -> gc --all-nodes:\n%s", c.name(), why, r.Stdout)
	return "gc --all-nodes needed (" + why + ")"
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	l := strings.Split(strings.TrimRight(s, "\n"), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}
