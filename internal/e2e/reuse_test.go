//go:build e2e

package e2e

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
)

// reuseScenario: two serial network faults, then a parallel group of two more on the
// same pod and a probe step whose failure (abortOn) ends the run. Every fault step runs
// on the run's one helper per node. The losses are nft's: on this node without
// sch_netem, two auto-backend losses started at the same moment race for the tc root
// (the one with a port filter builds an htb root before netem is found missing), and
// the other is refused.
const reuseScenario = `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata:
  name: reuse
spec:
  duration: 90s
  namespace: %[1]s
  steps:
  - name: loss-1
    fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: 3s, runtime-socket: %[2]s, image-pull-policy: Never}
  - name: loss-2
    fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: 3s, runtime-socket: %[2]s, image-pull-policy: Never}
  - parallel:
    - name: loss-all
      fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: 60s, runtime-socket: %[2]s, image-pull-policy: Never}
    - name: loss-tcp-echo
      fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, port: [7000], duration: 60s, runtime-socket: %[2]s, image-pull-policy: Never}
    - serial:
      - wait: 3s
      - name: health
        probe: {abortOn: true, command: {run: ["false"]}}
`

// runReport is what the test reads of --report FILE.json.
type runReport struct {
	Outcome string `json:"outcome"`
	Steps   []struct {
		Step       string    `json:"step"`
		Status     string    `json:"status"`
		StartedAt  time.Time `json:"startedAt"`
		EndedAt    time.Time `json:"endedAt"`
		Experiment *struct {
			Experiment string `json:"experiment"`
			Nodes      []struct {
				Node          string `json:"node"`
				Pod           string `json:"pod"`
				InjectLatency string `json:"injectLatency"`
			} `json:"nodes"`
		} `json:"experiment"`
	} `json:"steps"`
	Probes []struct {
		Probe string        `json:"probe"`
		At    time.Time     `json:"at"`
		Took  time.Duration `json:"tookNs"`
		OK    bool          `json:"ok"`
	} `json:"probes"`
	Helpers *struct {
		Experiment string `json:"experiment"`
		Nodes      []struct {
			Node string `json:"node"`
			Pod  string `json:"pod"`
		} `json:"nodes"`
	} `json:"helpers"`
}

// watchHelperPods records every helper pod the API server shows (name, UID, node)
// until the returned stop.
func watchHelperPods(t *testing.T) (stop func() map[string]string) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	cmd := command(ctx, nil, "kubectl", "get", "pods", "-n", helperNS, "-l", "app.kubernetes.io/managed-by=kubectl-chaos",
		"--watch", "-o", `jsonpath={.metadata.uid} {.metadata.name} {.spec.nodeName}{"\n"}`)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	seen := map[string]string{} // uid -> "name node"
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if uid, rest, ok := strings.Cut(strings.TrimSpace(sc.Text()), " "); ok {
				mu.Lock()
				seen[uid] = rest
				mu.Unlock()
			}
		}
	}()
	return func() map[string]string {
		cancel()
		_ = cmd.Wait()
		<-done
		mu.Lock()
		defer mu.Unlock()
		return seen
	}
}

