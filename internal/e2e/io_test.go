//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"path"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// deployIOWork creates a Deployment NAME of the echo IO workload writing to an emptyDir
// at /data, waits until it is Ready and returns its pod IP. crashLoop adds the kill
// matrix's crash-loop count file (kmCrashFile, on an emptyDir of its own).
func deployIOWork(t *testing.T, ns, name string, crashLoop bool) string {
	t.Helper()
	env, mount, volume := "", "", ""
	if crashLoop {
		env = "        env: [{name: ECHO_CRASHLOOP, value: " + kmCrashFile + "}]\n"
		mount, volume = ", {name: crash, mountPath: "+path.Dir(kmCrashFile)+"}", ", {name: crash, emptyDir: {}}"
	}
	manifest := fmt.Sprintf(`apiVersion: apps/v1
kind: Deployment
metadata: {name: %[1]s, namespace: %[2]s}
spec:
  replicas: 1
  selector: {matchLabels: {app: %[1]s}}
  template:
    metadata: {labels: {app: %[1]s}}
    spec:
      terminationGracePeriodSeconds: 2
      automountServiceAccountToken: false
      containers:
      - name: work
        image: %[3]s
        imagePullPolicy: Never
        args: [iowork, /data, -interval, 5ms]
%[4]s        volumeMounts: [{name: data, mountPath: /data}%[5]s]
        readinessProbe:
          httpGet: {path: /, port: 8080}
          periodSeconds: 1
      volumes: [{name: data, emptyDir: {}}%[6]s]
`, name, ns, echoImage, env, mount, volume)
	kubectlIn(t, manifest, "apply", "-f", "-")
	kubectl(t, "-n", ns, "rollout", "status", "deploy/"+name, "--timeout=120s")
	return podIPs(t, ns, "app="+name, 1)[0]
}

