//go:build e2e

package e2e

import (
	"encoding/json"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/e2e/probe"
)

// Loss: a real client measures ≈30% loss; Ctrl-C brings it back to 0, the helper pods
// go and the node is left as it was.
func TestLossCtrlC(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	if r := udpLoss(t, ip, 200); r.Loss > 1 {
		t.Fatalf("loss before the fault: %+v", r)
	}
	before := residue(t)

	s := startChaos(t, "network", "loss", "deploy/web", "-n", ns, "--percent", "30", "--duration", "3m")
	active := waitLoss(t, ip, 60*time.Second, "loss to appear", func(l float64) bool { return l >= 10 })
	t.Logf("loss visible %v after the command started", active)

	r := udpLoss(t, ip, 2000)
	t.Logf("during the fault: %+v", r)
	if r.Loss < 24 || r.Loss > 36 {
		t.Errorf("measured loss %.1f%% over %d datagrams, want 30%% ± 6", r.Loss, r.Sent)
	}

	sig := s.Signal(syscall.SIGINT)
	gone := waitLoss(t, ip, 10*time.Second, "loss to end after Ctrl-C", func(l float64) bool { return l == 0 })
	code := s.Wait(60 * time.Second)
	t.Logf("after Ctrl-C: loss gone within %v, CLI exited %d after %v", gone, code, s.exited.Sub(sig).Round(time.Millisecond))
	if code != 130 && code != 0 {
		t.Errorf("exit code after Ctrl-C = %d, want 130 (interrupted after a clean recovery)\n%s", code, s.Output())
	}
	if r := udpLoss(t, ip, 500); r.Loss != 0 {
		t.Errorf("loss after recovery: %+v", r)
	}
	// The agent asks the node's containerd first (--runtime-socket); the /proc scan is
	// only its fallback.
	if out := s.Output(); !strings.Contains(out, "found via containerd") {
		t.Errorf("the agent did not find the container through containerd:\n%s", out)
	}
	t.Logf("helper pods gone %v after the CLI exited", waitNoHelpers(t, 30*time.Second))
	t.Logf("node residue back to the snapshot within %v", waitResidue(t, before, 30*time.Second))
}

