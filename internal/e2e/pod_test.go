//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// podState is what the pod tests read of a pod from outside: its UID, the echo
// container's image (spec) and restart count, the experiment label, the undo record.
type podState struct {
	uid, image, label string
	restarts          int
	record            bool
}

func readPod(t *testing.T, ns, pod string) podState {
	t.Helper()
	r := run(t, 30*time.Second, nil, "kubectl", "-n", ns, "get", "pod", pod, "--ignore-not-found", "-o",
		`jsonpath={.metadata.uid} {.spec.containers[0].image} {.status.containerStatuses[0].restartCount} `+
			`{.metadata.labels.kubectl-chaos/experiment}_ {.metadata.annotations.kubectl-chaos/undo}`)
	f := strings.Fields(r.Stdout)
	if len(f) < 4 {
		return podState{} // gone
	}
	return podState{uid: f[0], image: f[1], restarts: atoi(f[2]), label: strings.TrimSuffix(f[3], "_"), record: len(f) > 4}
}

// TestPodKill: the pod is really deleted (its UID is gone from the API and its
// processes from the node), the Deployment's replacement has another UID, and the CLI
// reports when that replacement was Ready.
func TestPodKill(t *testing.T) {
	sc := newScenario(t)
	sc.ReplacesPods()
	sc.Echo("web", 1)
	pod := podNames(t, sc.NS, "app=web")[0]
	before := readPod(t, sc.NS, pod)
	id := containerIDs(t, sc.NS, pod)["echo"]
	if len(containerPIDs(id)) == 0 {
		t.Fatalf("baseline: no process of the echo container %s on the node", id)
	}
	start := time.Now()
	r := sc.Chaos("pod", "kill", "deploy/web", "--mode", "one", "--grace-period", "2", "--wait")
	if r.Code != 0 {
		t.Fatalf("pod kill: %s", r)
	}
	for _, want := range []string{"--mode one picked " + sc.NS + "/" + pod, "replacement " + sc.NS + "/", "Ready"} {
		if !strings.Contains(r.Stdout+r.Stderr, want) {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	gone, _ := until(t, "old pod gone from the API and the node", 30*time.Second, paced(100*time.Millisecond, func() bool {
		return readPod(t, sc.NS, pod).uid != before.uid && len(containerPIDs(id)) == 0
	}), func(g bool) bool { return g })
	goneAt := time.Since(start)
	var repl string
	for _, p := range podNames(t, sc.NS, "app=web") {
		if p != pod {
			repl = p
		}
	}
	if repl == "" || readPod(t, sc.NS, repl).uid == before.uid {
		t.Fatalf("no replacement with a new UID (gone %v): pods %v", gone, podNames(t, sc.NS, "app=web"))
	}
	if h := helperPods(t); len(h) != 0 {
		t.Errorf("pod kill created helper pods: %v", h)
	}
	line := r.Stdout
	if i := strings.Index(line, "followed"); i >= 0 {
		line = line[i:]
	}
	t.Logf("TABLE|pod kill --grace-period 2 --wait|CLI exited after %s; old UID gone from API and node %s|%s",
		r.Took.Round(time.Millisecond), ms(goneAt), strings.TrimSpace(line))
	sc.End()
}

// failing is the pod failure workload: one echo pod whose UDP echo answers (a fresh
// socket per probe: a long-lived one sees ICMP refusals while the echo is down) are the
// measurement; a container on the pause image answers nothing.
func failing(t *testing.T) (sc *scenario, pod, ip string, before podState) {
	t.Helper()
	sc = newScenario(t)
	ip = sc.Echo("web", 1)[0]
	pod = podNames(t, sc.NS, "app=web")[0]
	before = readPod(t, sc.NS, pod)
	t.Cleanup(func() {
		if t.Failed() { // what the kubelet made of the image changes
			t.Logf("pod %s:\n%s\nevents:\n%s", pod, sc.Kubectl("get", "pod", pod, "-o", "jsonpath={.spec.containers[0].image} {.status.containerStatuses}"),
				sc.Kubectl("get", "events", "--sort-by=.lastTimestamp"))
		}
	})
	if r := udpLoss(t, ip, 40); r.Loss != 0 {
		t.Fatalf("baseline: %+v", r)
	}
	return sc, pod, ip, before
}

// checkRestored: the pod is the same pod, back on its image, with no label or record,
// its restart count up by at least 2 (the fault's price, reported by the CLI too).
func checkRestored(t *testing.T, sc *scenario, pod string, before podState) podState {
	t.Helper()
	// The echo can answer before the kubelet has written the new restart count to the
	// pod's status (seen once: 0 → 1 read right after, 2 a moment later).
	now := readPod(t, sc.NS, pod)
	for deadline := time.Now().Add(15 * time.Second); now.restarts < before.restarts+2 && time.Now().Before(deadline); {
		time.Sleep(250 * time.Millisecond)
		now = readPod(t, sc.NS, pod)
	}
	if now.uid != before.uid || now.image != before.image || now.label != "" || now.record {
		t.Errorf("pod after the restore %+v, want the same pod on %s without label and record", now, before.image)
	}
	if now.restarts < before.restarts+2 {
		t.Errorf("restart count %d → %d: want +2 at least (to the pause image and back)", before.restarts, now.restarts)
	}
	return now
}

// TestPodFailure: the echo container stops answering while the pod runs the pause
// image, answers again after Ctrl-C (restored by the CLI, which reports the restarts).
func TestPodFailure(t *testing.T) {
	sc, pod, ip, before := failing(t)
	var sig time.Time
	var silentAfter time.Duration
	runFault(sc, faultRun[float64]{
		Args:    []string{"pod", "failure", "deploy/web", "--duration", "2m"},
		Measure: func() float64 { return udpLoss(t, ip, 20).Loss },
		Active:  func(l float64) bool { return l == 100 },
		During: func(s *session) {
			silentAfter = time.Since(s.Started)
			if p := readPod(t, sc.NS, pod); !strings.Contains(p.image, "pause") || !p.record || p.label == "" {
				t.Errorf("pod during the fault %+v: want the pause image, the label and the undo record", p)
			}
			if out := s.Output(); !strings.Contains(out, "restart count goes up by at least 2") {
				t.Errorf("the CLI did not say the restarts cannot be undone:\n%s", out)
			}
		},
		Stop:       stopPath{"Ctrl-C", func(_ *scenario, s *session) time.Time { sig = s.Signal(syscall.SIGINT); return sig }, []int{130}},
		Gone:       func(l float64) bool { return l == 0 },
		GoneWithin: 90 * time.Second,
		After: func(s *session) {
			back := time.Since(sig)
			now := checkRestored(t, sc, pod, before)
			if out := s.Output(); !strings.Contains(out, "containers back on their own images") {
				t.Errorf("the CLI did not follow the restore:\n%s", out)
			}
			t.Logf("TABLE|pod failure|command → 100%% UDP loss seen ≤ %s; Ctrl-C → 0%% loss ≤ %s (incl. CLI exit)|restarts %d→%d",
				ms(silentAfter), ms(back), before.restarts, now.restarts)
		},
	})
}

// TestPodFailureKillCLIThenGC: after kill -9 of the CLI the pod stays on the pause
// image past its deadline (nothing in the cluster restores it), and `kubectl chaos gc`
// restores it from the undo record alone.
func TestPodFailureKillCLIThenGC(t *testing.T) {
	sc, pod, ip, before := failing(t)
	s := sc.Start("pod", "failure", "deploy/web", "--duration", "20s")
	waitLoss(t, ip, 60*time.Second, "echo silent", func(l float64) bool { return l == 100 })
	s.Signal(syscall.SIGKILL)
	s.Wait(10 * time.Second)
	out := sc.Kubectl("get", "pod", pod, "-o", `jsonpath={.metadata.annotations.kubectl-chaos/undo}`)
	rec, err := plan.DecodeUndo(out)
	if err != nil {
		t.Fatalf("undo record after kill -9: %v", err)
	}
	if ls := chaosPlain(t, nil, "ls"); !strings.Contains(ls.Stdout, rec.Experiment) {
		t.Errorf("ls does not show %s:\n%s", rec.Experiment, ls)
	}
	time.Sleep(time.Until(rec.Deadline) + time.Second)
	if r := udpLoss(t, ip, 40); r.Loss != 100 {
		t.Fatalf("past the deadline with the CLI dead the echo answers (%+v): something restored it without the CLI", r)
	}
	start := time.Now()
	gc := chaosPlain(t, nil, "gc")
	if gc.Code != 0 || !strings.Contains(gc.Stdout, "restored pod "+sc.NS+"/"+pod) {
		t.Fatalf("gc after the deadline: %s", gc)
	}
	waitLoss(t, ip, 90*time.Second, "echo answers after gc", func(l float64) bool { return l == 0 })
	now := checkRestored(t, sc, pod, before)
	t.Logf("TABLE|pod failure, kill -9 of the CLI, gc past the deadline|gc took %s; 0%% loss ≤ %s after gc started|restarts %d→%d",
		gc.Took.Round(time.Millisecond), ms(time.Since(start)), before.restarts, now.restarts)
	sc.End()
}
