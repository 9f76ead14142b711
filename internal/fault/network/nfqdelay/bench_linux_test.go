//go:build linux

package nfqdelay

import (
	"fmt"
	"net"
	"os"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/nfqueue/nfqtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkNFQueue measures the userspace delay against its targets and prints a table
// (make bench-nfqueue): accuracy within ±10% at 50 and 100 ms, lossless at >= 40k pps of
// 64-byte UDP, TCP >= 100 Mbit/s under 50 ms, and the agent's CPU. The delay runs in a
// child process (the "agent") so its CPU is measured alone; it holds packets reaching
// the target (prerouting), where TCP keeps its throughput.
func BenchmarkNFQueue(b *testing.B) {
	topo := nfqtest.New(b)
	type row struct{ what, asked, seen, target string }
	var rows []row
	add := func(what, asked, seen, target string) { rows = append(rows, row{what, asked, seen, target}) }
	verdict := func(ok bool) string {
		if ok {
			return "ok"
		}
		return "MISSED"
	}
	base := rtt(b, topo, "ip4", 100)
	baseP50 := nfqtest.Percentile(base.RTTs, 50)
	add("UDP RTT, no delay (100 probes)", "-", fmt.Sprintf("p50 %s", baseP50.Round(time.Microsecond)), "")

	for _, lat := range []int{50, 100} {
		asked := time.Duration(lat) * time.Millisecond
		h, ready := startHelper(b, topo, lat)
		if !ready {
			b.Fatal("agent child did not apply the delay")
		}
		res := rtt(b, topo, "ip4", 300)
		p50, p99 := nfqtest.Percentile(res.RTTs, 50), nfqtest.Percentile(res.RTTs, 99)
		e50, e99 := p50-asked-baseP50, p99-asked-baseP50
		add(fmt.Sprintf("UDP RTT error (%d probes, %d lost)", len(res.RTTs), res.Lost), asked.String(),
			fmt.Sprintf("p50 %+.2fms p99 %+.2fms", ms64(e50), ms64(e99)),
			"±10% "+verdict(absD(e50) <= asked/10 && absD(e99) <= asked/10 && res.Lost == 0))

		if lat == 50 {
			for _, pps := range []int{20000, 40000, 60000, 80000, 100000, 120000} {
				sink, err := nfqtest.NewUDPSink(topo.Target, topo.TargetIP4)
				if err != nil {
					b.Fatal(err)
				}
				st0, _ := h.Stats()
				cpu0, w0 := h.CPU(), time.Now()
				n := pps * 2
				sent, took, err := nfqtest.UDPBlast(topo.Client, sink.Addr, pps, n, 64)
				if err != nil {
					b.Fatal(err)
				}
				deadline := time.Now().Add(2 * time.Second)
				for sink.Count() < int64(sent) && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				cpu := float64(h.CPU()-cpu0) / float64(time.Since(w0)) * 100
				st1, _ := h.Stats()
				got := sink.Count()
				d := sink.Delays()
				sink.Close()
				queued := st1.Packets - st0.Packets
				rate := float64(sent) / took.Seconds()
				lossless := got == int64(sent) && queued >= uint64(sent)*99/100
				add(fmt.Sprintf("64-byte UDP, %.0fk pps sent", rate/1000), asked.String(),
					fmt.Sprintf("recv %d/%d, queued %d, overruns %d, one-way p50 %s p99 %s, agent CPU %.0f%%",
						got, sent, queued, st1.Overruns-st0.Overruns,
						nfqtest.Percentile(d, 50).Round(10*time.Microsecond), nfqtest.Percentile(d, 99).Round(10*time.Microsecond), cpu),
					map[bool]string{true: ">=40k lossless ", false: ""}[pps >= 40000]+verdict(lossless))
			}
		}
		for _, dir := range []string{"target receives", "target sends"} {
			src, dst, ip := topo.Client, topo.Target, topo.TargetIP4
			if dir == "target sends" {
				src, dst, ip = topo.Target, topo.Client, topo.ClientIP4
			}
			cpu0, w0 := h.CPU(), time.Now()
			bps, err := nfqtest.TCPTransfer(src, dst, ip, 32<<20, 60*time.Second)
			cpu := float64(h.CPU()-cpu0) / float64(time.Since(w0)) * 100
			seen := fmt.Sprintf("%.0f Mbit/s (32 MiB), agent CPU %.0f%%", bps/1e6, cpu)
			if err != nil {
				seen = err.Error()
			}
			target := ""
			if lat == 50 {
				target = ">=100 Mbit/s " + verdict(bps >= 100e6)
			}
			add("TCP goodput, "+dir, asked.String(), seen, target)
		}
		h.Stdin.Close()
		if err := h.Wait(); err != nil {
			b.Errorf("agent child recovery: %v", err)
		}
	}

	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nNFQUEUE delay (%s)\twhat\tasked\tseen\ttarget\n", kernelRelease())
	for _, r := range rows {
		fmt.Fprintf(w, "\t%s\t%s\t%s\t%s\n", r.what, r.asked, r.seen, r.target)
	}
	w.Flush()
	for i := 0; i < b.N; i++ {
	}
}

func ms64(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) }

