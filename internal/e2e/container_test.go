//go:build e2e

package e2e

import (
	"fmt"
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
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	pod := podNames(t, sc.NS, "app=web")[0]
	restarts, id := restartCount(t, sc.NS, pod, "echo")
	sc.TrackTargets("web")

	st := newStream(t, ip) // a datagram every 1 ms; a frozen server answers none
	defer st.close()
	time.Sleep(500 * time.Millisecond)
	if n := st.answersBetween(time.Now().Add(-300*time.Millisecond), time.Now()); n < 50 {
		t.Fatalf("baseline: %d answers in 300 ms to a datagram every 1 ms", n)
	}
	silence := paced(20*time.Millisecond, func() time.Duration { return time.Since(st.lastAnswerBefore(time.Now())) })
	var stopped, sig time.Time
	runFault(sc, faultRun[time.Duration]{
		Args:    []string{"container", "pause", "deploy/web", "--duration", "2m"},
		Measure: silence,
		Active:  func(d time.Duration) bool { return d > time.Second },
		During: func(s *session) {
			stopped = st.lastAnswerBefore(time.Now())
			time.Sleep(2 * time.Second)
			if n := st.answersBetween(stopped.Add(time.Millisecond), time.Now()); n != 0 {
				t.Errorf("%d answers while the container was frozen", n)
			}
			if out := s.Output(); !strings.Contains(out, "process(es) of the container frozen") {
				t.Errorf("the agent did not report the frozen processes:\n%s", out)
			}
			t.Logf("command → echo silent: %s", ms(stopped.Sub(s.Started)))
		},
		Stop: stopPath{"Ctrl-C", func(_ *scenario, s *session) time.Time { sig = s.Signal(syscall.SIGINT); return sig }, []int{130}},
		Gone: func(d time.Duration) bool { return d < 100*time.Millisecond },
		After: func(s *session) {
			back, _ := st.firstAnswerAfter(sig)
			t.Logf("TABLE|container pause|command → echo silent %s; Ctrl-C → answers again %s|silent for %s",
				ms(stopped.Sub(s.Started)), ms(back.Sub(sig)), back.Sub(stopped).Round(time.Millisecond))
			if r := udpLoss(t, ip, 300); r.Loss != 0 {
				t.Errorf("loss after the thaw: %+v", r)
			}
			if n, id2 := restartCount(t, sc.NS, pod, "echo"); n != restarts || id2 != id {
				t.Errorf("pause restarted the container: restarts %d → %d, id %s → %s", restarts, n, id, id2)
			}
		},
	})
}

// TestContainerKill: SIGKILL to the echo container's main process through containerd;
// the kubelet restarts it (restart count +1, new container ID), the CLI reports the
// restart count before and after, and the server answers again.
func TestContainerKill(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	pod := podNames(t, sc.NS, "app=web")[0]
	restarts, id := restartCount(t, sc.NS, pod, "echo")

	start := time.Now()
	r := sc.Chaos("container", "kill", "pod/"+pod, "--signal", "KILL")
	if r.Code != 0 {
		t.Fatalf("container kill: %s", r)
	}
	if !strings.Contains(r.Stderr, "SIGKILL sent via containerd") || !strings.Contains(r.Stderr, "exited") {
		t.Errorf("the agent did not report the signal through containerd and the exit:\n%s", r)
	}
	if want := fmt.Sprintf("restart count %d → %d", restarts, restarts+1); !strings.Contains(r.Stdout, want) {
		t.Errorf("the report does not follow the restart (%q):\n%s", want, r)
	}
	type rc struct {
		n  int
		id string
	}
	got, _ := until(t, "restart count +1", 60*time.Second, paced(100*time.Millisecond, func() rc {
		n, id := restartCount(t, sc.NS, pod, "echo")
		return rc{n, id}
	}), func(v rc) bool { return v.n > restarts })
	restarted := time.Since(start)
	if got.n != restarts+1 || got.id == id {
		t.Fatalf("restart count %d → %d, container %s → %s: want +1 and a new container", restarts, got.n, id, got.id)
	}
	answers := waitLoss(t, ip, 60*time.Second, "echo answering after the restart", func(l float64) bool { return l == 0 })
	t.Logf("TABLE|container kill KILL|command → restart count %d→%d seen %s (CLI exited after %s)|answers again %s later",
		restarts, got.n, ms(restarted), r.Took.Round(time.Millisecond), answers.Round(time.Millisecond))
	sc.End()
}
