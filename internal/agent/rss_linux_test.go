package agent

// BenchmarkAgentRSS measures what issue 5 asks of the helper: the agent binary's size
// (built like `make build`) and its memory (VmRSS, RssAnon, RssFile from
// /proc/<pid>/status) idle under a noop plan and during a network fault (tbf bandwidth +
// nft loss on a stand-in pod container found through the /proc scan), while it gets a
// heartbeat every 500ms like the CLI sends. Run it with `make bench-agent`;
// AGENT_RSS_HOLD (a Go duration, default 10s) is how long each fault is held;
// AGENT_RSS_BIN measures a given binary instead of building one.

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// memStatus is the memory of a process in KiB.
type memStatus struct{ RSS, Anon, File int }

func (m memStatus) String() string {
	return fmt.Sprintf("RSS %.1f MiB (anon %.1f, file %.1f)", mib(m.RSS), mib(m.Anon), mib(m.File))
}

func mib(kib int) float64 { return float64(kib) / 1024 }

func readMem(pid int) (memStatus, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memStatus{}, err
	}
	var m memStatus
	for _, l := range strings.Split(string(b), "\n") {
		k, v, ok := strings.Cut(l, ":")
		if !ok {
			continue
		}
		n, _ := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		switch k {
		case "VmRSS":
			m.RSS = n
		case "RssAnon":
			m.Anon = n
		case "RssFile":
			m.File = n
		}
	}
	if m.RSS == 0 {
		return m, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
	}
	return m, nil
}

// releaseBinary builds ./cmd/kubectl-chaos with the flags of `make build`.
func releaseBinary(b *testing.B) string {
	b.Helper()
	bin := filepath.Join(b.TempDir(), "kubectl-chaos")
	cmd := exec.Command("go", "build", "-trimpath", "-tags", agentbin.Tags, "-ldflags", "-s -w", "-o", bin, "./cmd/kubectl-chaos")
	cmd.Dir = "../.."
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build ./cmd/kubectl-chaos: %v\n%s", err, out)
	}
	return bin
}

// runHeld starts the agent on p, waits for its injected event, sends heartbeats every
// 500ms for hold while sampling its memory, then stops it. It returns the memory right
// after injection, the peak (by VmRSS) while the fault was held and the last sample.
// took is the time from starting the process to its injected event, stop the time from
// writing "stop" to its recovered event (the recover path runs after the page drop).
func runHeld(b *testing.B, bin string, p *plan.Plan, hold time.Duration) (first, peak, last memStatus, took, stop time.Duration) {
	b.Helper()
	enc, err := p.Encode()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(bin, "agent", "--proc-root", "/proc", "--termination-log", "", "--journal-dir", b.TempDir())
	cmd.Env = append(os.Environ(), plan.EnvVar+"="+enc)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	started := time.Now()
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	injected := make(chan plan.Event, 1)
	recovered := make(chan time.Time, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			var ev plan.Event
			if json.Unmarshal(sc.Bytes(), &ev) == nil && (ev.Type == plan.EventInjected || ev.Type == plan.EventError) {
				select {
				case injected <- ev:
				default:
				}
			}
			if ev.Type == plan.EventRecovered {
				select {
				case recovered <- time.Now():
				default:
				}
			}
		}
		io.Copy(io.Discard, out)
		done <- cmd.Wait()
	}()
	defer func() {
		cmd.Process.Kill()
		<-done
	}()
	beat := func() { io.WriteString(stdin, plan.StdinHeartbeat+"\n") }
	beat() // an attached agent injects after the operator's first heartbeat
	select {
	case ev := <-injected:
		if ev.Type != plan.EventInjected {
			b.Fatalf("agent: %s %s; stderr:\n%s", ev.Message, ev.Error, stderr.String())
		}
	case err := <-done:
		b.Fatalf("agent exited (%v) before injecting; stderr:\n%s", err, stderr.String())
	case <-time.After(30 * time.Second):
		b.Fatalf("no injected event within 30s; stderr:\n%s", stderr.String())
	}
	took = time.Since(started)
	pid := cmd.Process.Pid
	if first, err = readMem(pid); err != nil {
		b.Fatal(err)
	}
	peak = first
	tick := time.NewTicker(500 * time.Millisecond)
	defer tick.Stop()
	for end := time.Now().Add(hold); time.Now().Before(end); {
		<-tick.C
		beat()
		m, err := readMem(pid)
		if err != nil {
			b.Fatalf("agent gone while the fault was held: %v; stderr:\n%s", err, stderr.String())
		}
		if m.RSS > peak.RSS {
			peak = m
		}
		last = m
	}
	stopAt := time.Now()
	io.WriteString(stdin, plan.StdinStop+"\n")
	select {
	case err := <-done:
		done <- err // for the deferred wait
		if err != nil {
			b.Fatalf("agent after stop: %v; stderr:\n%s", err, stderr.String())
		}
	case <-time.After(30 * time.Second):
		b.Fatalf("agent did not exit within 30s of stop; stderr:\n%s", stderr.String())
	}
	select {
	case at := <-recovered:
		stop = at.Sub(stopAt)
	default:
		b.Fatalf("no recovered event after stop; stderr:\n%s", stderr.String())
	}
	return first, peak, last, took, stop
}