func kernelRelease() string {
	b, err := os.ReadFile("/proc/sys/kernel/osrelease")
	if err != nil {
		return "linux"
	}
	return "kernel " + strings.TrimSpace(string(b))
}

// BenchmarkNFQueueCorruptReorder prints the agent's CPU for corrupt (10 % of the
// target's outgoing 64-byte UDP picked by the rule, each copied, changed and returned)
// and for reorder (every packet reaching the target queued: 25 % accepted at once, the
// others held 50 ms) at 20k and 40k packets/s, with what the engine counted.
func BenchmarkNFQueueCorruptReorder(b *testing.B) {
	topo := nfqtest.New(b)
	w := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nNFQUEUE corrupt/reorder (%s)\tjob\tsent\tseen\tagent CPU\n", kernelRelease())
	for _, c := range []struct {
		name     string
		job      helperJob
		src, dst nfqtest.NS
		ip       net.IP
	}{
		{"corrupt 10% (egress)", helperJob{Spec: Spec{Corrupt: &plan.Percent{Percent: 10}}}, topo.Target, topo.Client, topo.ClientIP4},
		{"reorder 25%, 50ms (ingress)", helperJob{Spec: Spec{Delay: &plan.Delay{Latency: plan.Duration(50 * time.Millisecond)}, Reorder: &plan.Reorder{Percent: 25}},
			Filter: plan.Filter{Direction: "ingress"}}, topo.Client, topo.Target, topo.TargetIP4},
	} {
		h, ready := startHelperJob(b, topo, 0, &c.job)
		if !ready {
			b.Fatalf("%s: agent child did not apply", c.name)
		}
		for _, pps := range []int{20000, 40000} {
			sink, err := nfqtest.NewUDPSink(c.dst, c.ip)
			if err != nil {
				b.Fatal(err)
			}
			st0, _ := h.Stats()
			cpu0, w0 := h.CPU(), time.Now()
			sent, took, err := nfqtest.UDPBlast(c.src, sink.Addr, pps, pps*2, 64)
			if err != nil {
				b.Fatal(err)
			}
			time.Sleep(300 * time.Millisecond)
			cpu := float64(h.CPU()-cpu0) / float64(time.Since(w0)) * 100
			st1, _ := h.Stats()
			got := sink.Count()
			sink.Close()
			fmt.Fprintf(w, "\t%s\t%.0fk pps, %d\trecv %d; queued %d, corrupted %d, reordered %d, overruns %d\t%.0f%%\n",
				c.name, float64(sent)/took.Seconds()/1000, sent, got, st1.Packets-st0.Packets, st1.Corrupted-st0.Corrupted,
				st1.Reordered-st0.Reordered, st1.Overruns-st0.Overruns, cpu)
		}
		h.Stdin.Close()
		if err := h.Wait(); err != nil {
			b.Errorf("agent child recovery: %v", err)
		}
	}
	w.Flush()
	for i := 0; i < b.N; i++ {
	}
}
