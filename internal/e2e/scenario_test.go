//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// A scenario is the choreography every fault test plays on the local cluster:
//
//	sc := newScenario(t)                      // cluster check, leftover-helper cleanup, a fresh namespace
//	ip := sc.Echo("web", 1)[0]                 // the workload (or sc.Apply a manifest of your own)
//	sc.TrackTargets("web")                    // optional: also compare the targets' processes, mounts, cgroups
//	runFault(sc, faultRun[float64]{           // start, wait until active, measure, stop, wait until gone
//		Args:    []string{"stress", "cpu", "deploy/web", "--load", "50", "--duration", "2m"},
//		Measure: func() float64 { return cpuOf(t, …) }, // what a client sees: supplied by the test
//		Active:  func(v float64) bool { return v > 0.4 },
//		During:  func(s *session) { … the measurements and assertions of the test … },
//		Gone:    func(v float64) bool { return v < 0.05 },
//	})                                         // then: no helper pod left, the node as before
//
// Tests with a stop path of their own (kill -9, delete the helper, stop ID, TTL) use the
// same pieces directly: sc.Start, until, sc.End.
type scenario struct {
	t  *testing.T
	NS string

	tracks []track
	before []string // the snapshot of every track, taken before the first fault
}

// track is one source of state a session must leave as it found it.
type track struct {
	name string
	snap func(t *testing.T) []string
}

// newScenario checks for the cluster, removes helper pods a failed test left behind
// when the test ends, and makes a namespace for the test. The node's residue (qdiscs,
// nft tables, mounts, processes, journals, cgroups of the tool) is always compared.
func newScenario(t *testing.T) *scenario {
	t.Helper()
	needCluster(t)
	cleanupHelpers(t)
	sc := &scenario{t: t, NS: namespace(t)}
	sc.Track("node", residue)
	return sc
}

// Echo deploys NAME (label app=NAME) of echo servers in the scenario's namespace and
// returns their IPs once all are Ready.
func (sc *scenario) Echo(name string, replicas int) []string {
	sc.t.Helper()
	return deployEcho(sc.t, sc.NS, name, replicas)
}

// Apply creates the objects of a YAML manifest in the scenario's namespace (for a
// workload other than the echo server); wait for it with sc.Kubectl("rollout", "status", …).
func (sc *scenario) Apply(manifest string) {
	sc.t.Helper()
	kubectlIn(sc.t, manifest, "apply", "-n", sc.NS, "-f", "-")
}

// Kubectl runs kubectl in the scenario's namespace.
func (sc *scenario) Kubectl(args ...string) string {
	sc.t.Helper()
	return kubectl(sc.t, append([]string{"-n", sc.NS}, args...)...)
}

// Track adds a source of state to the before/after comparison: snap returns lines
// (sorted or not) that must be the same once the session is over. Call it before the
// first fault starts.
func (sc *scenario) Track(name string, snap func(t *testing.T) []string) {
	sc.t.Helper()
	if sc.before != nil {
		sc.t.Fatalf("scenario: Track(%q) after the snapshot was taken", name)
	}
	sc.tracks = append(sc.tracks, track{name, snap})
}

// TrackTargets adds, for each container of the pods app=APP, the processes in its
// cgroup, its mount table and the cgroups below its own: a stressor left running, a FUSE
// mount left in the container's mount namespace or a cgroup left behind all show.
func (sc *scenario) TrackTargets(app string) {
	sc.t.Helper()
	for _, pod := range podNames(sc.t, sc.NS, "app="+app) {
		for name, id := range containerIDs(sc.t, sc.NS, pod) {
			sc.Track(sc.NS+"/"+pod+"/"+name, func(t *testing.T) []string { return containerState(t, id) })
		}
	}
}

// ReplacesPods says the fault replaces target pods (pod kill): their sandboxes' network
// namespaces (netns cni-…) change, and are left out of the node's comparison.
func (sc *scenario) ReplacesPods() {
	for i, tr := range sc.tracks {
		if tr.name != "node" {
			continue
		}
		snap := tr.snap
		sc.tracks[i].snap = func(t *testing.T) []string {
			var out []string
			for _, l := range snap(t) {
				if !strings.Contains(l, "netns cni-") {
					out = append(out, l)
				}
			}
			return out
		}
	}
}

// snapshot reads every track; each line is prefixed with its track's name except the
// node's, whose lines name themselves.
func (sc *scenario) snapshot() []string {
	sc.t.Helper()
	var lines []string
	for _, tr := range sc.tracks {
		for _, l := range tr.snap(sc.t) {
			if tr.name != "node" {
				l = tr.name + ": " + l
			}
			lines = append(lines, l)
		}
	}
	return lines
}