// Partition one direction between two deployments: a -> b is cut, b -> a still
// delivers; then recovered. Measured with one-way datagrams into the servers' sinks.
func TestPartitionOneDirection(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	aIP := deployEcho(t, ns, "a", 1)[0]
	bIP := deployEcho(t, ns, "b", 1)[0]
	before := residue(t)

	// sent from pod FROM to the sink of TO: how many arrived
	deliver := func(from, toIP string) int {
		n0 := sinkCount(t, toIP)
		execProbe(t, ns, from, "send", toIP+":9001", "-count", "50", "-interval", "2ms")
		time.Sleep(200 * time.Millisecond)
		return sinkCount(t, toIP) - n0
	}
	if ab, ba := deliver("a", bIP), deliver("b", aIP); ab != 50 || ba != 50 {
		t.Fatalf("before the fault: a->b %d/50, b->a %d/50", ab, ba)
	}

	s := startChaos(t, "network", "partition", "deploy/a", "-n", ns, "--to", "deploy/b", "--direction", "to", "--duration", "3m")
	start := time.Now()
	for deliver("a", bIP) != 0 {
		if time.Since(start) > 60*time.Second {
			t.Fatalf("a->b still delivered 60s after the command\n%s", s.Output())
		}
	}
	t.Logf("partition active %v after the command", time.Since(s.Started).Round(time.Millisecond))
	ab, ba := deliver("a", bIP), deliver("b", aIP)
	t.Logf("during the fault: a->b %d/50, b->a %d/50", ab, ba)
	if ab != 0 || ba != 50 {
		t.Errorf("partition --direction to: want a->b 0/50 and b->a 50/50, got %d and %d", ab, ba)
	}
	tcpAB := probeTCP(t, ns, "a", bIP)
	tcpBA := probeTCP(t, ns, "b", aIP)
	t.Logf("during the fault, TCP echo round trips: a->b %d/3, b->a %d/3 (informational)", tcpAB.OK, tcpBA.OK)
	if tcpAB.OK != 0 {
		t.Errorf("TCP a->b got through a partition --direction to: %+v", tcpAB)
	}

	s.Signal(syscall.SIGINT)
	if code := s.Wait(60 * time.Second); code != 130 && code != 0 {
		t.Errorf("exit code after Ctrl-C = %d\n%s", code, s.Output())
	}
	if ab, ba := deliver("a", bIP), deliver("b", aIP); ab != 50 || ba != 50 {
		t.Errorf("after recovery: a->b %d/50, b->a %d/50", ab, ba)
	}
	if r := probeTCP(t, ns, "a", bIP); r.OK != 3 {
		t.Errorf("TCP a->b after recovery: %+v", r)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
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
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	before := residue(t)
	free, err := probe.Download(ip+":7002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("download before the fault: %.0f Mbit/s", free.Mbps)

	s := startChaos(t, "network", "bandwidth", "deploy/web", "-n", ns, "--rate", "10mbit", "--duration", "3m")
	start := time.Now()
	for {
		r, err := probe.Download(ip+":7002", 500*time.Millisecond)
		if err == nil && r.Mbps < 20 {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("no rate limit 60s after the command (last %.1f Mbit/s)\n%s", r.Mbps, s.Output())
		}
	}
	r, err := probe.Download(ip+":7002", 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("download during --rate 10mbit: %.2f Mbit/s over %.1fs", r.Mbps, r.Seconds)
	if r.Mbps < 8.5 || r.Mbps > 11 {
		t.Errorf("throughput %.2f Mbit/s, want 10mbit ± 15%%", r.Mbps)
	}
	s.Signal(syscall.SIGINT)
	s.Wait(60 * time.Second)
	after, err := probe.Download(ip+":7002", time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("download after recovery: %.0f Mbit/s", after.Mbps)
	if after.Mbps < 100 {
		t.Errorf("throughput after recovery %.1f Mbit/s: the limit is still there", after.Mbps)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}

// Delay: the round trip a real client measures grows by the latency asked (netem where
// the node has it, else the userspace NFQUEUE backend, as on this machine), for UDP and
// for TCP; back to normal after Ctrl-C.
func TestDelay(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ip := deployEcho(t, ns, "web", 1)[0]
	before := residue(t)
	base := udpLoss(t, ip, 200)
	t.Logf("before: UDP p50 %.2f ms", base.P50Ms)

	s := startChaos(t, "network", "delay", "deploy/web", "-n", ns, "--latency", "100ms", "--duration", "3m")
	start := time.Now()
	for {
		r, err := probe.UDP(ip+":9000", 20, 5*time.Millisecond, 400*time.Millisecond)
		if err == nil && r.Received > 0 && r.P50Ms >= 90 {
			break
		}
		if time.Since(start) > 60*time.Second {
			t.Fatalf("no delay 60s after the command (last %+v)\n%s", r, s.Output())
		}
	}
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
	s.Signal(syscall.SIGINT)
	if code := s.Wait(60 * time.Second); code != 130 && code != 0 {
		t.Errorf("exit code after Ctrl-C = %d\n%s", code, s.Output())
	}
	if r := udpLoss(t, ip, 200); r.Loss > 0 || r.P50Ms > 10 {
		t.Errorf("after recovery: %+v", r)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}

// --mode one with a label selector over three replicas: exactly one pod is hit, the
// other two see nothing; all clean after Ctrl-C.
func TestModeOneOfThree(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	ips := deployEcho(t, ns, "web", 3)
	before := residue(t)
	s := startChaos(t, "network", "loss", "-l", "app=web", "-n", ns, "--mode", "one", "--seed", "7", "--percent", "100", "--duration", "3m")
	s.WaitOutput("attached", 60*time.Second)
	var hit []string
	start := time.Now()
	for len(hit) == 0 && time.Since(start) < 30*time.Second {
		hit = hit[:0]
		for _, ip := range ips {
			if udpLoss(t, ip, 40).Loss == 100 {
				hit = append(hit, ip)
			}
		}
	}
	losses := map[string]float64{}
	hit = hit[:0]
	for _, ip := range ips {
		l := udpLoss(t, ip, 200).Loss
		losses[ip] = l
		if l == 100 {
			hit = append(hit, ip)
		} else if l != 0 {
			t.Errorf("pod %s: %.1f%% loss, want 0 or 100", ip, l)
		}
	}
	t.Logf("--mode one over 3 pods: loss per pod %v", losses)
	if len(hit) != 1 {
		t.Errorf("--mode one hit %d pods (%v), want exactly 1", len(hit), hit)
	}
	s.Signal(syscall.SIGINT)
	s.Wait(60 * time.Second)
	for _, ip := range ips {
		if r := udpLoss(t, ip, 100); r.Loss != 0 {
			t.Errorf("pod %s after recovery: %+v", ip, r)
		}
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}
