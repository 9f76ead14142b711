//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// warmArgs are the flags kubectl chaos warm needs against the local cluster.
func warmArgs(args ...string) []string {
	a := append([]string{"warm"}, args...)
	a = append(a, "--runtime-socket", runtimeSocket)
	if agentImage != "" {
		a = append(a, "--image-pull-policy", "Never")
	}
	return a
}

// A warm helper (kubectl chaos warm) takes a fault command's plan without a new pod:
// the loss a client sees appears and goes with Ctrl-C, the helper serves a second fault,
// kill -9 of that fault's CLI ends the fault within the step's heartbeat timeout (5 s),
// and warm --stop leaves no helper and nothing on the node.
func TestWarmLoss(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	if r := udpLoss(t, ip, 200); r.Loss > 1 {
		t.Fatalf("loss before the fault: %+v", r)
	}
	sc.Snapshot()
	w := chaosPlain(t, nil, warmArgs("deploy/web", "-n", sc.NS, "--for", "10m")...)
	if w.Code != 0 {
		t.Fatalf("warm: %s", w)
	}
	before := helperPods(t)
	if len(before) != 1 {
		t.Fatalf("after warm: helper pods %v, want one", before)
	}
	var warmPod string
	for k, v := range before {
		if warmPod = k; v != "Running" {
			t.Fatalf("warm helper %s is %s", k, v)
		}
	}
	if !strings.Contains(w.Stdout, warmPod[strings.Index(warmPod, "/")+1:]) {
		t.Errorf("warm did not print its helper %s:\n%s", warmPod, w)
	}
	fault := func() (*session, time.Duration) {
		s := sc.Start("network", "loss", "deploy/web", "--percent", "100", "--duration", "3m")
		took := waitLoss(t, ip, 30*time.Second, "loss on the warm helper", func(l float64) bool { return l == 100 })
		if !strings.Contains(s.Output(), "using warm helper") {
			t.Errorf("the fault did not use the warm helper:\n%s", s.Output())
		}
		if h := helperPods(t); len(h) != 1 || h[warmPod] != "Running" {
			t.Errorf("helper pods during the fault %v, want only the warm %s", h, warmPod)
		}
		return s, took
	}
	s, took := fault()
	t.Logf("fault active %v after the command started (warm helper)", took.Round(time.Millisecond))
	at := s.Signal(syscall.SIGINT)
	gone := waitLoss(t, ip, 10*time.Second, "loss gone after Ctrl-C", func(l float64) bool { return l == 0 })
	t.Logf("fault gone within %v after Ctrl-C", gone.Round(time.Millisecond))
	if code := s.Wait(30 * time.Second); code != 130 && code != 0 {
		t.Errorf("exit after Ctrl-C = %d\n%s", code, s.Output())
	}
	t.Logf("CLI exited %v after Ctrl-C", s.exited.Sub(at).Round(time.Millisecond))
	if h := helperPods(t); h[warmPod] != "Running" {
		t.Fatalf("the warm helper did not outlive the fault: %v", h)
	}

	s, _ = fault()
	killed := s.Signal(syscall.SIGKILL)
	s.Wait(10 * time.Second)
	back := firstDelivery(t, ip, 30*time.Second)
	t.Logf("BOUND kill -9 of the CLI on a warm helper -> fault gone in %v (step heartbeat timeout 5 s)", back.Sub(killed).Round(time.Millisecond))
	if d := back.Sub(killed); d > 8*time.Second {
		t.Errorf("fault gone %v after kill -9 of the CLI, bound 5 s + 3 s", d)
	}
	if h := helperPods(t); h[warmPod] != "Running" {
		t.Fatalf("the warm helper did not outlive the killed CLI: %v", h)
	}
	if r := chaosPlain(t, nil, "warm", "--stop"); r.Code != 0 {
		t.Errorf("warm --stop: %s", r)
	}
	sc.End()
}
