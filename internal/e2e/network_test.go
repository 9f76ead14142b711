//go:build e2e

package e2e

import (
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// Loss: a real client measures ≈30% loss; Ctrl-C brings it back to 0, the helper pods
// go and the node (and the target container) is left as it was.
func TestLossCtrlC(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	if r := udpLoss(t, ip, 200); r.Loss > 1 {
		t.Fatalf("loss before the fault: %+v", r)
	}
	sc.TrackTargets("web")
	runFault(sc, faultRun[probe.UDPReport]{
		Args:    []string{"network", "loss", "deploy/web", "--percent", "30", "--duration", "3m"},
		Measure: lossOf(t, ip, 40),
		Active:  lossAtLeast(10),
		During: func(*session) {
			r := udpLoss(t, ip, 2000)
			t.Logf("during the fault: %+v", r)
			if r.Loss < 24 || r.Loss > 36 {
				t.Errorf("measured loss %.1f%% over %d datagrams, want 30%% ± 6", r.Loss, r.Sent)
			}
		},
		Gone: lossIs(0),
		After: func(s *session) {
			if r := udpLoss(t, ip, 500); r.Loss != 0 {
				t.Errorf("loss after recovery: %+v", r)
			}
			// The agent asks the node's containerd first (--runtime-socket); the /proc scan
			// is only its fallback.
			if out := s.Output(); !strings.Contains(out, "found via containerd") {
				t.Errorf("the agent did not find the container through containerd:\n%s", out)
			}
			// The CLI wrote the Kubernetes Events of inject and recover on the target pod.
			evs := sc.Kubectl("get", "events", "--field-selector", "source=kubectl-chaos",
				"-o", `jsonpath={range .items[*]}{.reason} {.involvedObject.kind}/{.involvedObject.name}{"\n"}{end}`)
			for _, want := range []string{"ChaosInjected Pod/web-", "ChaosRecovered Pod/web-"} {
				if strings.Count(evs, want) != 1 {
					t.Errorf("want one %q Event on the target, got:\n%s", want, evs)
				}
			}
		},
	})
}

// lossAtLeast and lossIs are conditions on a lossOf measurement.
func lossAtLeast(p float64) func(probe.UDPReport) bool {
	return func(r probe.UDPReport) bool { return r.Loss >= p }
}

func lossIs(p float64) func(probe.UDPReport) bool {
	return func(r probe.UDPReport) bool { return r.Loss == p }
}

// Partition one direction between two deployments: a -> b is cut, b -> a still
// delivers; then recovered. Measured with one-way datagrams into the servers' sinks.
func TestPartitionOneDirection(t *testing.T) {
	sc := newScenario(t)
	aIP := sc.Echo("a", 1)[0]
	bIP := sc.Echo("b", 1)[0]

	// sent from pod FROM to the sink of TO: how many arrived
	deliver := func(from, toIP string) int {
		n0 := sinkCount(t, toIP)
		execProbe(t, sc.NS, from, "send", toIP+":9001", "-count", "50", "-interval", "2ms")
		time.Sleep(200 * time.Millisecond)
		return sinkCount(t, toIP) - n0
	}
	if ab, ba := deliver("a", bIP), deliver("b", aIP); ab != 50 || ba != 50 {
		t.Fatalf("before the fault: a->b %d/50, b->a %d/50", ab, ba)
	}
	runFault(sc, faultRun[int]{
		Args:    []string{"network", "partition", "deploy/a", "--to", "deploy/b", "--direction", "to", "--duration", "3m"},
		Measure: func() int { return deliver("a", bIP) },
		Active:  func(ab int) bool { return ab == 0 },
		During: func(*session) {
			ab, ba := deliver("a", bIP), deliver("b", aIP)
			t.Logf("during the fault: a->b %d/50, b->a %d/50", ab, ba)
			if ab != 0 || ba != 50 {
				t.Errorf("partition --direction to: want a->b 0/50 and b->a 50/50, got %d and %d", ab, ba)
			}
			tcpAB := probeTCP(t, sc.NS, "a", bIP)
			tcpBA := probeTCP(t, sc.NS, "b", aIP)
			t.Logf("during the fault, TCP echo round trips: a->b %d/3, b->a %d/3 (informational)", tcpAB.OK, tcpBA.OK)
			if tcpAB.OK != 0 {
				t.Errorf("TCP a->b got through a partition --direction to: %+v", tcpAB)
			}
		},
		After: func(*session) {
			if ab, ba := deliver("a", bIP), deliver("b", aIP); ab != 50 || ba != 50 {
				t.Errorf("after recovery: a->b %d/50, b->a %d/50", ab, ba)
			}
			if r := probeTCP(t, sc.NS, "a", bIP); r.OK != 3 {
				t.Errorf("TCP a->b after recovery: %+v", r)
			}
		},
	})
}

func probeTCP(t *testing.T, ns, from, toIP string) probe.TCPReport {
	t.Helper()
	out := execProbe(t, ns, from, "tcp", toIP+":7000", "-count", "3", "-timeout", "700ms")
	var r probe.TCPReport
	if err := json.Unmarshal([]byte(strings.TrimSpace(out)), &r); err != nil {
		t.Fatalf("tcp probe output %q: %v", out, err)
	}
	return r
}

// Bandwidth on a pod: a TCP download from it runs at ≈ the rate.
func TestBandwidth(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	t.Logf("download before the fault: %.0f Mbit/s", download(t, ip, time.Second).Mbps)
	runFault(sc, faultRun[float64]{
		Args: []string{"network", "bandwidth", "deploy/web", "--rate", "10mbit", "--duration", "3m"},
		Measure: func() float64 {
			r, err := probe.Download(ip+":7002", 500*time.Millisecond)
			if err != nil {
				return math.Inf(1) // not measured: not limited yet
			}
			return r.Mbps
		},
		Active: func(mbps float64) bool { return mbps < 20 },
		During: func(*session) {
			r := download(t, ip, 3*time.Second)
			t.Logf("download during --rate 10mbit: %.2f Mbit/s over %.1fs", r.Mbps, r.Seconds)
			if r.Mbps < 8.5 || r.Mbps > 11 {
				t.Errorf("throughput %.2f Mbit/s, want 10mbit ± 15%%", r.Mbps)
			}
		},
		After: func(*session) {
			after := download(t, ip, time.Second)
			t.Logf("download after recovery: %.0f Mbit/s", after.Mbps)
			if after.Mbps < 100 {
				t.Errorf("throughput after recovery %.1f Mbit/s: the limit is still there", after.Mbps)
			}
		},
	})
}

// download measures a TCP download from ip's source port for d.
func download(t *testing.T, ip string, d time.Duration) probe.DownloadReport {
	t.Helper()
	r, err := probe.Download(ip+":7002", d)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// Delay: the round trip a real client measures grows by the latency asked (netem where
// the node has it, else the userspace NFQUEUE backend, as on this machine), for UDP and
// for TCP; back to normal after Ctrl-C.
func TestDelay(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	base := udpLoss(t, ip, 200)
	t.Logf("before: UDP p50 %.2f ms", base.P50Ms)
	runFault(sc, faultRun[probe.UDPReport]{
		Args: []string{"network", "delay", "deploy/web", "--latency", "100ms", "--duration", "3m"},
		Measure: func() probe.UDPReport {
			r, _ := probe.UDP(ip+":9000", 20, 5*time.Millisecond, 400*time.Millisecond)
			return r
		},
		Active: func(r probe.UDPReport) bool { return r.Received > 0 && r.P50Ms >= 90 },
		During: func(*session) {
			r, err := probe.UDP(ip+":9000", 300, 5*time.Millisecond, 500*time.Millisecond)
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("during --latency 100ms: UDP %+v", r)
			if r.Loss > 0 || r.P50Ms < 100 || r.P50Ms > 110 {
				t.Errorf("UDP round trip p50 %.2f ms (loss %.1f%%), want 100-110 ms and no loss", r.P50Ms, r.Loss)
			}
			var tcp []time.Duration
			for i := 0; i < 5; i++ {
				t0 := time.Now()
				if rep := probe.TCP(ip+":7000", 1, 2*time.Second); rep.OK != 1 {
					t.Fatalf("TCP echo during the delay: %+v", rep)
				}
				tcp = append(tcp, time.Since(t0))
			}
			p50 := probe.Percentile(tcp, 50)
			t.Logf("during --latency 100ms: TCP connect + echo round trip p50 %.1f ms", p50)
			if p50 < 200 || p50 > 260 {
				t.Errorf("TCP connect+echo p50 %.1f ms, want 2 round trips of ≈100 ms (200-260 ms)", p50)
			}
		},
		After: func(*session) {
			if r := udpLoss(t, ip, 200); r.Loss > 0 || r.P50Ms > 10 {
				t.Errorf("after recovery: %+v", r)
			}
		},
	})
}

// --mode one with a label selector over three replicas: exactly one pod is hit, the
// other two see nothing; all clean after Ctrl-C.
func TestModeOneOfThree(t *testing.T) {
	sc := newScenario(t)
	ips := sc.Echo("web", 3)
	// losses measures the loss to each pod with n datagrams.
	losses := func(n int) map[string]float64 {
		m := map[string]float64{}
		for _, ip := range ips {
			m[ip] = udpLoss(t, ip, n).Loss
		}
		return m
	}
	hits := func(m map[string]float64) (hit []string) {
		for ip, l := range m {
			if l == 100 {
				hit = append(hit, ip)
			}
		}
		return hit
	}
	runFault(sc, faultRun[map[string]float64]{
		Args:         []string{"network", "loss", "-l", "app=web", "--mode", "one", "--seed", "7", "--percent", "100", "--duration", "3m"},
		Measure:      func() map[string]float64 { return losses(40) },
		Active:       func(m map[string]float64) bool { return len(hits(m)) > 0 },
		ActiveWithin: 90 * time.Second,
		During: func(*session) {
			m := losses(200)
			for ip, l := range m {
				if l != 0 && l != 100 {
					t.Errorf("pod %s: %.1f%% loss, want 0 or 100", ip, l)
				}
			}
			t.Logf("--mode one over 3 pods: loss per pod %v", m)
			if hit := hits(m); len(hit) != 1 {
				t.Errorf("--mode one hit %d pods (%v), want exactly 1", len(hit), hit)
			}
		},
		After: func(*session) {
			for _, ip := range ips {
				if r := udpLoss(t, ip, 100); r.Loss != 0 {
					t.Errorf("pod %s after recovery: %+v", ip, r)
				}
			}
		},
	})
}