// Snapshot takes the "before" picture now (Start and Detach take it if not yet taken).
func (sc *scenario) Snapshot() {
	sc.t.Helper()
	if sc.before == nil {
		sc.before = append([]string{}, sc.snapshot()...)
	}
}

// withNS adds "-n NS" to kubectl chaos arguments that do not name a namespace.
func (sc *scenario) withNS(args []string) []string {
	if slices.Contains(args, "-n") || slices.Contains(args, "--namespace") || slices.Contains(args, "-A") {
		return args
	}
	return append(append([]string{}, args...), "-n", sc.NS)
}

// Start starts a foreground `kubectl chaos ARGS` in the scenario's namespace.
func (sc *scenario) Start(args ...string) *session {
	sc.t.Helper()
	sc.Snapshot()
	return startChaos(sc.t, sc.withNS(args)...)
}

// Chaos runs `kubectl chaos ARGS` in the scenario's namespace to completion (a
// --detach, a refused or a dry-run command).
func (sc *scenario) Chaos(args ...string) result {
	sc.t.Helper()
	sc.Snapshot()
	return chaos(sc.t, sc.withNS(args)...)
}

// End checks that the session left nothing: no helper pod within 30 s, and every track
// as it was before within 30 s.
func (sc *scenario) End() { sc.t.Helper(); sc.EndWithin(30*time.Second, 30*time.Second) }

// EndWithin is End with other bounds.
func (sc *scenario) EndWithin(helpers, same time.Duration) {
	sc.t.Helper()
	sc.t.Logf("helper pods gone %v after the check started", waitNoHelpers(sc.t, helpers).Round(time.Millisecond))
	if sc.before == nil {
		sc.t.Fatal("scenario: End without a snapshot (no fault was started)")
	}
	sc.t.Logf("node state back to the snapshot within %v", waitSame(sc.t, sc.before, sc.snapshot, same).Round(time.Millisecond))
}

// until measures (a fresh measurement each call, supplied by the test) until ok holds,
// and returns the last value and the time it took; after timeout it fails the test
// with what it measured last.
func until[T any](t *testing.T, what string, timeout time.Duration, measure func() T, ok func(T) bool) (T, time.Duration) {
	t.Helper()
	start := time.Now()
	var last T
	for time.Since(start) < timeout {
		last = measure()
		if ok(last) {
			return last, time.Since(start)
		}
	}
	t.Fatalf("%s: not within %v; last measured: %+v", what, timeout, last)
	return last, 0
}

// paced makes measure wait d between calls (not before the first): for measurements
// that only read state (kubectl get) rather than send traffic.
func paced[T any](d time.Duration, measure func() T) func() T {
	var last time.Time
	return func() T {
		if !last.IsZero() {
			time.Sleep(time.Until(last.Add(d)))
		}
		last = time.Now()
		return measure()
	}
}

// stopPath is one way a session ends.
type stopPath struct {
	name  string
	do    func(sc *scenario, s *session) time.Time // issues the stop; returns when
	codes []int                                    // CLI exit codes that are right after it (nil: any)
}

// ctrlC is the user's Ctrl-C: exit 130 after a clean recovery (0 if the deadline came first).
var ctrlC = stopPath{"Ctrl-C", func(_ *scenario, s *session) time.Time { return s.Signal(syscall.SIGINT) }, []int{130, 0}}

// killCLI is kill -9 of the attached CLI: the agent reads EOF on its stdin.
var killCLI = stopPath{"kill -9 of the CLI", func(_ *scenario, s *session) time.Time {
	s.WaitOutput("attached", 30*time.Second) // the stdin dead-man switch exists once attached
	return s.Signal(syscall.SIGKILL)
}, []int{128 + int(syscall.SIGKILL)}}

// faultRun is the whole choreography of one fault test, played by runFault.
type faultRun[T any] struct {
	Args    []string     // kubectl chaos ARGS; "-n" the scenario's namespace is added
	Measure func() T     // what a client sees of the fault, one fresh measurement per call
	Active  func(T) bool // the fault bites: Measure is polled until it holds
	During  func(s *session)
	Stop    stopPath     // default ctrlC
	Gone    func(T) bool // optional: Measure is polled after the stop until it holds
	After   func(s *session)
	// ActiveWithin (default 60 s) and GoneWithin (default 10 s) bound the polls.
	ActiveWithin, GoneWithin time.Duration
}

