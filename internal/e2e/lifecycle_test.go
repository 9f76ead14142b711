//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// experimentOf returns the experiment ID label of the helper pod ns/name.
func experimentOf(t *testing.T, helper string) string {
	t.Helper()
	ns, name, _ := strings.Cut(helper, "/")
	id := kubectl(t, "-n", ns, "get", "pod", name, "-o", `jsonpath={.metadata.labels.kubectl-chaos/experiment}`)
	if id == "" {
		t.Fatalf("helper pod %s has no kubectl-chaos/experiment label", helper)
	}
	return id
}

// detach starts a detached 100% loss on deploy/web and waits until it bites.
func detach(sc *scenario, ip string, extra ...string) (id string) {
	t := sc.t
	t.Helper()
	r := sc.Chaos(append([]string{"network", "loss", "deploy/web", "--percent", "100", "--detach"}, extra...)...)
	if r.Code != 0 {
		t.Fatalf("--detach: %s", r)
	}
	if r.Took > 30*time.Second {
		t.Errorf("--detach took %v to return", r.Took)
	}
	waitLoss(t, ip, 60*time.Second, "detached loss to appear", func(l float64) bool { return l == 100 })
	return experimentOf(t, waitHelperRunning(t, 30*time.Second))
}

// startFullLoss starts a foreground 100% loss on deploy/web and waits until it bites.
func startFullLoss(sc *scenario, ip, duration string) *session {
	sc.t.Helper()
	s := sc.Start("network", "loss", "deploy/web", "--percent", "100", "--duration", duration)
	waitLoss(sc.t, ip, 60*time.Second, "loss to appear", func(l float64) bool { return l == 100 })
	return s
}

// gc runs kubectl chaos gc, which must succeed.
func gc(t *testing.T) {
	t.Helper()
	if r := chaosPlain(t, nil, "gc"); r.Code != 0 {
		t.Errorf("kubectl chaos gc: %s", r)
	}
}

// waitHelpersEnded waits until no helper pod is Running or Pending (they ended by
// themselves).
func waitHelpersEnded(t *testing.T, timeout time.Duration, what string) {
	t.Helper()
	until(t, "helper pods ended "+what, timeout, paced(200*time.Millisecond, func() map[string]string { return helperPods(t) }),
		func(h map[string]string) bool {
			for _, phase := range h {
				if phase == "Running" || phase == "Pending" {
					return false
				}
			}
			return true
		})
}

func TestDetachThenStop(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	id := detach(sc, ip, "--duration", "3m")

	ls := chaosPlain(t, nil, "ls")
	if ls.Code != 0 || !strings.Contains(ls.Stdout, id) {
		t.Errorf("kubectl chaos ls does not list %s:\n%s", id, ls)
	}
	start := time.Now()
	st := chaosPlain(t, nil, "stop", id)
	if st.Code != 0 {
		t.Fatalf("kubectl chaos stop %s: %s", id, st)
	}
	waitLoss(t, ip, 10*time.Second, "loss to end after stop", func(l float64) bool { return l == 0 })
	t.Logf("fault gone ≤ %v after `stop` started (stop itself took %v)", time.Since(start).Round(time.Millisecond), st.Took.Round(time.Millisecond))
	sc.End()
}

func TestDetachTTL(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	sc.Snapshot()
	start := time.Now()
	id := detach(sc, ip, "--duration", "8s")
	waitLoss(t, ip, 30*time.Second, "loss to end at the TTL", func(l float64) bool { return l == 0 })
	ttl := time.Since(start)
	t.Logf("experiment %s: fault gone %v after the command (duration 8s)", id, ttl.Round(time.Millisecond))
	if ttl < 7*time.Second {
		t.Errorf("fault gone after %v, before its 8s duration", ttl)
	}
	// The helper ends by itself: Succeeded/Failed (deadline) or deleted.
	waitHelpersEnded(t, 60*time.Second, "after the TTL")
	t.Logf("helpers after the TTL: %v", helperPods(t))
	gc(t)
	sc.End()
}

