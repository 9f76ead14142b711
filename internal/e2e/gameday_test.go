//go:build e2e

package e2e

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// probesScenario: one network loss (100%, nft) on web, and a probe of each kind that the
// loss breaks for real: HTTP against web, web Ready (kubelet's readiness probe goes
// through the same loss), and a Prometheus query against the test's fake Prometheus,
// whose value is the outage the test's own UDP client sees. Only the Prometheus probe
// has abortOn, with a bound (%[5]s s of outage) the other two fail well before, so the
// run shows all three failing and then aborts on the Prometheus probe.
const probesScenario = `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata:
  name: probes-abort
spec:
  duration: 90s
  namespace: %[1]s
  probes:
  - name: web-http
    when: [before, during]
    interval: 1s
    timeout: 1s
    http: {url: "http://%[3]s:8080/", status: [200], maxLatency: 800ms}
  - name: web-ready
    when: [before, during]
    interval: 1s
    timeout: 2s
    condition: {selector: app=web, minReady: 1}
  - name: client-outage
    when: [before, during]
    interval: 1s
    timeout: 2s
    abortOn: true
    prometheus: {url: "%[4]s", query: e2e_client_outage_seconds, max: %[5]s}
  steps:
  - name: loss
    fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: 60s, runtime-socket: %[2]s, image-pull-policy: Never}
`

// outageBound is the Prometheus probe's max (seconds of outage the client sees).
const outageBound = "6"

// fakeProm answers GET /api/v1/query as Prometheus does (an instant vector of one
// sample) with the outage the stream sees now, and keeps every value it served.
type fakeProm struct {
	*httptest.Server
	mu     sync.Mutex
	served []promSample
}

type promSample struct {
	at    time.Time
	value float64
}