// runFault starts the fault, waits until it is active, runs During, stops the session,
// waits until the fault is gone and the CLI exited with a code right for the stop path,
// runs After, and ends the scenario (sc.End). It returns the session for the record.
func runFault[T any](sc *scenario, f faultRun[T]) *session {
	t := sc.t
	t.Helper()
	if f.ActiveWithin == 0 {
		f.ActiveWithin = 60 * time.Second
	}
	if f.GoneWithin == 0 {
		f.GoneWithin = 10 * time.Second
	}
	if f.Stop.do == nil {
		f.Stop = ctrlC
	}
	s := sc.Start(f.Args...)
	v, took := until(t, "fault active", f.ActiveWithin, f.Measure, f.Active)
	t.Logf("fault active %v after the command started (%+v)", took.Round(time.Millisecond), v)
	if f.During != nil {
		f.During(s)
	}
	at := f.Stop.do(sc, s)
	if f.Gone != nil {
		v, took := until(t, "fault gone after "+f.Stop.name, f.GoneWithin, f.Measure, f.Gone)
		t.Logf("fault gone within %v after %s (%+v)", took.Round(time.Millisecond), f.Stop.name, v)
	}
	code := s.Wait(60 * time.Second)
	t.Logf("CLI exited %d %v after %s", code, s.exited.Sub(at).Round(time.Millisecond), f.Stop.name)
	if f.Stop.codes != nil && !slices.Contains(f.Stop.codes, code) {
		t.Errorf("exit code after %s = %d, want one of %v\n%s", f.Stop.name, code, f.Stop.codes, s.Output())
	}
	if f.After != nil {
		f.After(s)
	}
	sc.End()
	return s
}

// ---------------------------------------------------------------- target state

// containerIDs maps each container of ns/pod to its runtime ID (without the scheme).
func containerIDs(t *testing.T, ns, pod string) map[string]string {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pod", pod, "-o",
		`jsonpath={range .status.containerStatuses[*]}{.name}={.containerID}{"\n"}{end}`)
	ids := map[string]string{}
	for _, l := range strings.Fields(out) {
		name, id, _ := strings.Cut(l, "=")
		if _, bare, ok := strings.Cut(id, "://"); ok {
			id = bare
		}
		if id == "" {
			t.Fatalf("container %s of %s/%s has no ID yet", name, ns, pod)
		}
		ids[name] = id
	}
	return ids
}

// containerPIDs finds the host processes of a container by its ID in /proc/*/cgroup
// (the test runs on the node), lowest first.
func containerPIDs(id string) []int {
	return procScan("cgroup", func(b []byte) bool { return strings.Contains(string(b), id) })
}

// procScan returns the PIDs whose /proc/PID/FILE satisfies match, lowest first.
func procScan(file string, match func([]byte) bool) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		if b, err := os.ReadFile(filepath.Join("/proc", e.Name(), file)); err == nil && match(b) {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	return pids
}

// containerState lists what a fault could leave in a container: its processes (command
// lines), its mount table (mount point and type, from its first process) and the
// cgroups below its own in every hierarchy.
func containerState(t *testing.T, id string) []string {
	t.Helper()
	pids := containerPIDs(id)
	if len(pids) == 0 {
		return []string{"no process"}
	}
	var lines []string
	for _, pid := range pids {
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); err == nil {
			lines = append(lines, "process "+strings.Join(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00"), " "))
		}
	}
	if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pids[0])); err == nil {
		for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
			f := strings.Fields(l)
			_, post, ok := strings.Cut(l, " - ")
			if len(f) > 4 && ok {
				lines = append(lines, "mount "+f[4]+" "+strings.Fields(post)[0])
			}
		}
	}
	lines = append(lines, cgroupsBelow(pids[0])...)
	sort.Strings(lines)
	return lines
}

// cgroupsBelow lists the cgroup directories under pid's own, per hierarchy (v1
// controllers under /sys/fs/cgroup/<controllers>, cgroup2 under /sys/fs/cgroup/unified
// on this hybrid machine, else /sys/fs/cgroup).
func cgroupsBelow(pid int) []string {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid))
	if err != nil {
		return nil
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		parts := strings.SplitN(l, ":", 3)
		if len(parts) != 3 {
			continue
		}
		ctrl, path := strings.TrimPrefix(parts[1], "name="), parts[2]
		if path == "/" {
			continue // no cgroup of its own in this hierarchy: the node's root is not ours to list
		}
		roots := []string{filepath.Join("/sys/fs/cgroup", ctrl)}
		if ctrl == "" {
			roots = []string{"/sys/fs/cgroup/unified", "/sys/fs/cgroup"}
		}
		for _, root := range roots {
			dir := filepath.Join(root, path)
			if _, err := os.Stat(dir); err != nil {
				continue
			}
			_ = filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
				if err == nil && d.IsDir() && p != dir {
					lines = append(lines, "cgroup "+parts[1]+":"+strings.TrimPrefix(p, dir))
				}
				return nil
			})
			break
		}
	}
	return lines
}