// ioWindow resets the workload's counters, waits d and returns what its writes saw.
func ioWindow(t *testing.T, ip string, d time.Duration) probe.IOReport {
	t.Helper()
	r, err := ioWindowErr(ip, d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// ioWindowErr is ioWindow for a workload that may be restarting (the kill matrix).
func ioWindowErr(ip string, d time.Duration) (probe.IOReport, error) {
	get := func(reset bool) (probe.IOReport, error) {
		var r probe.IOReport
		c := &http.Client{Timeout: 5 * time.Second}
		url := "http://" + ip + ":8080/io"
		if reset {
			url += "?reset=1"
		}
		resp, err := c.Get(url)
		if err != nil {
			return r, fmt.Errorf("reading the IO workload's stats: %w", err)
		}
		defer resp.Body.Close()
		if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
			return r, fmt.Errorf("decoding the IO workload's stats: %w", err)
		}
		return r, nil
	}
	if _, err := get(true); err != nil {
		return probe.IOReport{}, err
	}
	time.Sleep(d)
	return get(false)
}

// waitIO polls 1 s windows until ok accepts one, and returns how long it took.
func waitIO(t *testing.T, ip string, timeout time.Duration, what string, ok func(probe.IOReport) bool) time.Duration {
	t.Helper()
	start := time.Now()
	var last probe.IOReport
	for time.Since(start) < timeout {
		if last = ioWindow(t, ip, time.Second); ok(last) {
			return time.Since(start)
		}
	}
	t.Fatalf("%s: not within %v; last window %+v", what, timeout, last)
	return 0
}

// A workload writing to an emptyDir, through a file it opens per write and one it has
// held open since before the fault: it sees the latency, then the errors, at the asked
// values while each session runs, and nothing after Ctrl-C; no mount, helper or residue
// is left.
func TestIOLatencyThenErrors(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployIOWork(t, ns, "work", false)
	before := residue(t)
	clean := func(r probe.IOReport) bool {
		return r.Fresh.Ops > 10 && r.Held.Ops > 10 && r.Fresh.ErrorRate("") == 0 && r.Held.ErrorRate("") == 0 &&
			r.Fresh.P50Ms < 10 && r.Held.P50Ms < 10 && r.FUSE == 0
	}
	dry := chaos(t, "io", "latency", "deploy/work", "-n", ns, "--path", "/data", "--delay", "50ms", "--dry-run")
	for _, want := range []string{"fuse.kubectl-chaos", "umount /data (MNT_DETACH when busy)", "moved back onto the original files", "/dev/fuse"} {
		if dry.Code != 0 || !strings.Contains(dry.Stdout, want) {
			t.Errorf("dry run (exit %d) does not show %q:\n%s", dry.Code, want, dry)
		}
	}
	base := ioWindow(t, ip, 2*time.Second)
	t.Logf("before: %+v", base)
	if !clean(base) {
		t.Fatalf("the workload is not writing cleanly before any fault: %+v", base)
	}

	const delay = 50 * time.Millisecond
	s := startChaos(t, "io", "latency", "deploy/work", "-n", ns, "--path", "/data", "--delay", "50ms", "--methods", "write", "--duration", "3m")
	active := waitIO(t, ip, 60*time.Second, "the latency to appear", func(r probe.IOReport) bool { return r.Held.P50Ms >= 40 })
	t.Logf("latency visible %v after the command started", active.Round(time.Millisecond))
	r := ioWindow(t, ip, 3*time.Second)
	t.Logf("during io latency 50ms on write: %+v", r)
	for name, st := range map[string]probe.IOStats{"fresh": r.Fresh, "held": r.Held} {
		// One write per call: the median is the delay plus what a loaded node adds.
		if st.P50Ms < 0.9*float64(delay.Milliseconds()) || st.P50Ms > 2*float64(delay.Milliseconds()) || st.ErrorRate("") != 0 {
			t.Errorf("%s writes during the latency: p50 %.1f ms, errors %v; want ≈ %v and none", name, st.P50Ms, st.Errors, delay)
		}
	}
	if r.FUSE != 1 {
		t.Errorf("the workload sees %d FUSE mounts during the fault, want 1", r.FUSE)
	}
	if out := s.Output(); !strings.Contains(out, "/data/held.log: moved onto the fault mount") {
		t.Errorf("the session does not report the held descriptor moved onto the mount:\n%s", out)
	}
	s.Signal(syscall.SIGINT)
	if code := s.Wait(60 * time.Second); code != 130 && code != 0 {
		t.Errorf("exit code after Ctrl-C = %d\n%s", code, s.Output())
	}
	after := ioWindow(t, ip, 2*time.Second)
	t.Logf("after Ctrl-C: %+v", after)
	if !clean(after) {
		t.Errorf("the workload still sees the fault after Ctrl-C: %+v", after)
	}
	waitNoHelpers(t, 30*time.Second)

	const pct = 30.0
	s = startChaos(t, "io", "fault", "deploy/work", "-n", ns, "--path", "/data", "--errno", "EIO", "--percent", "30", "--methods", "write", "--duration", "3m")
	eio := syscall.EIO.Error()
	active = waitIO(t, ip, 60*time.Second, "the errors to appear", func(r probe.IOReport) bool { return r.Held.ErrorRate(eio) > 10 })
	t.Logf("errors visible %v after the command started", active.Round(time.Millisecond))
	r = ioWindow(t, ip, 4*time.Second)
	t.Logf("during io fault EIO 30%% on write: %+v", r)
	for name, st := range map[string]probe.IOStats{"fresh": r.Fresh, "held": r.Held} {
		if got := st.ErrorRate(eio); got < pct-10 || got > pct+10 || st.ErrorRate("") != got || st.Ops < 200 {
			t.Errorf("%s writes: %.1f%% EIO of %d (all errors %v), want %g%% ± 10 over ≥ 200", name, got, st.Ops, st.Errors, pct)
		}
	}
	s.Signal(syscall.SIGINT)
	if code := s.Wait(60 * time.Second); code != 130 && code != 0 {
		t.Errorf("exit code after Ctrl-C = %d\n%s", code, s.Output())
	}
	after = ioWindow(t, ip, 2*time.Second)
	t.Logf("after Ctrl-C: %+v", after)
	if !clean(after) {
		t.Errorf("the workload still sees the fault after Ctrl-C: %+v", after)
	}
	if n := atoi(kubectl(t, "-n", ns, "get", "pods", "-l", "app=work", "-o", "jsonpath={.items[0].status.containerStatuses[0].restartCount}")); n != 0 {
		t.Errorf("the workload restarted %d times", n)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}