// kill -9 of the CLI: the attach stream breaks, the agent reads EOF on stdin and
// recovers. The bound is measured from the kill to the first packet that gets through.
func TestKillCLI(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	s := startFullLoss(sc, ip, "3m")
	killed := killCLI.do(sc, s)
	s.Wait(10 * time.Second)
	gone := firstDelivery(t, ip, 30*time.Second)
	t.Logf("BOUND kill -9 of the CLI -> fault gone in %v", gone.Sub(killed).Round(time.Microsecond))
	if gone.Sub(killed) > 2*time.Second {
		t.Errorf("fault gone %v after kill -9 of the CLI, goal ≤ 2s", gone.Sub(killed))
	}
	// The helper ends (Succeeded: the agent exits 0 after recovering on EOF).
	waitHelpersEnded(t, 30*time.Second, "after kill -9 of the CLI")
	t.Logf("helper pods %v ended %v after the kill", helperPods(t), time.Since(killed).Round(time.Millisecond))
	gc(t)
	sc.End()
}

// firstDelivery sends a numbered datagram every millisecond from now on and returns
// the send time of the first one that is answered.
func firstDelivery(t *testing.T, ip string, timeout time.Duration) time.Time {
	t.Helper()
	start := time.Now()
	st := newStream(t, ip)
	defer st.close()
	return st.waitFor(t, "a datagram through after the stop event", timeout, func() (time.Time, bool) { return st.firstAnswered(start) })
}

// agentPIDs finds the agent processes on this node (the helper runs with hostPID, so
// they are ordinary host processes) by their command line.
func agentPIDs(t *testing.T) []int {
	t.Helper()
	var pids []int
	for _, pid := range procScan("cmdline", func(b []byte) bool {
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		return len(args) >= 2 && filepath.Base(args[0]) == "kubectl-chaos" && args[1] == "agent"
	}) {
		// Only the cluster's: the agent tests of a unit-test run on this shared machine
		// start the real binary as `kubectl-chaos agent` outside any pod.
		if b, err := os.ReadFile(fmt.Sprintf("/proc/%d/cgroup", pid)); err == nil && strings.Contains(string(b), "kubepods") {
			pids = append(pids, pid)
		}
	}
	return pids
}

