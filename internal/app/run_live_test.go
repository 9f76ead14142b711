package app

import (
	"encoding/json"
	"encoding/xml"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

// The scenario live tests run kubectl chaos run in-process against the fake cluster
// (sessiontest's kubelet runs the real agent for each helper pod, noop fault).

func writeScenario(t *testing.T, text string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "s.yaml")
	if err := os.WriteFile(p, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readResult(t *testing.T, path string) *scenario.Result {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var r scenario.Result
	if err := json.Unmarshal(data, &r); err != nil {
		t.Fatalf("%s: %v\n%s", path, err, data)
	}
	return &r
}

func TestLiveScenarioParallelFaultsProbesReports(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = w.Write([]byte("ok"))
	}))
	defer srv.Close()
	file := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: live}
spec:
  duration: 2m
  parameters: {hold: 2s}
  probes:
  - name: api
    when: [before, during, after]
    interval: 300ms
    http: {url: `+srv.URL+`, status: 200, body: ok}
  steps:
  - parallel:
    - fault: {verb: noop, targets: deploy/web, duration: "${hold}"}
    - fault: {verb: noop, targets: pod/other-1, duration: "${hold}"}
    - command: {shell: "exit 0"}
  - wait: 100ms
  - probe: {command: {run: ["true"]}}
`)
	dir := t.TempDir()
	jsonRep, junitRep := filepath.Join(dir, "report.json"), filepath.Join(dir, "junit.xml")
	r := startLive(t, "run", file, "--report", jsonRep, "--report", junitRep)
	if err := r.wait(t, 60*time.Second); err != nil {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left", n)
	}
	res := readResult(t, jsonRep)
	if res.Outcome != scenario.Passed || len(res.Steps) != 5 {
		t.Fatalf("result = %+v\nstderr:\n%s", res, r.errOut.String())
	}
	var faults []scenario.StepResult
	for _, st := range res.Steps {
		if st.Type != "fault" {
			continue
		}
		faults = append(faults, st)
		if st.Experiment == nil || st.Experiment.Reason != "completed" {
			t.Fatalf("fault step %s: %+v", st.Field, st.Experiment)
		}
		for _, n := range st.Experiment.Nodes {
			for _, tr := range n.Result.Targets {
				if st.PlannedAt.IsZero() || tr.InjectedAt.Before(st.PlannedAt) || !tr.RecoveredAt.After(tr.InjectedAt) {
					t.Errorf("%s %s: planned %s injected %s recovered %s", st.Field, tr.Target, st.PlannedAt, tr.InjectedAt, tr.RecoveredAt)
				}
				// The deadline counts from the plan: plan→recovered is the 2s duration.
				lasted := tr.RecoveredAt.Sub(st.PlannedAt)
				t.Logf("%s %s: plan→inject %s, plan→recovered %s", st.Field, tr.Target, tr.InjectedAt.Sub(st.PlannedAt).Round(time.Millisecond), lasted.Round(time.Millisecond))
				if lasted < 2*time.Second-50*time.Millisecond || lasted > 15*time.Second {
					t.Errorf("%s: plan→recovered %s, want the 2s duration", tr.Target, lasted)
				}
			}
		}
	}
	if len(faults) != 2 {
		t.Fatalf("%d fault steps in the report", len(faults))
	}
	// The two parallel faults were held at the same time.
	a, b := faults[0], faults[1]
	if a.StartedAt.After(b.EndedAt) || b.StartedAt.After(a.EndedAt) {
		t.Errorf("parallel faults did not overlap: %s–%s and %s–%s", a.StartedAt, a.EndedAt, b.StartedAt, b.EndedAt)
	}
	phases := map[string]int{}
	for _, p := range res.Probes {
		phases[p.Phase]++
		if !p.OK {
			t.Errorf("probe failed: %+v", p)
		}
	}
	if phases["before"] != 1 || phases["after"] != 1 || phases["during"] < 3 || phases["step"] != 1 {
		t.Errorf("probe runs by phase = %v", phases)
	}
	var ju struct {
		Tests    int `xml:"tests,attr"`
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Cases []struct {
				Name string `xml:"name,attr"`
				Out  string `xml:"system-out"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	data, err := os.ReadFile(junitRep)
	if err != nil || xml.Unmarshal(data, &ju) != nil {
		t.Fatalf("junit: %v\n%s", err, data)
	}
	if ju.Failures != 0 || ju.Tests != len(res.Steps)+len(res.Probes) || !strings.Contains(string(data), "injected 20") {
		t.Errorf("junit: tests %d failures %d\n%s", ju.Tests, ju.Failures, data)
	}
	if out := r.out.String(); !strings.Contains(out, "scenario live: passed") {
		t.Errorf("stdout:\n%s", out)
	}
}