func newFakeProm(t *testing.T, s *stream) *fakeProm {
	t.Helper()
	p := &fakeProm{}
	p.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" || r.URL.Query().Get("query") != "e2e_client_outage_seconds" {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"status":"error","errorType":"bad_data","error":"unknown query %q"}`, r.URL.String())
			return
		}
		now := time.Now()
		v := s.outage(now)
		p.mu.Lock()
		p.served = append(p.served, promSample{now, v})
		p.mu.Unlock()
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{"__name__":"e2e_client_outage_seconds","job":"e2e"},"value":[%.3f,"%.3f"]}]}}`,
			float64(now.UnixMilli())/1000, v)
	}))
	t.Cleanup(p.Close)
	return p
}

func (p *fakeProm) samples() []promSample {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]promSample(nil), p.served...)
}

// outage is how long the stream has gone unanswered at now: from the first datagram
// lost after the last answered one, to 100 ms before now (answers still in flight are
// not losses); 0 while it is answered.
func (s *stream) outage(now time.Time) float64 {
	cut := now.Add(-100 * time.Millisecond)
	start, ok := s.lossStartBefore(cut)
	if !ok {
		return 0
	}
	return cut.Sub(start).Seconds()
}

// lossRuns are the stream's runs of unanswered datagrams (first unanswered sent, first
// answered again sent) from t on that last at least min: this loaded machine stalls the
// client for a few hundred ms at times, which a 1 ms stream would take for a fault.
func (s *stream) lossRuns(t time.Time, min time.Duration) [][2]time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][2]time.Time
	start := -1
	for i := range s.sent {
		if s.sent[i].Before(t) {
			continue
		}
		switch {
		case !s.ok[i] && start < 0:
			start = i
		case s.ok[i] && start >= 0:
			if s.sent[i].Sub(s.sent[start]) >= min {
				out = append(out, [2]time.Time{s.sent[start], s.sent[i]})
			}
			start = -1
		}
	}
	return out
}

// minLoss: a loss run at least this long is the fault's (the stalls of the machine
// seen by the client were ≤ 0.4 s; the faults here last 3 s and more).
const minLoss = 1500 * time.Millisecond

// TestScenarioProbesAbort (issue 14): a probe of each kind (HTTP, condition, Prometheus
// against a fake on loopback) fails for real during a network loss; the failing abortOn
// probe stops the run at once and everything is recovered. The test checks, against
// what its own UDP client saw: the fault gone shortly after the probe failed, exit 4
// (hypothesis failed), the Events on the target, the history entry, the JUnit and JSON
// reports.
func TestScenarioProbesAbort(t *testing.T) {
	sc, ip, pod, dir, state := gamedaySetup(t)
	file := filepath.Join(dir, "probes.yaml")
	junit, report := filepath.Join(dir, "junit.xml"), filepath.Join(dir, "report.json")
	sc.Snapshot()
	if base := udpLoss(t, ip, 200); base.Loss > 0.02 {
		t.Fatalf("baseline UDP loss %.1f%% before the run", base.Loss*100)
	}
	s := newStream(t, ip)
	prom := newFakeProm(t, s)
	if err := os.WriteFile(file, []byte(fmt.Sprintf(probesScenario, sc.NS, runtimeSocket, ip, prom.URL, outageBound)), 0o644); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	r := run(t, 3*time.Minute, state, "kubectl", "chaos", "run", file, "--yes", "--report", junit, "--report", report)
	end := time.Now()
	time.Sleep(300 * time.Millisecond) // answers after the recovery
	s.close()
	t.Logf("kubectl chaos run -> exit %d in %s", r.Code, r.Took.Round(time.Millisecond))
	if r.Code != 4 {
		t.Fatalf("exit %d, want 4 (hypothesis failed: aborted by the failing probe)\n%s", r.Code, r)
	}
	rep := readRunReport(t, report)
	runs := s.lossRuns(start, minLoss)
	if len(runs) != 1 {
		t.Fatalf("the client saw %d losses of %s or more, want 1: %v\n%s", len(runs), minLoss, runs, r)
	}
	lost, back := runs[0][0], runs[0][1]
	failed := checkProbeFailures(t, rep, lost)
	if back.Before(failed) {
		t.Fatalf("the client was answered again at %s, before the abortOn probe failed at %s", back.Format(time.RFC3339Nano), failed.Format(time.RFC3339Nano))
	}
	recovered := back.Sub(failed)
	t.Logf("client: loss from %s after the command; abortOn probe failed %s after the loss began; answers again %s after that",
		ms(lost.Sub(start)), ms(failed.Sub(lost)), ms(recovered))
	t.Logf("TABLE|kubectl chaos run, failing abortOn probe|HTTP, condition, Prometheus failed during a 100%% loss|failed abortOn probe → client answered again %s", ms(recovered))
	if recovered > 5*time.Second {
		t.Errorf("the client was answered again only %s after the abortOn probe failed", ms(recovered))
	}
	checkPromServed(t, prom.samples(), rep, lost)
	exp, inj, rec := checkStepTimes(t, rep, lost, back, "interrupted")
	checkJUnit(t, junit, exp)
	checkTargetEvents(t, sc.NS, pod, exp, inj, rec)
	checkHistory(t, state, exp, start, end)
	sc.End()
}

// gamedaySetup: the scenario with one echo pod web (its IP and name), a directory for
// the files, and the environment of a state directory (history, locks) of the test's own.
func gamedaySetup(t *testing.T) (sc *scenario, ip, pod, dir string, state []string) {
	t.Helper()
	sc = newScenario(t)
	ip = sc.Echo("web", 1)[0]
	pod = podNames(t, sc.NS, "app=web")[0]
	dir = t.TempDir()
	return sc, ip, pod, dir, []string{"KUBECTL_CHAOS_STATE_DIR=" + filepath.Join(dir, "state")}
}

// gamedayReport is what the test reads of --report FILE.json beyond runReport.
type gamedayReport struct {
	Outcome string `json:"outcome"`
	Reason  string `json:"reason"`
	Steps   []struct {
		Step       string `json:"step"`
		Status     string `json:"status"`
		Experiment *struct {
			Experiment string `json:"experiment"`
			Nodes      []struct {
				Result *struct {
					Targets []struct {
						Target      string    `json:"target"`
						Injected    bool      `json:"injected"`
						Recovered   bool      `json:"recovered"`
						InjectedAt  time.Time `json:"injectedAt"`
						RecoveredAt time.Time `json:"recoveredAt"`
					} `json:"targets"`
				} `json:"result"`
			} `json:"nodes"`
		} `json:"experiment"`
	} `json:"steps"`
	Probes []struct {
		Probe   string        `json:"probe"`
		Phase   string        `json:"phase"`
		At      time.Time     `json:"at"`
		Took    time.Duration `json:"tookNs"`
		OK      bool          `json:"ok"`
		Message string        `json:"message"`
	} `json:"probes"`
}

func readRunReport(t *testing.T, path string) *gamedayReport {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rep gamedayReport
	if err := json.Unmarshal(b, &rep); err != nil {
		t.Fatalf("report %s: %v\n%s", path, err, b)
	}
	return &rep
}

// checkProbeFailures: every probe passed before the run and until the client lost its
// answers; each of the three failed during the loss, the HTTP and condition probes
// before the abortOn one; the run aborted on it. It returns when that probe failed.
func checkProbeFailures(t *testing.T, rep *gamedayReport, lost time.Time) time.Time {
	t.Helper()
	firstFail := map[string]time.Time{}
	for _, p := range rep.Probes {
		done := p.At.Add(p.Took)
		switch {
		case p.Phase == "before" && !p.OK:
			t.Errorf("probe %s failed before the steps: %s", p.Probe, p.Message)
		case !p.OK && p.At.Before(lost.Add(-time.Second)):
			t.Errorf("probe %s failed at %s, before the client lost its answers (%s): %s", p.Probe,
				p.At.Format(time.RFC3339Nano), lost.Format(time.RFC3339Nano), p.Message)
		case !p.OK:
			if _, seen := firstFail[p.Probe]; !seen {
				firstFail[p.Probe] = done
				t.Logf("probe %s first failed %s after the loss began: %s", p.Probe, ms(done.Sub(lost)), p.Message)
			}
		}
	}
	for _, name := range []string{"web-http", "web-ready", "client-outage"} {
		if _, ok := firstFail[name]; !ok {
			t.Errorf("probe %s never failed during the loss; probes: %+v", name, rep.Probes)
		}
	}
	abortAt := firstFail["client-outage"]
	for _, name := range []string{"web-http", "web-ready"} {
		if at, ok := firstFail[name]; ok && at.After(abortAt) {
			t.Errorf("probe %s first failed after the abort", name)
		}
	}
	if rep.Outcome != "aborted" || !strings.Contains(rep.Reason, "probe client-outage failed (abortOn)") {
		t.Errorf("report outcome %q, reason %q: want aborted on probe client-outage", rep.Outcome, rep.Reason)
	}
	if abortAt.IsZero() {
		t.FailNow()
	}
	return abortAt
}

var promValue = regexp.MustCompile(`e2e_client_outage_seconds = ([0-9.]+)`)

// checkPromServed: the values the fake served were 0 before the loss and grew with it,
// and the failing probe's message carries a value the fake served, above the bound.
func checkPromServed(t *testing.T, served []promSample, rep *gamedayReport, lost time.Time) {
	t.Helper()
	bound, _ := strconv.ParseFloat(outageBound, 64)
	var before, maxV float64
	for _, v := range served {
		if v.at.Before(lost) {
			before = max(before, v.value)
		}
		maxV = max(maxV, v.value)
	}
	t.Logf("fake Prometheus: %d queries, at most %.3f s before the loss, at most %.3f s during it", len(served), before, maxV)
	if before > 1 || maxV <= bound {
		t.Errorf("fake Prometheus served %.3f before the loss (want < 1: a stall of the machine at most) and %.3f at most (want > %s)", before, maxV, outageBound)
	}
	for _, p := range rep.Probes {
		if p.Probe != "client-outage" || p.OK {
			continue
		}
		m := promValue.FindStringSubmatch(p.Message)
		if m == nil {
			t.Errorf("failing Prometheus probe's message has no value: %q", p.Message)
			return
		}
		v, _ := strconv.ParseFloat(m[1], 64)
		found := false
		for _, s := range served {
			found = found || fmt.Sprintf("%.3f", s.value) == fmt.Sprintf("%.3f", v)
		}
		if !found || v <= bound {
			t.Errorf("failing Prometheus probe saw %g (served by the fake: %v), want a served value > %s", v, found, outageBound)
		}
		return
	}
}

// checkStepTimes: the loss step ended with status, its target injected and recovered at
// times consistent with what the client saw (±1 s: the agent stamps after the kernel
// call, the client's 1 ms ticker runs on a loaded machine). It returns the experiment
// ID and the two stamps.
func checkStepTimes(t *testing.T, rep *gamedayReport, lost, back time.Time, status string) (string, time.Time, time.Time) {
	t.Helper()
	if len(rep.Steps) != 1 || rep.Steps[0].Experiment == nil || len(rep.Steps[0].Experiment.Nodes) != 1 ||
		rep.Steps[0].Experiment.Nodes[0].Result == nil || len(rep.Steps[0].Experiment.Nodes[0].Result.Targets) != 1 {
		t.Fatalf("report steps: want one fault step with one node and one target: %+v", rep.Steps)
	}
	st := rep.Steps[0]
	tg := st.Experiment.Nodes[0].Result.Targets[0]
	if st.Status != status || !tg.Injected || !tg.Recovered {
		t.Errorf("step %s: status %q, target %s injected %v recovered %v; want %s, both true", st.Step, st.Status, tg.Target, tg.Injected, tg.Recovered, status)
	}
	dInj, dRec := lost.Sub(tg.InjectedAt), back.Sub(tg.RecoveredAt)
	t.Logf("report: injectedAt %s (client's first loss %+.0f ms from it), recoveredAt %s (client's first answer %+.0f ms from it)",
		tg.InjectedAt.Format(time.RFC3339Nano), float64(dInj.Microseconds())/1000, tg.RecoveredAt.Format(time.RFC3339Nano), float64(dRec.Microseconds())/1000)
	if dInj.Abs() > time.Second || dRec.Abs() > time.Second {
		t.Errorf("report's injectedAt/recoveredAt differ from what the client saw by %s / %s (> 1 s)", dInj, dRec)
	}
	return st.Experiment.Experiment, tg.InjectedAt, tg.RecoveredAt
}

// checkJUnit: the JUnit report names the failing probes, says aborted, and carries the
// step's experiment.
func checkJUnit(t *testing.T, path, exp string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Failures int `xml:"failures,attr"`
		Suites   []struct {
			Props []struct {
				Name  string `xml:"name,attr"`
				Value string `xml:"value,attr"`
			} `xml:"properties>property"`
			Cases []struct {
				Name      string `xml:"name,attr"`
				SystemOut string `xml:"system-out"`
				Failure   *struct {
					Message string `xml:"message,attr"`
				} `xml:"failure"`
			} `xml:"testcase"`
		} `xml:"testsuite"`
	}
	if err := xml.Unmarshal(b, &doc); err != nil || len(doc.Suites) != 1 {
		t.Fatalf("junit %s: %v (%d suites)\n%s", path, err, len(doc.Suites), b)
	}
	failed := map[string]bool{}
	stepOut := ""
	for _, c := range doc.Suites[0].Cases {
		if f := strings.Fields(c.Name); c.Failure != nil && len(f) > 1 && f[0] == "during" {
			failed[f[1]] = true
		}
		if strings.HasPrefix(c.Name, "spec.steps[0]") {
			stepOut = c.SystemOut
		}
	}
	props := map[string]string{}
	for _, p := range doc.Suites[0].Props {
		props[p.Name] = p.Value
	}
	if !failed["web-http"] || !failed["web-ready"] || !failed["client-outage"] || props["outcome"] != "aborted" ||
		!strings.Contains(props["reason"], "client-outage") || !strings.Contains(stepOut, exp) {
		t.Errorf("junit: failed probes %v, properties %v, step output %q; want the three probes failed, aborted on client-outage, experiment %s", failed, props, stepOut, exp)
	}
}

// checkTargetEvents: the target pod carries ChaosInjected and ChaosRecovered of the
// experiment (no ChaosFailed: nothing failed), at the report's times (Events have
// seconds).
func checkTargetEvents(t *testing.T, ns, pod, exp string, inj, rec time.Time) {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "events", "-l", "kubectl-chaos/experiment="+exp, "-o", "json")
	var list struct {
		Items []struct {
			Reason         string    `json:"reason"`
			Message        string    `json:"message"`
			FirstTimestamp time.Time `json:"firstTimestamp"`
			Involved       struct {
				Name      string `json:"name"`
				UID       string `json:"uid"`
				FieldPath string `json:"fieldPath"`
			} `json:"involvedObject"`
		} `json:"items"`
	}
	if err := json.Unmarshal([]byte(out), &list); err != nil {
		t.Fatalf("events: %v\n%s", err, out)
	}
	uid := kubectl(t, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.metadata.uid}")
	got := map[string]time.Time{}
	for _, e := range list.Items {
		if e.Involved.Name != pod || e.Involved.UID != uid || !strings.Contains(e.Message, exp) {
			t.Errorf("event %s about %s/%s: %q; want pod %s (uid %s), experiment %s", e.Reason, e.Involved.Name, e.Involved.UID, e.Message, pod, uid, exp)
		}
		got[e.Reason] = e.FirstTimestamp
	}
	t.Logf("events of %s on %s: %v", exp, pod, got)
	want := map[string]time.Time{"ChaosInjected": inj, "ChaosRecovered": rec}
	for reason, at := range want {
		ts, ok := got[reason]
		if !ok {
			t.Errorf("no %s event on %s for %s (events: %v)", reason, pod, exp, got)
		} else if d := ts.Sub(at.Truncate(time.Second)); d < -time.Second || d > time.Second {
			t.Errorf("%s event at %s, the report says %s", reason, ts, at)
		}
	}
	if _, ok := got["ChaosFailed"]; ok || len(got) != 2 {
		t.Errorf("events %v: want exactly ChaosInjected and ChaosRecovered (nothing failed)", got)
	}
}

// checkHistory: the run is in the history as aborted with exit 4, with its experiment,
// within the time the command ran.
func checkHistory(t *testing.T, env []string, exp string, start, end time.Time) {
	t.Helper()
	runs := scenarioHistory(t, env)
	if len(runs) != 1 {
		t.Fatalf("history: %d scenario runs, want 1: %+v", len(runs), runs)
	}
	e := runs[0]
	t.Logf("history: %s %s %s exit %d, %s → %s, experiments %v", e.ID, e.Kind, e.Result, e.ExitCode, e.StartedAt.Format(time.RFC3339Nano), e.EndedAt.Format(time.RFC3339Nano), e.Experiments)
	if e.Result != "aborted" || e.ExitCode != 4 || len(e.Experiments) != 1 || e.Experiments[0] != exp ||
		e.StartedAt.Before(start) || e.EndedAt.After(end) || !e.EndedAt.After(e.StartedAt) {
		t.Errorf("history entry %+v: want aborted, exit 4, experiment %s, within the command's %s → %s", e, exp, start, end)
	}
}

// scheduleScenario: a short network loss on web, run on a schedule.
const scheduleScenario = `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata:
  name: scheduled-loss
