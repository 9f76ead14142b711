//go:build e2e

package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// The environment run.sh sets up (make test-e2e).
var (
	kubeconfig    = os.Getenv("E2E_KUBECONFIG")
	runtimeSocket = os.Getenv("E2E_RUNTIME_SOCKET")
	echoImage     = envOr("ECHO_IMAGE", "e2e.local/echo:1")
	pauseImage    = "e2e.local/pause:1"
	agentImage    = os.Getenv("AGENT_IMAGE")
	benchFlag     = flag.Bool("e2e.bench", false, "run the e2e benchmark table (make bench-e2e)")
)

const helperNS = "kubectl-chaos"

func envOr(k, def string) string {
	if v := os.Getenv(k); v != "" {
		return v
	}
	return def
}

// needCluster skips the test, with the reason, when the local cluster is not set up.
func needCluster(t *testing.T) {
	t.Helper()
	if kubeconfig == "" || runtimeSocket == "" {
		t.Skip("no local cluster: E2E_KUBECONFIG/E2E_RUNTIME_SOCKET unset; run `make test-e2e`")
	}
	if os.Getuid() != 0 {
		t.Skip("needs root: the residue check and the agent-kill tests read host state")
	}
}

// ---------------------------------------------------------------- commands

type result struct {
	Stdout, Stderr string
	Code           int
	Took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\n--- stdout\n%s--- stderr\n%s", r.Code, r.Took.Round(time.Millisecond), r.Stdout, r.Stderr)
}

func command(ctx context.Context, env []string, name string, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "NO_COLOR=1")
	// gc's sweep pods mount the node's runtime socket directory too: the cluster's, not
	// the default /run/containerd (which hostPath would create on this machine).
	cmd.Env = append(cmd.Env, "KUBECTL_CHAOS_RUNTIME_SOCKET="+runtimeSocket)
	// The runs' local history and scenario locks: not the user's state directory.
	cmd.Env = append(cmd.Env, "KUBECTL_CHAOS_STATE_DIR="+filepath.Join(os.TempDir(), "kc-e2e-state"))
	if agentImage != "" {
		cmd.Env = append(cmd.Env, "KUBECTL_CHAOS_IMAGE_PULL_POLICY=Never")
	}
	cmd.Env = append(cmd.Env, env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	return cmd
}

func run(t *testing.T, timeout time.Duration, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	cmd := command(ctx, env, name, args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{Stdout: out.String(), Stderr: errb.String(), Took: time.Since(start)}
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee):
		r.Code = ee.ExitCode()
	default:
		t.Fatalf("run %s %v: %v", name, args, err)
	}
	if ctx.Err() != nil {
		t.Fatalf("%s %s: timed out after %v\n%s", name, strings.Join(args, " "), timeout, r)
	}
	return r
}

// kubectl runs kubectl against the local cluster and fails the test on a non-zero exit.
func kubectl(t *testing.T, args ...string) string {
	t.Helper()
	r := run(t, 2*time.Minute, nil, "kubectl", args...)
	if r.Code != 0 {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.Stdout
}

func kubectlIn(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := command(ctx, nil, "kubectl", args...)
	cmd.Stdin = strings.NewReader(stdin)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("kubectl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// chaosArgs adds the flags every session against the local cluster needs.
func chaosArgs(args ...string) []string {
	a := append([]string{"chaos"}, args...)
	a = append(a, "--runtime-socket", runtimeSocket, "--yes")
	if agentImage != "" {
		// The default --image is the CLI's own version tag; run.sh loaded exactly that
		// image. Pull policy Never: there is no registry, so a mismatch fails loudly.
		a = append(a, "--image-pull-policy", "Never")
	}
	return a
}

// chaos runs `kubectl chaos ARGS` to completion.
func chaos(t *testing.T, args ...string) result {
	t.Helper()
	r := run(t, 3*time.Minute, nil, "kubectl", chaosArgs(args...)...)
	t.Logf("kubectl chaos %s -> exit %d in %v", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond))
	return r
}

// chaosPlain runs `kubectl chaos ARGS` without the session flags (ls, stop, gc, …).
func chaosPlain(t *testing.T, env []string, args ...string) result {
	t.Helper()
	r := run(t, 3*time.Minute, env, "kubectl", append([]string{"chaos"}, args...)...)
	t.Logf("kubectl chaos %s -> exit %d in %v", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond))
	return r
}

// session is a foreground `kubectl chaos` running in the background of the test.
type session struct {
	t       *testing.T
	cmd     *exec.Cmd
	Started time.Time
	mu      sync.Mutex
	out     bytes.Buffer
	errb    bytes.Buffer
	done    chan struct{}
	code    int
	exited  time.Time
}

type lockedWriter struct {
	mu *sync.Mutex
	b  *bytes.Buffer
}

func (w lockedWriter) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.b.Write(p)
}

