package agent

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// leaveJournal writes the journal a killed agent of experiment id leaves: one noop
// object per target, deadline passed.
func leaveJournal(t *testing.T, dir, id string, targets int, failRecover bool) {
	t.Helper()
	for i := 0; i < targets; i++ {
		tg := plan.Target{Namespace: "ns", Pod: fmt.Sprintf("web-%d", i), Container: "app"}
		j, err := journal.Create(dir, journal.Meta{Experiment: id, Deadline: time.Now().Add(-time.Minute)}, tg)
		if err != nil {
			t.Fatal(err)
		}
		d, _ := json.Marshal(map[string]any{"target": tg.String(), "failRecover": failRecover})
		if err := j.Record(journal.Entry{Type: noop.EntryType, Data: d, Object: noop.Object(tg)}); err != nil {
			t.Fatal(err)
		}
	}
}

// sweepRun runs `agent --sweep-only` over dir on "node-1" and returns its error, its
// stdout and the termination message it left.
func sweepRun(t *testing.T, dir string) (error, string, *plan.SweepResult) {
	t.Helper()
	tlog := filepath.Join(t.TempDir(), "termination-log")
	err, out, _ := run(t, "", "", func(o *Options) {
		o.SweepOnly, o.JournalDir, o.TerminationLog = true, dir, tlog
		o.Getenv = func(k string) string {
			if k == "NODE_NAME" {
				return "node-1"
			}
			return ""
		}
	})
	b, rerr := os.ReadFile(tlog)
	if rerr != nil {
		t.Fatalf("no termination message: %v", rerr)
	}
	if len(b) > agent.MaxResultBytes {
		t.Errorf("termination message %d bytes, limit %d", len(b), agent.MaxResultBytes)
	}
	var res plan.SweepResult
	if jerr := json.Unmarshal(b, &res); jerr != nil {
		t.Fatalf("termination message %q: %v", b, jerr)
	}
	return err, out.String(), &res
}

func TestSweepRemovesAndReports(t *testing.T) {
	dir := t.TempDir()
	leaveJournal(t, dir, "chaos-dead", 2, false)
	err, out, res := sweepRun(t, dir)
	if err != nil {
		t.Fatal(err)
	}
	if res.Node != "node-1" || len(res.Swept) != 1 || !res.OK() {
		t.Fatalf("result %+v", res)
	}
	s := res.Swept[0]
	if s.Experiment != "chaos-dead" || s.Reason != journal.SweepDeadline || s.Files != 2 || len(s.Removed) != 2 ||
		s.Removed[0].Spec != "nothing on ns/web-0/app" {
		t.Errorf("swept %+v", s)
	}
	if !strings.Contains(out, `"experiment":"chaos-dead"`) {
		t.Errorf("stdout (the pod log) lacks the swept journal: %q", out)
	}
	if left, _ := os.ReadDir(dir); len(left) != 0 {
		t.Errorf("journal directory not emptied: %v", left)
	}
	// Nothing left: an empty result, still written, so gc knows the sweep ran.
	err, _, res = sweepRun(t, dir)
	if err != nil || len(res.Swept) != 0 || res.Node != "node-1" {
		t.Errorf("second sweep: %v %+v", err, res)
	}
}

func TestSweepFailureExits3(t *testing.T) {
	dir := t.TempDir()
	leaveJournal(t, dir, "chaos-stuck", 1, true)
	err, _, res := sweepRun(t, dir)
	if exit.Code(err) != exit.Fault {
		t.Fatalf("exit %d (%v), want %d", exit.Code(err), err, exit.Fault)
	}
	if res.OK() || len(res.Swept) != 1 || !strings.Contains(res.Swept[0].Error, "failRecover") || res.Error == "" {
		t.Errorf("result %+v", res)
	}
}

func TestEncodeSweepResultFits(t *testing.T) {
	res := &plan.SweepResult{Node: "n", Error: strings.Repeat("e", 5000)}
	for i := 0; i < 40; i++ {
		s := plan.SweptJournal{Experiment: fmt.Sprintf("chaos-%08d", i), Reason: "helper-gone", Files: 3, Error: strings.Repeat("x", 300)}
		for j := 0; j < 20; j++ {
			s.Removed = append(s.Removed, plan.Object{Kind: "qdisc", Interface: "eth0", Netns: "net:[4026532000]",
				Spec: "tbf rate 10mbit burst 32kb latency 50ms handle 4b43: root", Remove: "tc qdisc del dev eth0 handle 4b43: root"})
		}
		res.Swept = append(res.Swept, s)
	}
	b := EncodeSweepResult(res)
	if len(b) > agent.MaxResultBytes {
		t.Fatalf("%d bytes", len(b))
	}
	var got plan.SweepResult
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if got.OK() || len(got.Swept) == 0 || !strings.Contains(got.Error, "omitted") {
		t.Errorf("shortened result lost the failure or the count: %+v", got)
	}
	// A small result is kept whole.
	small := &plan.SweepResult{Node: "n", Swept: []plan.SweptJournal{res.Swept[0]}}
	small.Swept[0].Removed = small.Swept[0].Removed[:3]
	small.Swept[0].Error = ""
	if b := EncodeSweepResult(small); !strings.Contains(string(b), "tc qdisc del dev eth0") {
		t.Errorf("small result shortened: %s", b)
	}
}
