//go:build e2e

package e2e

import (
	"encoding/json"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	sess "github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// kubectl chaos gc removes a warm helper past its deadline (kubectl chaos warm --for),
// and leaves one that is not. gc reads a helper's deadline from its
// kubectl-chaos/deadline annotation (session.PodDeadline) and removes it GCGrace (30 s)
// after; the shortest --for is 1m, so waiting for a real expiry would cost 90 s and end
// in kubelet's activeDeadlineSeconds as much as in gc. The test moves the annotation 2
// minutes into the past instead, which is the state gc sees of an expired warm helper
// (the agent's own plan deadline stays later, so nothing but gc ends it). Measured: the
// helper pod gone from the API, no agent process left, the node's state as before.
func TestWarmGCExpired(t *testing.T) {
	sc := newScenario(t)
	node := strings.TrimSpace(kubectl(t, "get", "nodes", "-o", "jsonpath={.items[0].metadata.name}"))
	sc.Snapshot()
	if w := chaosPlain(t, nil, warmArgs("--node", node, "--for", "10m")...); w.Code != 0 {
		t.Fatalf("warm: %s", w)
	}
	helpers := helperPods(t)
	if len(helpers) != 1 {
		t.Fatalf("after warm: helper pods %v, want one", helpers)
	}
	var warmPod string
	for warmPod = range helpers {
	}
	hns, hname, _ := strings.Cut(warmPod, "/")

	// Control: gc leaves a warm helper within its deadline.
	if r := chaosPlain(t, nil, "gc"); r.Code != 0 {
		t.Fatalf("gc: %s", r)
	}
	if h := helperPods(t); h[warmPod] != "Running" {
		t.Fatalf("gc removed a warm helper within its deadline: %v", h)
	}

	past := time.Now().UTC().Add(-2 * time.Minute).Format(time.RFC3339Nano)
	kubectl(t, "-n", hns, "annotate", "--overwrite", "pod", hname, "kubectl-chaos/deadline="+past)
	start := time.Now()
	r := chaosPlain(t, nil, "gc", "-o", "json")
	if r.Code != 0 {
		t.Fatalf("gc: %s", r)
	}
	var rep sess.GCReport
	if err := json.Unmarshal([]byte(r.Stdout), &rep); err != nil {
		t.Fatalf("gc -o json: %v\n%s", err, r)
	}
	if len(rep.Deleted) != 1 || rep.Deleted[0].Pod != hname {
		t.Errorf("gc deleted %+v, want the expired warm helper %s", rep.Deleted, warmPod)
	}
	waitNoHelpers(t, 30*time.Second)
	t.Logf("expired warm helper gone from the API %v after gc started (gc returned in %v)", time.Since(start).Round(time.Millisecond), r.Took.Round(time.Millisecond))
	if p := agentPIDs(t); len(p) != 0 {
		t.Errorf("agent processes left after gc removed the warm helper: %v", p)
	}
	sc.End()
}

// kill -9 of the agent inside a warm helper while it serves a fault command's step:
// the fault is gone at once (the owned nft table dies with the agent's socket, as for a
// helper of its own, TestKillAgent), kubelet restarts the agent, which recovers the
// step's journal and serves on without the fault; the fault command ends, warm --stop
// removes the helper and the node is as before. Also checked: ls names the step the
// warm helper serves while the fault runs.
func TestWarmKillAgent(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	if r := udpLoss(t, ip, 200); r.Loss > 1 {
		t.Fatalf("loss before the fault: %+v", r)
	}
	sc.Snapshot()
	if w := chaosPlain(t, nil, warmArgs("deploy/web", "-n", sc.NS, "--for", "10m")...); w.Code != 0 {
		t.Fatalf("warm: %s", w)
	}
	warmPod := waitHelperRunning(t, 10*time.Second)
	hns, hname, _ := strings.Cut(warmPod, "/")
	s := sc.Start("network", "loss", "deploy/web", "--percent", "100", "--duration", "3m")
	waitLoss(t, ip, 30*time.Second, "loss on the warm helper", func(l float64) bool { return l == 100 })
	if !strings.Contains(s.Output(), "using warm helper") {
		t.Fatalf("the fault did not use the warm helper:\n%s", s.Output())
	}
	id := regexp.MustCompile(`experiment (chaos-[0-9a-z]+):`).FindStringSubmatch(s.Output())
	if id == nil {
		t.Fatalf("no experiment ID in the output:\n%s", s.Output())
	}

	// ls: the warm helper serves this step (the record is written beside the step).
	var serving bool
	for end := time.Now().Add(10 * time.Second); time.Now().Before(end) && !serving; time.Sleep(200 * time.Millisecond) {
		ls := chaosPlain(t, nil, "ls", "-o", "json", "--events=false")
		var exps []sess.Experiment
		if ls.Code != 0 || json.Unmarshal([]byte(ls.Stdout), &exps) != nil {
			t.Fatalf("ls -o json: %s", ls)
		}
		for _, e := range exps {
			if e.Warm != nil {
				for _, st := range e.Warm.Steps {
					serving = serving || st.Step == id[1] && st.Pod == warmPod && strings.Contains(st.Fault, "loss")
				}
			}
		}
	}
	if !serving {
		t.Errorf("ls never said that %s serves step %s", warmPod, id[1])
	}

	killed := killAgentAndWaitRestart(t, ip, hns, hname, "the warm agent serving a step", 30*time.Second, nil)
	// The restarted agent recovered the step's journal and does not bring the fault back.
	time.Sleep(2 * time.Second)
	if r := udpLoss(t, ip, 200); r.Loss > 1 {
		t.Errorf("loss %.0f%% 2 s after the warm agent restarted: the step came back", r.Loss)
	}
	running := s.Running()
	if running {
		s.Signal(syscall.SIGINT)
	}
	code := s.Wait(30 * time.Second)
	t.Logf("fault command exited %d (%v after the kill; still running until Ctrl-C: %v); its lines after the kill:\n%s",
		code, time.Since(killed).Round(time.Millisecond), running, linesWith(s.Output(), "restart", "recovered", "helper", "completed", "interrupted"))
	if h := helperPods(t); h[warmPod] != "Running" {
		t.Errorf("the warm helper does not serve on after its agent's restart: %v", h)
	}
	if r := chaosPlain(t, nil, "warm", "--stop"); r.Code != 0 {
		t.Errorf("warm --stop: %s", r)
	}
	sc.End()
}

// linesWith are the lines of out that contain one of words, indented.
func linesWith(out string, words ...string) string {
	var keep []string
	for _, l := range strings.Split(out, "\n") {
		for _, w := range words {
			if strings.Contains(l, w) {
				keep = append(keep, "  "+l)
				break
			}
		}
	}
	return strings.Join(keep, "\n")
}