func startChaos(t *testing.T, args ...string) *session {
	t.Helper()
	s := startCommand(t, nil, "kubectl", chaosArgs(args...)...)
	t.Logf("started kubectl chaos %s (pid %d)", strings.Join(args, " "), s.cmd.Process.Pid)
	return s
}

// startCommand starts a command (env added to the cluster's) in the background of the
// test; it is interrupted (then killed) at the end of the test if still running.
func startCommand(t *testing.T, env []string, name string, args ...string) *session {
	t.Helper()
	s := &session{t: t, done: make(chan struct{})}
	s.cmd = command(context.Background(), env, name, args...)
	s.cmd.Stdout = lockedWriter{&s.mu, &s.out}
	s.cmd.Stderr = lockedWriter{&s.mu, &s.errb}
	// No stdin: like CI. The CLI must not wait for a terminal.
	s.Started = time.Now()
	if err := s.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		err := s.cmd.Wait()
		s.exited = time.Now()
		s.code = 0
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			s.code = ee.ExitCode()
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				s.code = 128 + int(ws.Signal())
			}
		} else if err != nil {
			s.code = -1
		}
		close(s.done)
	}()
	t.Cleanup(func() {
		select {
		case <-s.done:
		default:
			_ = s.cmd.Process.Signal(syscall.SIGINT)
			select {
			case <-s.done:
			case <-time.After(30 * time.Second):
				_ = syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
				<-s.done
			}
		}
		if t.Failed() {
			t.Logf("%s %s:\n%s", name, strings.Join(args, " "), s.Output())
		}
	})
	return s
}

func (s *session) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return "--- stdout\n" + s.out.String() + "--- stderr\n" + s.errb.String()
}

func (s *session) Running() bool {
	select {
	case <-s.done:
		return false
	default:
		return true
	}
}