func TestLiveScenarioAbortOnRecoversEverything(t *testing.T) {
	// The fake pods have no Ready condition: the probe fails on its first run, 2s
	// after the steps started, while the one-minute fault is held.
	file := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: abort}
spec:
  duration: 5m
  probes:
  - name: web-ready
    when: during
    interval: 2s
    abortOn: true
    condition: {selector: app=web, minReady: 1}
  steps:
  - fault: {verb: noop, targets: deploy/web, duration: 1m}
  - command: {shell: "echo never; exit 1"}
`)
	jsonRep := filepath.Join(t.TempDir(), "report.json")
	start := time.Now()
	r := startLive(t, "run", file, "--report", jsonRep)
	err := r.wait(t, 60*time.Second)
	if exit.Code(err) != exit.Hypothesis {
		t.Fatalf("exit %d (%v), want %d\nstderr:\n%s", exit.Code(err), err, exit.Hypothesis, r.errOut.String())
	}
	if took := time.Since(start); took > 40*time.Second {
		t.Errorf("the abort took %s", took)
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left", n)
	}
	res := readResult(t, jsonRep)
	if res.Outcome != scenario.Aborted || !strings.Contains(res.Reason, "web-ready") || len(res.Steps) != 1 {
		t.Fatalf("result = %+v", res)
	}
	st := res.Steps[0]
	if st.Status != "interrupted" || st.Experiment == nil || st.Experiment.Reason != "interrupted" {
		t.Fatalf("fault step = %+v (%+v)", st, st.Experiment)
	}
	var failedAt time.Time
	for _, p := range res.Probes {
		if !p.OK {
			failedAt = p.At.Add(p.Took)
			break
		}
	}
	for _, n := range st.Experiment.Nodes {
		for _, tr := range n.Result.Targets {
			if !tr.Injected || !tr.Recovered {
				t.Errorf("%s: injected %v recovered %v", tr.Target, tr.Injected, tr.Recovered)
			}
			t.Logf("%s: failed probe → recovered %s", tr.Target, tr.RecoveredAt.Sub(failedAt).Round(time.Millisecond))
		}
	}
	t.Logf("failed probe → run ended (helpers deleted) %s", res.EndedAt.Sub(failedAt).Round(time.Millisecond))
}

func TestLiveScenarioCtrlCRecovers(t *testing.T) {
	file := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: ctrlc}
spec:
  steps:
  - fault: {verb: noop, targets: deploy/web, duration: 1m}
`)
	r := startLive(t, "run", file)
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(r.errOut.String(), "injected") && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	r.cancel()
	err := r.wait(t, 30*time.Second)
	if exit.Code(err) != exit.Interrupted {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	if n := r.helpersLeft(t); n != 0 {
		t.Errorf("%d helper pods left", n)
	}
	if !strings.Contains(r.out.String(), "scenario ctrlc: interrupted") {
		t.Errorf("stdout:\n%s", r.out.String())
	}
}

func TestScenarioDryRunShowsEveryFaultsObjects(t *testing.T) {
	file := writeScenario(t, `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: plan}
spec:
  steps:
  - fault: {verb: network delay, targets: deploy/web, latency: 200ms, duration: 1m}
  - parallel:
    - fault: {verb: pod kill, targets: deploy/web, mode: one}
    - fault: {verb: stress cpu, selector: app=later, workers: 1, duration: 30s}
`)
	res := run(t, webCluster(), "run", file, "--dry-run")
	if res.err != nil {
		t.Fatalf("%v\n%s", res.err, res.errOut)
	}
	for _, want := range []string{"DRY RUN", "step spec.steps[0]: network delay", "netem", "step spec.steps[1].parallel[0]: pod kill",
		"helper pod", "stress cpu on -l app=later in namespace default: no running pod matches now", "resolved when the step runs"} {
		if !strings.Contains(res.out, want) {
			t.Errorf("the plan lacks %q:\n%s", want, res.out)
		}
	}
	if res.calls == 0 {
		t.Errorf("the dry run never asked for the cluster")
	}
}