// kill -9 of the agent inside the helper: the kernel drops its owned nft table at once
// (or the restarted container recovers from the journal); kubelet restarts it; the CLI
// re-attaches; Ctrl-C then leaves nothing.
// killAgentAndWaitRestart kills the one agent process on the node with SIGKILL, checks
// that the loss at ip is gone within 2 s (logged as a BOUND line), and waits up to
// within for kubelet to restart the agent of helper pod hns/hname. what names the agent
// in the lines; output, if set, is added to a failure. It returns when it killed.
func killAgentAndWaitRestart(t *testing.T, ip, hns, hname, what string, within time.Duration, output func() string) time.Time {
	t.Helper()
	pids := agentPIDs(t)
	if len(pids) != 1 {
		t.Fatalf("want one agent process on the node, found %v", pids)
	}
	killed := time.Now()
	if err := syscall.Kill(pids[0], syscall.SIGKILL); err != nil {
		t.Fatalf("kill -9 agent %d: %v", pids[0], err)
	}
	gone := firstDelivery(t, ip, 30*time.Second)
	t.Logf("BOUND kill -9 of %s -> fault gone in %v", what, gone.Sub(killed).Round(time.Microsecond))
	if gone.Sub(killed) > 2*time.Second {
		t.Errorf("fault gone %v after kill -9 of %s, goal ≤ 2s", gone.Sub(killed), what)
	}
	// kubelet restarts the container.
	deadline := time.Now().Add(within)
	for {
		rc := kubectl(t, "-n", hns, "get", "pod", hname, "-o", `jsonpath={.status.containerStatuses[0].restartCount}`)
		if atoi(rc) >= 1 && len(agentPIDs(t)) == 1 {
			t.Logf("%s restarted by kubelet %v after the kill (restartCount %s)", what, time.Since(killed).Round(time.Millisecond), rc)
			return killed
		}
		if time.Now().After(deadline) {
			out := ""
			if output != nil {
				out = "\n" + output()
			}
			t.Fatalf("%s not restarted %v after kill -9 (restartCount %q, agents %v)%s", what, within, rc, agentPIDs(t), out)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func TestKillAgent(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	s := startFullLoss(sc, ip, "3m")
	helper := waitHelperRunning(t, 10*time.Second)
	hns, hname, _ := strings.Cut(helper, "/")
	killAgentAndWaitRestart(t, ip, hns, hname, "the agent", time.Minute, s.Output)
	// Whether the restarted agent re-applies the fault until the deadline: measured and logged.
	time.Sleep(3 * time.Second)
	t.Logf("5s after the restart the loss is %.0f%% (re-applied while the operator is attached: %v)",
		udpLoss(t, ip, 200).Loss, s.Running())

	if s.Running() {
		s.Signal(syscall.SIGINT)
		s.Wait(60 * time.Second)
	}
	waitLoss(t, ip, 10*time.Second, "no loss after the session", func(l float64) bool { return l == 0 })
	gc(t)
	sc.EndWithin(60*time.Second, 30*time.Second)
}

// Deleting the helper pod by hand: the agent gets SIGTERM, recovers, the CLI notices.
func TestDeleteHelperPod(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	s := startFullLoss(sc, ip, "3m")
	helper := waitHelperRunning(t, 10*time.Second)
	hns, hname, _ := strings.Cut(helper, "/")
	start := time.Now()
	kubectl(t, "-n", hns, "delete", "pod", hname, "--wait=false")
	gone := firstDelivery(t, ip, 30*time.Second)
	t.Logf("fault gone %v after `kubectl delete pod` of the helper", gone.Sub(start).Round(time.Millisecond))
	code := s.Wait(60 * time.Second)
	t.Logf("CLI exited %d %v after the delete", code, time.Since(start).Round(time.Millisecond))
	sc.End()
}

// A forced delete of a detached helper, then `kubectl chaos gc`: nothing left.
func TestForceDeleteThenGC(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	detach(sc, ip, "--duration", "3m")
	helper := waitHelperRunning(t, 10*time.Second)
	hns, hname, _ := strings.Cut(helper, "/")
	kubectl(t, "-n", hns, "delete", "pod", hname, "--force", "--grace-period=0")
	gc(t)
	waitLoss(t, ip, 30*time.Second, "no loss after forced delete + gc", func(l float64) bool { return l == 0 })
	sc.EndWithin(30*time.Second, 60*time.Second)
}

// The helper pod as scheduled carries the security fields of the design.
func TestHelperPodSecurity(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	s := sc.Start("network", "loss", "deploy/web", "--percent", "30", "--duration", "2m")
	waitLoss(t, ip, 60*time.Second, "loss to appear", func(l float64) bool { return l >= 10 })
	helper := waitHelperRunning(t, 10*time.Second)
	hns, hname, _ := strings.Cut(helper, "/")
	var pod struct {
		Metadata struct {
			Labels      map[string]string `json:"labels"`
			Annotations map[string]string `json:"annotations"`
		} `json:"metadata"`
		Spec struct {
			NodeName                      string `json:"nodeName"`
			HostPID                       bool   `json:"hostPID"`
			HostNetwork                   bool   `json:"hostNetwork"`
			AutomountServiceAccountToken  *bool  `json:"automountServiceAccountToken"`
			ActiveDeadlineSeconds         *int64 `json:"activeDeadlineSeconds"`
			TerminationGracePeriodSeconds *int64 `json:"terminationGracePeriodSeconds"`
			RestartPolicy                 string `json:"restartPolicy"`
			Tolerations                   []struct {
				Operator string `json:"operator"`
				Key      string `json:"key"`
			} `json:"tolerations"`
			Volumes []struct {
				Name      string          `json:"name"`
				Projected json.RawMessage `json:"projected"`
				HostPath  *struct {
					Path string `json:"path"`
				} `json:"hostPath"`
			} `json:"volumes"`
			Containers []struct {
				Image           string `json:"image"`
				Stdin           bool   `json:"stdin"`
				StdinOnce       bool   `json:"stdinOnce"`
				SecurityContext *struct {
					Privileged *bool `json:"privileged"`
				} `json:"securityContext"`
				Resources struct {
					Limits   map[string]string `json:"limits"`
					Requests map[string]string `json:"requests"`
				} `json:"resources"`
				Env []struct {
					Name  string `json:"name"`
					Value string `json:"value"`
				} `json:"env"`
			} `json:"containers"`
		} `json:"spec"`
	}
	if err := json.Unmarshal([]byte(kubectl(t, "-n", hns, "get", "pod", hname, "-o", "json")), &pod); err != nil {
		t.Fatal(err)
	}
	sp := pod.Spec
	check := func(ok bool, what string, got any) {
		if !ok {
			t.Errorf("helper pod %s: %s (got %v)", helper, what, got)
		}
	}
	check(sp.NodeName == "e2e-node", "nodeName set to the target's node", sp.NodeName)
	check(sp.HostPID, "hostPID", sp.HostPID)
	// hostNetwork (issue 17): no sandbox netns, no CNI add/del; what keeps it safe is
	// that no socket of the agent listens there (below) and TestAgentInSentinelNetns.
	check(sp.HostNetwork, "hostNetwork", sp.HostNetwork)
	check(sp.AutomountServiceAccountToken != nil && !*sp.AutomountServiceAccountToken, "automountServiceAccountToken false", sp.AutomountServiceAccountToken)
	for _, v := range sp.Volumes {
		check(len(v.Projected) == 0, "no projected service account token volume", v.Name)
	}
	check(sp.ActiveDeadlineSeconds != nil && *sp.ActiveDeadlineSeconds >= 120 && *sp.ActiveDeadlineSeconds <= 120+600, "activeDeadlineSeconds = duration + grace", sp.ActiveDeadlineSeconds)
	check(sp.TerminationGracePeriodSeconds != nil && *sp.TerminationGracePeriodSeconds <= 10, "short terminationGracePeriodSeconds", sp.TerminationGracePeriodSeconds)
	check(sp.RestartPolicy == "OnFailure", "restartPolicy OnFailure", sp.RestartPolicy)
	tolerAll := false
	for _, tl := range sp.Tolerations {
		if tl.Operator == "Exists" && tl.Key == "" {
			tolerAll = true
		}
	}
	check(tolerAll, "tolerates all taints (operator Exists, no key)", sp.Tolerations)
	check(len(sp.Containers) == 1, "one container", len(sp.Containers))
	if len(sp.Containers) == 1 {
		c := sp.Containers[0]
		check(c.Stdin && c.StdinOnce, "stdin + stdinOnce", [2]bool{c.Stdin, c.StdinOnce})
		check(c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged, "privileged", c.SecurityContext)
		check(c.Resources.Limits["memory"] != "", "a memory limit", c.Resources.Limits)
		check(len(c.Resources.Requests) > 0, "resource requests", c.Resources.Requests)
		hasPlan := false
		for _, e := range c.Env {
			hasPlan = hasPlan || e.Name == "KUBECTL_CHAOS_PLAN"
		}
		check(hasPlan, "the plan in env KUBECTL_CHAOS_PLAN", c.Env)
		if agentImage != "" {
			check(c.Image == agentImage, "the default image is the CLI's own version", c.Image)
		}
	}
	lb := pod.Metadata.Labels
	check(lb["app.kubernetes.io/managed-by"] == "kubectl-chaos", "managed-by label", lb)
	check(lb["kubectl-chaos/experiment"] != "", "experiment label", lb)
	an := pod.Metadata.Annotations
	check(an["kubectl-chaos/owner"] != "", "owner annotation", an)
	check(an["kubectl-chaos/deadline"] != "", "deadline annotation", an)
	// No volumes (issue 17: kubelet would hold the pod for its volume manager); the
	// agent mounts the journal directory and the rest itself (checked below, in its
	// mount namespace).
	check(len(sp.Volumes) == 0, "no volumes", sp.Volumes)
	hostPaths := ""
	for _, c := range sp.Containers {
		for _, e := range c.Env {
			if e.Name == "KUBECTL_CHAOS_HOST_PATHS" {
				hostPaths = e.Value
			}
		}
	}
	check(strings.Contains(hostPaths, `"hostPath":"/run/kubectl-chaos"`), "the journal directory /run/kubectl-chaos in KUBECTL_CHAOS_HOST_PATHS", hostPaths)

	// The helper namespace carries the Pod Security privileged label.
	psa := kubectl(t, "get", "ns", hns, "-o", `jsonpath={.metadata.labels.pod-security\.kubernetes\.io/enforce}`)
	check(psa == "privileged", "helper namespace labelled pod-security enforce=privileged", psa)

	// The agent's own mounts: the journal directory (the node's: a file the agent's
	// mount shows is the node's), the node's /proc read-only at /host/proc, the runtime
	// socket's directory; none of them in the node's mount table.
	for _, pid := range agentPIDs(t) {
		mi, err := os.ReadFile(fmt.Sprintf("/proc/%d/mountinfo", pid))
		if err != nil {
			t.Errorf("agent %d mountinfo: %v", pid, err)
			continue
		}
		mounts := map[string]string{} // mount point -> options
		for _, l := range strings.Split(string(mi), "\n") {
			if f := strings.Fields(l); len(f) > 5 {
				mounts[f[4]] = f[5]
			}
		}
		check(mounts["/run/kubectl-chaos"] != "", "the agent has /run/kubectl-chaos mounted", len(mounts))
		check(strings.HasPrefix(mounts["/host/proc"], "ro,"), "the agent has the node's /proc read-only at /host/proc", mounts["/host/proc"])
		check(mounts[filepath.Dir(runtimeSocket)] != "", "the agent has the runtime socket's directory mounted", filepath.Dir(runtimeSocket))
		probe := fmt.Sprintf("/run/kubectl-chaos/.e2e-probe-%d", pid)
		if err := os.WriteFile(probe, []byte("node"), 0o600); err == nil {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/root%s", pid, probe))
			check(err == nil && string(b) == "node", "a file of the node's journal directory is the agent's", err)
			os.Remove(probe)
		}
		node, _ := os.ReadFile("/proc/self/mountinfo")
		check(!strings.Contains(string(node), " /host/proc "), "no /host/proc mount on the node", "")
	}
	// The agent's memory on the node, from the host's view of its process.
	for _, pid := range agentPIDs(t) {
		if rss := vmRSS(pid); rss > 0 {
			// A goal (≤ 30 MiB), reported by make bench-e2e; not a pass/fail here.
			t.Logf("agent pid %d RSS %.1f MiB", pid, float64(rss)/1024)
		}
	}
	// No port (issue 16): none of the agent's sockets listens in the node's network
	// namespace (the helper's own since issue 17: hostNetwork) or the target's (a loss
	// fault owns no listener; DNS and HTTP faults own theirs inside the target's). The
	// node's namespace has other listeners (kubelet, the API server): only the agent's
	// socket inodes count.
	agents := agentPIDs(t)
	if len(agents) == 0 {
		t.Fatal("no agent process on the node during the fault")
	}
	targetPIDs := containerPIDs(containerIDs(t, sc.NS, podNames(t, sc.NS, "app=web")[0])["echo"])
	for _, pid := range agents {
		own := socketInodes(pid)
		for where, in := range map[string]int{"helper (node)": pid, "node": 1, "target": targetPIDs[0]} {
			for _, l := range listeningSockets(in) {
				if own[strings.Fields(l)[2]] {
					t.Errorf("agent pid %d listens in the %s's network namespace: %s", pid, where, l)
				}
			}
		}
		t.Logf("agent pid %d: %d open sockets; none listening in the node's or the target's network namespace", pid, len(own))
	}
	s.Signal(syscall.SIGINT)
	s.Wait(60 * time.Second)
	sc.End()
}

// listeningSockets lists the listening TCP and bound, unconnected UDP sockets of the
// network namespace pid is in (/proc/PID/net/{tcp,tcp6,udp,udp6}) as "proto address inode".
func listeningSockets(pid int) []string {
	var out []string
	for proto, state := range map[string]string{"tcp": "0A", "tcp6": "0A", "udp": "07", "udp6": "07"} {
		b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, proto))
		for _, l := range strings.Split(string(b), "\n")[1:] {
			if f := strings.Fields(l); len(f) > 9 && f[3] == state {
				out = append(out, proto+" "+f[1]+" "+f[9])
			}
		}
	}
	return out
}

// socketInodes returns the inodes of the sockets pid holds open.
func socketInodes(pid int) map[string]bool {
	m := map[string]bool{}
	fds, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	for _, fd := range fds {
		l, _ := os.Readlink(fmt.Sprintf("/proc/%d/fd/%s", pid, fd.Name()))
		if in, ok := strings.CutPrefix(l, "socket:["); ok {
			m[strings.TrimSuffix(in, "]")] = true
		}
	}
	return m
}

// vmRSS returns VmRSS of pid in KiB (0 if unknown).
func vmRSS(pid int) int {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "status"))
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			return atoi(strings.TrimSuffix(strings.TrimSpace(strings.TrimPrefix(l, "VmRSS:")), " kB"))
		}
	}
	return 0
}