// TestScenarioReusedHelpers (issue 14): kubectl chaos run with two serial network
// faults and a parallel group on the same pod. The API server sees one helper pod per
// node for the whole run; a UDP client measures each further fault active shortly after
// the previous one ended; a failing abortOn probe ends the run and everything is
// recovered (no fault, no helper).
func TestScenarioReusedHelpers(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	dir := t.TempDir()
	file, report := filepath.Join(dir, "reuse.yaml"), filepath.Join(dir, "report.json")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(reuseScenario, sc.NS, runtimeSocket)), 0o644); err != nil {
		t.Fatal(err)
	}
	sc.Snapshot()
	if base := udpLoss(t, ip, 200); base.Loss > 0.02 {
		t.Fatalf("baseline UDP loss %.1f%% before the run", base.Loss*100)
	}
	waitNoHelpers(t, 30*time.Second) // every helper pod the watch sees is the run's
	stopWatch := watchHelperPods(t)
	s := newStream(t, ip)
	start := time.Now()
	r := run(t, 3*time.Minute, nil, "kubectl", "chaos", "run", file, "--yes", "--report", report)
	time.Sleep(300 * time.Millisecond) // answers after the last recovery
	s.close()
	pods := stopWatch()
	t.Logf("kubectl chaos run -> exit %d in %s", r.Code, r.Took.Round(time.Millisecond))
	if r.Code != 4 {
		t.Fatalf("exit %d, want 4 (aborted by the failing probe)\n%s", r.Code, r)
	}

	// One helper pod per node, for the whole run.
	nodes := map[string][]string{}
	for uid, v := range pods {
		name, node, _ := strings.Cut(v, " ")
		nodes[node] = append(nodes[node], name+" "+uid)
	}
	if len(pods) != 1 {
		t.Fatalf("the API server showed %d helper pods during the run, want one per node (1): %v", len(pods), nodes)
	}
	t.Logf("helper pods seen during the run: %v", nodes)

	b, err := os.ReadFile(report)
	if err != nil {
		t.Fatal(err)
	}
	var rep runReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report: %v\n%s", err, b)
	}
	status := map[string]string{}
	for _, st := range rep.Steps {
		status[st.Step] = st.Status
		if st.Experiment != nil {
			for _, n := range st.Experiment.Nodes {
				for _, v := range pods {
					if name, _, _ := strings.Cut(v, " "); name != n.Pod {
						t.Errorf("step %s ran on helper %s, not the run's %s", st.Step, n.Pod, name)
					}
				}
			}
		}
	}
	if rep.Outcome != "aborted" || status["loss-1"] != "ok" || status["loss-2"] != "ok" ||
		status["loss-all"] != "interrupted" || status["loss-tcp-echo"] != "interrupted" {
		t.Fatalf("outcome %q, steps %v\n%s", rep.Outcome, status, r)
	}
	if rep.Helpers == nil || len(rep.Helpers.Nodes) != 1 {
		t.Fatalf("report's helpers: %+v", rep.Helpers)
	}

	// What the client saw: loss-1, a gap, loss-2, a gap, the group, answers after the abort.
	l1, ok := s.firstLost(start)
	if !ok {
		t.Fatal("the client never saw loss-1")
	}
	var follow []time.Duration
	last := l1
	for i := range 2 {
		end, ok := s.firstAnswered(last)
		if !ok {
			t.Fatalf("fault %d never ended for the client", i+1)
		}
		next, ok := s.firstLost(end)
		if !ok {
			t.Fatalf("fault %d never started for the client after fault %d ended", i+2, i+1)
		}
		follow = append(follow, next.Sub(end))
		last = next
	}
	var failedAt time.Time
	for _, p := range rep.Probes {
		if !p.OK {
			failedAt = p.At.Add(p.Took)
		}
	}
	back, ok := s.firstAnswered(last)
	if failedAt.IsZero() || !ok {
		t.Fatalf("probe failed at %v; answers again: %v", failedAt, ok)
	}
	recovered := back.Sub(failedAt)
	t.Logf("client: loss-1 from %s; further fault active %v after the previous one ended (loss-2, the group); answers again %s after the probe failed",
		l1.Sub(start).Round(time.Millisecond), follow, recovered.Round(time.Millisecond))
	sorted := append([]time.Duration(nil), follow...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	t.Logf("TABLE|kubectl chaos run, reused helper|further fault active after the previous ended: %s, %s (UDP client, 1 ms)|failed abortOn probe → answers again %s",
		ms(follow[0]), ms(follow[1]), ms(recovered))
	for i, f := range follow {
		// The goal is ≤ 0.1 s (issue 14); the bound leaves room for this loaded machine.
		if f > 500*time.Millisecond {
			t.Errorf("further fault %d active %s after the previous ended", i+2, f)
		}
	}
	if recovered > 5*time.Second {
		t.Errorf("answers again only %s after the probe failed", recovered)
	}
	sc.End()
}