// WaitOutput waits until the CLI's stdout or stderr contains substr.
func (s *session) WaitOutput(substr string, timeout time.Duration) time.Duration {
	s.t.Helper()
	start := time.Now()
	for {
		if strings.Contains(s.Output(), substr) {
			return time.Since(start)
		}
		if !s.Running() {
			s.t.Fatalf("kubectl chaos exited (%d) before printing %q\n%s", s.code, substr, s.Output())
		}
		if time.Since(start) > timeout {
			s.t.Fatalf("kubectl chaos did not print %q within %v\n%s", substr, timeout, s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Signal sends sig to the CLI process itself (what Ctrl-C in a terminal does to the
// foreground process; kubectl execs the plugin, so this is the plugin).
func (s *session) Signal(sig syscall.Signal) time.Time {
	now := time.Now()
	if err := s.cmd.Process.Signal(sig); err != nil {
		s.t.Fatalf("signal %v to kubectl chaos: %v", sig, err)
	}
	return now
}

// Wait waits for the CLI to exit and returns its exit code.
func (s *session) Wait(timeout time.Duration) int {
	s.t.Helper()
	select {
	case <-s.done:
		return s.code
	case <-time.After(timeout):
		s.t.Fatalf("kubectl chaos still running %v later\n%s", timeout, s.Output())
		return -1
	}
}

// ---------------------------------------------------------------- workloads

// namespace creates a fresh namespace for the test and deletes it at the end.
func namespace(t *testing.T) string {
	t.Helper()
	name := "e2e-" + strings.ToLower(strings.NewReplacer("/", "-", "_", "-").Replace(t.Name()))
	if len(name) > 50 {
		name = name[:50]
	}
	name = strings.TrimRight(name, "-")
	_ = run(t, time.Minute, nil, "kubectl", "delete", "namespace", name, "--ignore-not-found", "--wait=true")
	kubectl(t, "create", "namespace", name)
	t.Cleanup(func() {
		r := run(t, 2*time.Minute, nil, "kubectl", "delete", "namespace", name, "--wait=true", "--timeout=90s")
		if r.Code != 0 {
			t.Logf("delete namespace %s: %s", name, r)
		}
	})
	return name
}

// deployEcho creates a Deployment NAME of echo servers with the label app=NAME and
// waits until all replicas are Ready; it returns the pods' IPs.
func deployEcho(t *testing.T, ns, name string, replicas int) []string {
	return deployEchoWith(t, ns, name, replicas, "")
}

// deployEchoWith is deployEcho with extra fields of the echo container (YAML at its
// indentation, e.g. resources).
func deployEchoWith(t *testing.T, ns, name string, replicas int, container string) []string {
	t.Helper()
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: %[3]d
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 2
      automountServiceAccountToken: false
      containers:
      - name: echo
        image: %[4]s
        imagePullPolicy: Never
        args: [serve]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
%[5]s`, name, ns, replicas, echoImage, container)
	kubectlIn(t, manifest, "apply", "-f", "-")
	kubectl(t, "-n", ns, "rollout", "status", "deploy/"+name, "--timeout=120s")
	return podIPs(t, ns, "app="+name, replicas)
}

func podIPs(t *testing.T, ns, selector string, want int) []string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		out := kubectl(t, "-n", ns, "get", "pods", "-l", selector, "--field-selector=status.phase=Running",
			"-o", `jsonpath={range .items[?(@.metadata.deletionTimestamp)]}D{"\n"}{end}{range .items[*]}{.status.podIP}{"\n"}{end}`)
		var ips []string
		terminating := false
		for _, l := range strings.Fields(out) {
			if l == "D" {
				terminating = true
				continue
			}
			ips = append(ips, l)
		}
		if !terminating && len(ips) == want {
			sort.Strings(ips)
			return ips
		}
		if time.Now().After(deadline) {
			t.Fatalf("pods %s in %s: want %d running with IPs, got %q", selector, ns, want, out)
		}
		time.Sleep(300 * time.Millisecond)
	}
}

func podNames(t *testing.T, ns, selector string) []string {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pods", "-l", selector, "-o", `jsonpath={range .items[*]}{.metadata.name}{"\n"}{end}`)
	return strings.Fields(out)
}

// execProbe runs the echo binary's probe mode inside the first pod of app=FROM.
func execProbe(t *testing.T, ns, from string, args ...string) string {
	t.Helper()
	pods := podNames(t, ns, "app="+from)
	if len(pods) == 0 {
		t.Fatalf("no pod app=%s in %s", from, ns)
	}
	return kubectl(t, append([]string{"-n", ns, "exec", pods[0], "--", "/echo", "probe"}, args...)...)
}

// sinkCount reads the UDP sink counter of the echo server at ip (from the host).
func sinkCount(t *testing.T, ip string) int {
	t.Helper()
	c := &http.Client{Timeout: 3 * time.Second}
	resp, err := c.Get("http://" + ip + ":8080/count")
	if err != nil {
		t.Fatalf("read sink counter of %s: %v", ip, err)
	}
	defer resp.Body.Close()
	var v struct {
		UDPSink int `json:"udpSink"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		t.Fatalf("decode sink counter of %s: %v", ip, err)
	}
	return v.UDPSink
}

// ---------------------------------------------------------------- measurements

// udpLoss measures round-trip UDP loss to ip's echo port from the host.
func udpLoss(t *testing.T, ip string, count int) probe.UDPReport {
	t.Helper()
	r, err := probe.UDP(ip+":9000", count, time.Millisecond, 300*time.Millisecond)
	if err != nil {
		t.Fatalf("udp probe %s: %v", ip, err)
	}
	return r
}

// lossOf is the measurement of most network tests: UDP round trips to ip's echo port.
func lossOf(t *testing.T, ip string, count int) func() probe.UDPReport {
	return func() probe.UDPReport { return udpLoss(t, ip, count) }
}

// waitLoss polls until the measured loss satisfies ok, and returns how long it took.
func waitLoss(t *testing.T, ip string, timeout time.Duration, what string, ok func(float64) bool) time.Duration {
	t.Helper()
	_, took := until(t, what+" (UDP to "+ip+")", timeout, lossOf(t, ip, 40), func(r probe.UDPReport) bool { return ok(r.Loss) })
	return took
}

// helperPods lists the helper pods of the tool (all experiments) as name=phase.
func helperPods(t *testing.T) map[string]string {
	t.Helper()
	out := kubectl(t, "get", "pods", "-A", "-l", "app.kubernetes.io/managed-by=kubectl-chaos",
		"-o", `jsonpath={range .items[*]}{.metadata.namespace}/{.metadata.name}={.status.phase}{"\n"}{end}`)
	m := map[string]string{}
	for _, l := range strings.Fields(out) {
		k, v, _ := strings.Cut(l, "=")
		m[k] = v
	}
	return m
}

// waitNoHelpers waits until no helper pod of the tool exists and returns the time taken.
func waitNoHelpers(t *testing.T, timeout time.Duration) time.Duration {
	t.Helper()
	start := time.Now()
	for {
		h := helperPods(t)
		if len(h) == 0 {
			return time.Since(start)
		}
		if time.Since(start) > timeout {
			t.Fatalf("helper pods still present after %v: %v", timeout, h)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// waitHelperRunning waits for a Running helper pod and returns namespace/name.
func waitHelperRunning(t *testing.T, timeout time.Duration) string {
	t.Helper()
	start := time.Now()
	for {
		for k, v := range helperPods(t) {
			if v == "Running" {
				return k
			}
		}
		if time.Since(start) > timeout {
			t.Fatalf("no Running helper pod after %v: %v", timeout, helperPods(t))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// cleanupHelpers removes whatever helper pods a failed test left, so the next test
// starts clean.
func cleanupHelpers(t *testing.T) {
	t.Cleanup(func() {
		if len(helperPods(t)) == 0 {
			return
		}
		t.Logf("cleanup: deleting leftover helper pods %v", helperPods(t))
		deleteHelpers(t)
	})
}

// deleteHelpers deletes every helper pod of the tool, if any, and waits (bounded) for them.
func deleteHelpers(t *testing.T) {
	if len(helperPods(t)) > 0 {
		_ = run(t, time.Minute, nil, "kubectl", "delete", "pods", "-A", "-l", "app.kubernetes.io/managed-by=kubectl-chaos", "--wait=true", "--timeout=50s")
	}
}

// ---------------------------------------------------------------- residue

func residueTool() string {
	if p := os.Getenv("E2E_RESIDUE"); p != "" {
		return p
	}
	wd, _ := os.Getwd()
	for _, p := range []string{
		filepath.Join(wd, "../../../shared/tools/residue"),
		"/work/shared/tools/residue",
	} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	return ""
}

// residue returns the sorted residue snapshot of the node (this machine).
func residue(t *testing.T) []string {
	t.Helper()
	tool := residueTool()
	if tool == "" {
		t.Fatal("shared/tools/residue not found (set E2E_RESIDUE)")
	}
	out, err := exec.Command("bash", tool).Output()
	if err != nil {
		t.Fatalf("residue: %v", err)
	}
	var lines []string
	for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		if l != "" && onNode(l) && !strings.HasPrefix(l, "qdisc ") {
			lines = append(lines, l)
		}
	}
	lines = append(lines, qdiscLines()...)
	sort.Strings(lines)
	return lines
}

// qdiscLines lists the qdiscs of the node, in the residue tool's words ("qdisc NS: …"),
// one line each. The tool itself runs `tc -o qdisc show`, whose iproute2 (6.1) puts all
// the qdiscs of a namespace on one line joined by "\", and then drops every line that
// names noqueue: a pod's lo always does, so it never listed a pod's qdiscs.
var defaultQdisc = regexp.MustCompile(` (noqueue|mq|pfifo_fast|fq_codel|noop) `)

func qdiscLines() []string {
	var lines []string
	add := func(label string, out []byte) {
		for _, q := range strings.Split(string(out), "\n") {
			q = strings.TrimSpace(q)
			if q == "" || defaultQdisc.MatchString(" "+q+" ") {
				continue
			}
			if l := "qdisc " + label + ": " + q; onNode(l) {
				lines = append(lines, l)
			}
		}
	}
	out, _ := exec.Command("ip", "netns", "list").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if f := strings.Fields(l); len(f) > 0 && strings.HasPrefix(f[0], "cni-") { // the pods' (onNode)
			q, _ := exec.Command("ip", "netns", "exec", f[0], "tc", "qdisc", "show").Output()
			add(f[0], q)
		}
	}
	q, _ := exec.Command("tc", "qdisc", "show").Output()
	add("host", q)
	return lines
}

// onNode says whether a residue line is state of the cluster's node rather than of other
// work on this shared machine, whose test namespaces, links, cgroups, mounts, builds and
// VMs match the residue tool's patterns too and come and go during a test.
func onNode(l string) bool {
	kind, rest, _ := strings.Cut(l, " ")
	switch kind {
	case "process":
		// Only the tool's own on the node: the image's /kubectl-chaos (agent, stress children).
		return strings.HasPrefix(rest, "/kubectl-chaos")
	case "netns", "qdisc", "nft":
		// The pods' network namespaces (CNI names them cni-…) and the host's.
		ns, _, _ := strings.Cut(strings.TrimSuffix(strings.Fields(rest)[0], ":"), " ")
		if ns != "host" {
			return strings.HasPrefix(ns, "cni-")
		}
		if kind == "qdisc" { // on the node's own links only: the pods' veths, the bridge, lo, eth*
			f := strings.Fields(rest)
			for i := 0; i+1 < len(f); i++ {
				if f[i] == "dev" {
					d := f[i+1]
					return d == "kce2e0" || d == "lo" || strings.HasPrefix(d, "veth") || strings.HasPrefix(d, "eth")
				}
			}
		}
		return true
	case "cgroup":
		// The pods' cgroups, or one the tool named.
		return strings.Contains(rest, "kubepods") || strings.Contains(rest, "kubectl-chaos") || strings.Contains(rest, "kubectl_chaos")
	case "mount":
		// Mounts of the node (kubelet, containerd, the journal directory), or one the tool named.
		f := strings.Fields(rest)
		mp := ""
		if len(f) > 1 {
			mp = f[1]
		}
		for _, dir := range []string{"/var/lib/kc-e2e-cluster", "/run/kc-e2e-cluster", "/run/kubectl-chaos", "/run/netns/cni-"} {
			if strings.HasPrefix(mp, dir) {
				return true
			}
		}
		return strings.Contains(mp, "kubectl-chaos") || strings.Contains(mp, "kubectl_chaos")
	}
	return true
}

func diffLines(before, after []string) (added, removed []string) {
	b := map[string]int{}
	for _, l := range before {
		b[l]++
	}
	for _, l := range after {
		if b[l] > 0 {
			b[l]--
			continue
		}
		added = append(added, l)
	}
	for l, n := range b {
		for ; n > 0; n-- {
			removed = append(removed, l)
		}
	}
	sort.Strings(removed)
	return added, removed
}

// waitResidue waits until the node's residue equals before (the helper pod's own
// sandbox netns takes a moment to go) and returns the time taken.
func waitResidue(t *testing.T, before []string, timeout time.Duration) time.Duration {
	t.Helper()
	return waitSame(t, before, func() []string { return residue(t) }, timeout)
}

// waitSame waits until snap() equals before (as multisets of lines) and returns the
// time taken; after timeout it fails the test naming what was left behind and gone.
func waitSame(t *testing.T, before []string, snap func() []string, timeout time.Duration) time.Duration {
	t.Helper()
	took, added, removed := sameWithin(before, snap, timeout)
	if len(added)+len(removed) > 0 {
		t.Fatalf("node residue differs %v after the session:\nleft behind:\n  %s\ngone:\n  %s",
			timeout, strings.Join(added, "\n  "), strings.Join(removed, "\n  "))
	}
	return took
}

// sameWithin is waitSame without the verdict: the time taken, or what still differs
// after timeout.
func sameWithin(before []string, snap func() []string, timeout time.Duration) (took time.Duration, added, removed []string) {
	start := time.Now()
	for {
		added, removed = diffLines(before, snap())
		if len(added) == 0 && len(removed) == 0 || time.Since(start) > timeout {
			return time.Since(start), added, removed
		}
		time.Sleep(250 * time.Millisecond)
	}
}

// ---------------------------------------------------------------- misc

func readAll(r io.Reader) string { b, _ := io.ReadAll(r); return string(b) }

func atoi(s string) int { n, _ := strconv.Atoi(strings.TrimSpace(s)); return n }

func ms(d time.Duration) string { return fmt.Sprintf("%.0f ms", float64(d.Microseconds())/1000) }