// kill -9 of the CLI after it created the helper pod but before it attached: nobody
// will ever close the helper's stdin. An attached agent injects only after its
// operator's first heartbeat, so no fault may appear at all, and the helper gives up
// waiting for its operator (at most 30 s) long before --duration.
func TestKillCLIBeforeAttach(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	s := sc.Start("network", "loss", "deploy/web", "--percent", "100", "--duration", "3m")
	s.WaitOutput("creating helper pod", 30*time.Second)
	killed := s.Signal(syscall.SIGKILL)
	s.Wait(10 * time.Second)
	// Watch for the fault and for the helper to end, up to 45 s.
	var lost, probes int
	var ended time.Duration
	for time.Since(killed) < 45*time.Second {
		r := udpLoss(t, ip, 20)
		probes++
		if r.Loss > 0 {
			lost++
		}
		running := false
		for _, p := range helperPods(t) {
			running = running || p == "Running" || p == "Pending"
		}
		if !running && time.Since(killed) > 2*time.Second {
			ended = time.Since(killed)
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	t.Logf("BOUND kill -9 of the CLI before it attached -> %d of %d probes saw loss; helper ended %v after the kill (%v)",
		lost, probes, ended.Round(time.Millisecond), helperPods(t))
	if lost > 0 {
		t.Errorf("the fault was applied although the operator never attached (%d/%d probes lost packets)", lost, probes)
	}
	if ended == 0 {
		t.Errorf("helper still running 45s after kill -9 of the CLI before attach: %v", helperPods(t))
	}
	if r := udpLoss(t, ip, 200); r.Loss > 0 {
		t.Fatalf("fault active after the helper ended: %+v", r)
	}
	gc(t)
	sc.End()
}

// Two experiments on the same pod at once. nftables faults compose: each experiment
// owns its own table, and stopping one leaves the other intact. tc faults do not: the
// root qdisc is one per interface, so a second one is refused before anything is
// created, with a clear message, and the first keeps working. Once both are over,
// nothing is left on the node.
func TestSecondExperimentSameTarget(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]

	// nft + nft: both active, the second stops cleanly without touching the first.
	first := startFullLoss(sc, ip, "2m")
	first.WaitOutput("attached", 30*time.Second)
	second := sc.Start("network", "loss", "deploy/web", "--percent", "30", "--duration", "1m")
	second.WaitOutput("fault active", 60*time.Second)
	second.Signal(syscall.SIGINT)
	if code := second.Wait(60 * time.Second); code != 130 {
		t.Errorf("second loss experiment: exit %d, want 130 (interrupted after a clean recovery)\n%s", code, second.Output())
	}
	if out := second.Output(); strings.Contains(out, "could not be recovered") {
		t.Errorf("the second experiment reports a recovery failure:\n%s", out)
	}
	if r := udpLoss(t, ip, 200); r.Loss != 100 {
		t.Errorf("the first experiment's fault changed when the second stopped: %+v", r)
	}
	first.Signal(syscall.SIGINT)
	first.Wait(60 * time.Second)
	waitLoss(t, ip, 10*time.Second, "no loss after both", func(l float64) bool { return l == 0 })
	waitNoHelpers(t, 60*time.Second)

	// tc + tc: the second bandwidth limit is refused, the first one still limits.
	bw := sc.Start("network", "bandwidth", "deploy/web", "--rate", "10mbit", "--duration", "2m")
	bw.WaitOutput("fault active", 60*time.Second)
	refused := sc.Chaos("network", "bandwidth", "deploy/web", "--rate", "1mbit", "--duration", "1m")
	t.Logf("second bandwidth experiment on the same pod: %s", refused)
	if refused.Code == 0 {
		t.Errorf("a second tc fault on the same interface succeeded")
	}
	if !strings.Contains(refused.Stderr, "already has a kubectl-chaos qdisc") {
		t.Errorf("the refusal does not say why:\n%s", refused.Stderr)
	}
	if strings.Contains(refused.Stderr, "could not be recovered") {
		t.Errorf("the refused experiment reports a recovery failure although it created nothing:\n%s", refused.Stderr)
	}
	r, err := probe.Download(ip+":7002", 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("download with the first limit (10mbit) after the refusal: %.2f Mbit/s", r.Mbps)
	if r.Mbps < 8.5 || r.Mbps > 11 {
		t.Errorf("the first experiment's limit changed: %.2f Mbit/s, want 10mbit ± 15%%", r.Mbps)
	}
	bw.Signal(syscall.SIGINT)
	bw.Wait(60 * time.Second)
	sc.EndWithin(60*time.Second, 30*time.Second)
}