func BenchmarkAgentRSS(b *testing.B) {
	nstest.RequireRoot(b)
	if !slices.Contains(fault.Kinds(), plan.KindNetwork) {
		b.Skip("the network fault is not registered in this build")
	}
	hold := 10 * time.Second
	if s := os.Getenv("AGENT_RSS_HOLD"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			b.Fatalf("AGENT_RSS_HOLD=%q: want a positive Go duration such as 60s", s)
		}
		hold = d
	}
	bin := os.Getenv("AGENT_RSS_BIN") // a binary to measure instead (comparisons)
	if bin == "" {
		bin = releaseBinary(b)
	}
	st, err := os.Stat(bin)
	if err != nil {
		b.Fatal(err)
	}
	c := nstest.NewContainer(b)
	base := plan.Plan{
		Version: plan.Version, Node: "bench-node",
		CreatedAt: time.Now(), Deadline: time.Now().Add(hold + 2*time.Minute),
		HeartbeatTimeout: plan.Duration(5 * time.Second),
		Runtime:          plan.Runtime{Endpoint: "-"},
		Targets: []plan.Target{{Namespace: "default", Pod: "rss-" + c.ID[:6], Container: "app",
			ContainerID: c.ContainerID()}},
	}
	idle := base
	idle.Experiment = "rss-idle-" + c.ID[:6]
	idle.Fault = plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}}
	network := base
	network.Experiment = "rss-net-" + c.ID[:6]
	network.Fault = plan.Fault{Kind: plan.KindNetwork, Action: "bandwidth", Network: &plan.Network{
		Bandwidth: &plan.Bandwidth{Rate: 1_000_000},
		Loss:      &plan.Percent{Percent: 30},
	}}

	var idleFirst, idlePeak, idleLast, netFirst, netPeak, netLast memStatus
	var idleTook, netTook, idleStop, netStop time.Duration
	for b.Loop() {
		idleFirst, idlePeak, idleLast, idleTook, idleStop = runHeld(b, bin, &idle, hold)
		netFirst, netPeak, netLast, netTook, netStop = runHeld(b, bin, &network, hold)
	}
	b.ReportMetric(float64(st.Size())/1e6, "binary-MB")
	b.ReportMetric(mib(idlePeak.RSS), "idle-RSS-MiB")
	b.ReportMetric(mib(netPeak.RSS), "net-RSS-MiB")
	b.ReportMetric(mib(netPeak.Anon), "net-anon-MiB")
	b.ReportMetric(mib(netPeak.File), "net-file-MiB")
	b.ReportMetric(mib(netLast.RSS), "net-end-RSS-MiB")
	fmt.Printf("\n| %-42s | binary     | RSS        | anon       | file       |\n", "agent, fault held "+hold.String())
	fmt.Printf("|--------------------------------------------|------------|------------|------------|------------|\n")
	row := func(name string, m memStatus) {
		fmt.Printf("| %-42s | %7.1f MB | %6.1f MiB | %6.1f MiB | %6.1f MiB |\n", name, float64(st.Size())/1e6, mib(m.RSS), mib(m.Anon), mib(m.File))
	}
	row("noop, right after inject", idleFirst)
	row("noop, peak while held", idlePeak)
	row("noop, at the end", idleLast)
	row("network (tbf+nft loss), right after inject", netFirst)
	row("network (tbf+nft loss), peak while held", netPeak)
	row("network (tbf+nft loss), at the end", netLast)
	fmt.Printf("process start → injected event: noop %s, network %s\n", idleTook.Round(time.Millisecond), netTook.Round(time.Millisecond))
	fmt.Printf("\"stop\" → recovered event:      noop %s, network %s\n\n", idleStop.Round(100*time.Microsecond), netStop.Round(100*time.Microsecond))
}
