//go:build e2e

package e2e

import (
	"strings"
	"syscall"
	"testing"
	"time"
)

// restartCount reads the restart count and container ID of container c of pod.
func restartCount(t *testing.T, ns, pod, c string) (int, string) {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pod", pod, "-o",
		`jsonpath={range .status.containerStatuses[?(@.name=="`+c+`")]}{.restartCount} {.containerID}{end}`)
	n, id, _ := strings.Cut(strings.TrimSpace(out), " ")
	return atoi(n), id
}

// TestContainerPause: the echo server stops answering while its container is frozen
// and answers again right after Ctrl-C; nothing restarts, nothing is left.
func TestContainerPause(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	pod := podNames(t, ns, "app=web")[0]
	restarts, id := restartCount(t, ns, pod, "echo")
	before := residue(t)

	st := newStream(t, ip)
	defer st.close()
	time.Sleep(500 * time.Millisecond)
	if n := st.answersBetween(time.Now().Add(-300*time.Millisecond), time.Now()); n < 50 {
		t.Fatalf("baseline: %d answers in 300 ms to a datagram every 1 ms", n)
	}
	s := startChaos(t, "container", "pause", "deploy/web", "-n", ns, "--duration", "2m")
	// Silent: no answer for a whole second.
	deadline := time.Now().Add(90 * time.Second)
	for time.Since(st.lastAnswerBefore(time.Now())) < time.Second {
		if time.Now().After(deadline) || !s.Running() {
			t.Fatalf("the echo server kept answering\n%s", s.Output())
		}
		time.Sleep(50 * time.Millisecond)
	}
	stopped := st.lastAnswerBefore(time.Now())
	time.Sleep(2 * time.Second)
	if n := st.answersBetween(stopped.Add(time.Millisecond), time.Now()); n != 0 {
		t.Fatalf("%d answers while the container was frozen", n)
	}
	if out := s.Output(); !strings.Contains(out, "process(es) of the container frozen") {
		t.Errorf("the agent did not report the frozen processes:\n%s", out)
	}

	sig := s.Signal(syscall.SIGINT)
	var back time.Time
	for ok := false; !ok; back, ok = st.firstAnswerAfter(sig) {
		if time.Since(sig) > 20*time.Second {
			t.Fatalf("no answer 20s after Ctrl-C\n%s", s.Output())
		}
		time.Sleep(5 * time.Millisecond)
	}
	code := s.Wait(60 * time.Second)
	t.Logf("TABLE|container pause|command → echo silent %s; Ctrl-C → answers again %s|silent for %s",
		ms(stopped.Sub(s.Started)), ms(back.Sub(sig)), back.Sub(stopped).Round(time.Millisecond))
	if code != 130 {
		t.Errorf("exit code after Ctrl-C = %d, want 130\n%s", code, s.Output())
	}
	if r := udpLoss(t, ip, 300); r.Loss != 0 {
		t.Errorf("loss after the thaw: %+v", r)
	}
	if n, id2 := restartCount(t, ns, pod, "echo"); n != restarts || id2 != id {
		t.Errorf("pause restarted the container: restarts %d → %d, id %s → %s", restarts, n, id, id2)
	}
	t.Logf("helper pods gone %v after the CLI exited", waitNoHelpers(t, 30*time.Second))
	t.Logf("node residue back to the snapshot within %v", waitResidue(t, before, 30*time.Second))
}

// TestContainerKill: SIGKILL to the echo container's main process; the kubelet
// restarts it (restart count +1, new container ID) and it answers again.
func TestContainerKill(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	pod := podNames(t, ns, "app=web")[0]
	restarts, id := restartCount(t, ns, pod, "echo")
	before := residue(t)

	start := time.Now()
	r := chaos(t, "container", "kill", "pod/"+pod, "-n", ns, "--signal", "KILL")
	if r.Code != 0 {
		t.Fatalf("container kill: %s", r)
	}
	if !strings.Contains(r.Stderr, "SIGKILL sent via containerd") || !strings.Contains(r.Stderr, "exited") {
		t.Errorf("the agent did not report the signal through containerd and the exit:\n%s", r)
	}
	var n int
	var id2 string
	for n, id2 = restartCount(t, ns, pod, "echo"); n == restarts; n, id2 = restartCount(t, ns, pod, "echo") {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("restart count still %d a minute after the kill\n%s", n, r)
		}
		time.Sleep(100 * time.Millisecond)
	}
	restarted := time.Since(start)
	if n != restarts+1 || id2 == id {
		t.Fatalf("restart count %d → %d, container %s → %s: want +1 and a new container", restarts, n, id, id2)
	}
	answers := waitLoss(t, ip, 60*time.Second, "echo answering after the restart", func(l float64) bool { return l == 0 })
	t.Logf("TABLE|container kill KILL|command → restart count %d→%d seen %s (CLI exited after %s)|answers again %s later",
		restarts, n, ms(restarted), r.Took.Round(time.Millisecond), answers.Round(time.Millisecond))
	t.Logf("helper pods gone %v", waitNoHelpers(t, 30*time.Second))
	t.Logf("node residue back to the snapshot within %v", waitResidue(t, before, 30*time.Second))
}