spec:
  duration: 30s
  namespace: %[1]s
  steps:
  - name: loss
    fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: %[3]s, runtime-socket: %[2]s, image-pull-policy: Never}
`

// Schedule of TestScenarioSchedule: two firings (at +E and +2E) before --until.
const (
	scheduleEvery = 12 * time.Second
	scheduleUntil = "30s"
	scheduleLoss  = 3 * time.Second
)

// TestScenarioSchedule (issue 14): `run --schedule '@every 12s' --until 30s` fires
// twice; a second run of the same file meanwhile is refused (exit 1) and creates
// nothing. The client sees two losses about 12 s apart; the history has two firings
// and each firing's experiment left its injected and recovered Events on the target.
func TestScenarioSchedule(t *testing.T) {
	sc, ip, pod, dir, state := gamedaySetup(t)
	file, report := filepath.Join(dir, "scheduled.yaml"), filepath.Join(dir, "report.json")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(scheduleScenario, sc.NS, runtimeSocket, scheduleLoss)), 0o644); err != nil {
		t.Fatal(err)
	}
	sc.Snapshot()
	if base := udpLoss(t, ip, 200); base.Loss > 0.02 {
		t.Fatalf("baseline UDP loss %.1f%% before the run", base.Loss*100)
	}
	s := newStream(t, ip)
	start := time.Now()
	bg := startCommand(t, state, "kubectl", "chaos", "run", file, "--yes", "--report", report,
		"--schedule", fmt.Sprintf("@every %s", scheduleEvery), "--until", scheduleUntil)
	bg.WaitOutput("schedule: run 1 at", 30*time.Second)

	// The overlap: the same file again from this machine, while the schedule holds it.
	again := run(t, time.Minute, state, "kubectl", "chaos", "run", file, "--yes")
	t.Logf("second run of the same file -> exit %d in %s: %s", again.Code, again.Took.Round(time.Millisecond), strings.TrimSpace(again.Stderr))
	if again.Code != 1 || !strings.Contains(again.Stderr, "overlapping runs are refused") {
		t.Errorf("second run while the schedule runs: exit %d, want 1 (overlap refused)\n%s", again.Code, again)
	}
	if pods := helperPods(t); len(pods) != 0 && time.Since(start) < scheduleEvery {
		t.Errorf("helper pods before the first firing (the refused run created some?): %v", pods)
	}

	code := bg.Wait(2 * time.Minute)
	time.Sleep(300 * time.Millisecond)
	s.close()
	t.Logf("scheduled run exited %d %s after it started", code, ms(bg.exited.Sub(start)))
	if code != 0 {
		t.Fatalf("scheduled run: exit %d, want 0\n%s", code, bg.Output())
	}
	if n := strings.Count(bg.Output(), "schedule: run "); n < 2 || strings.Contains(bg.Output(), "skipped") {
		t.Errorf("want two firings, none skipped\n%s", bg.Output())
	}

	// The client saw two losses of about the step's duration, about the period apart.
	losses := s.lossRuns(start, minLoss)
	if len(losses) != 2 {
		t.Fatalf("the client saw %d losses of %s or more, want 2 (one per firing): %v", len(losses), minLoss, losses)
	}
	gap := losses[1][0].Sub(losses[0][0])
	t.Logf("client: losses of %s and %s, starting %s apart (period %s)", ms(losses[0][1].Sub(losses[0][0])), ms(losses[1][1].Sub(losses[1][0])), ms(gap), scheduleEvery)
	for i, l := range losses {
		// The step's deadline runs from when its plan was sent (measured: 2.8 s of 3 s).
		if d := l[1].Sub(l[0]); d < scheduleLoss/2 || d > scheduleLoss+2*time.Second {
			t.Errorf("loss %d lasted %s, want about the step's %s", i+1, ms(d), scheduleLoss)
		}
	}
	// The firings are due exactly a period apart; each loss starts once its run's helper
	// started (measured 3 s and 5 s after the firing here).
	if gap < scheduleEvery-time.Second || gap > scheduleEvery+8*time.Second {
		t.Errorf("losses started %s apart, want the period %s (+ the difference of two helper starts)", ms(gap), scheduleEvery)
	}

	// Two firings in the history, and each firing's Events on the target.
	entries := scenarioHistory(t, state)
	if len(entries) != 2 {
		t.Fatalf("history: %d scenario runs, want 2: %+v", len(entries), entries)
	}
	for i, e := range entries {
		rep := readRunReport(t, firingReport(report, i+1))
		lost, back := losses[i][0], losses[i][1]
		exp, inj, rec := checkStepTimes(t, rep, lost, back, "ok")
		if e.Firing != i+1 || e.Result != "passed" || e.ExitCode != 0 || len(e.Experiments) != 1 || e.Experiments[0] != exp {
			t.Errorf("history entry %d: %+v; want firing %d, passed, exit 0, experiment %s", i, e, i+1, exp)
		}
		checkTargetEvents(t, sc.NS, pod, exp, inj, rec)
	}
	sc.End()
}

// firingReport is the report of firing n: report-n.json.
func firingReport(path string, n int) string {
	ext := filepath.Ext(path)
	return fmt.Sprintf("%s-%d%s", strings.TrimSuffix(path, ext), n, ext)
}

// historyEntry is what the tests read of `kubectl chaos history -o json`.
type historyEntry struct {
	ID          string    `json:"id"`
	Kind        string    `json:"kind"`
	StartedAt   time.Time `json:"startedAt"`
	EndedAt     time.Time `json:"endedAt"`
	Result      string    `json:"result"`
	ExitCode    int       `json:"exitCode"`
	Experiments []string  `json:"experiments"`
	Firing      int       `json:"firing"`
}

// scenarioHistory returns the scenario runs of the history in env's state directory.
func scenarioHistory(t *testing.T, env []string) []historyEntry {
	t.Helper()
	r := run(t, time.Minute, env, "kubectl", "chaos", "history", "-o", "json", "--limit", "0")
	var entries []historyEntry
	if r.Code != 0 || json.Unmarshal([]byte(r.Stdout), &entries) != nil {
		t.Fatalf("history:\n%s", r)
	}
	var runs []historyEntry
	for _, e := range entries {
		if e.Kind == "scenario" {
			runs = append(runs, e)
		}
	}
	return runs
}
