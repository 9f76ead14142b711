package experiment

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func TestFormatEvent(t *testing.T) {
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.Local)
	tests := []struct {
		e    plan.Event
		want string
	}{
		{plan.Event{Time: at, Type: plan.EventInjected, Node: "n1", Target: "ns/p/c", Objects: make([]plan.Object, 2), Elapsed: plan.Duration(1500 * time.Microsecond)},
			"03:04:05 n1 injected ns/p/c [2 objects] in 1.5ms"},
		{plan.Event{Time: at, Type: plan.EventRecovered, Node: "n1", Target: "ns/p/c", Objects: []plan.Object{{Kind: "process", Spec: "stressor pid 7 held 256Mi"}}},
			"03:04:05 n1 recovered ns/p/c [1 object]\n    process: stressor pid 7 held 256Mi"},
		{plan.Event{Time: at, Type: plan.EventError, Node: "n1", Target: "ns/p/c", Error: "no such container"},
			"03:04:05 n1 error ns/p/c: no such container"},
		{plan.Event{Time: at, Type: plan.EventExit, Node: "n2", Reason: plan.ReasonDeadline, Restart: 1},
			"03:04:05 n2 exit (reason deadline) (restart 1)"},
	}
	for _, tt := range tests {
		if got := FormatEvent(tt.e, nil); got != tt.want {
			t.Errorf("FormatEvent = %q, want %q", got, tt.want)
		}
	}
}

func TestPrintReportHuman(t *testing.T) {
	io, _, out, _ := ui.Test()
	rep := &session.Report{Experiment: "chaos-x", Fault: "network loss 10%", Reason: "failed", Nodes: []session.NodeReport{
		{Node: "n1", Pod: "chaos-x-n1", InjectLatency: plan.Duration(12 * time.Millisecond), Result: &plan.Result{Targets: []plan.TargetResult{
			{Target: "ns/a/c", Injected: true, Recovered: true},
			{Target: "ns/b/c", Injected: false, Error: "container not found\non node"},
		}}},
		{Node: "n2", Pod: "chaos-x-n2", Error: "ImagePullBackOff: pull access denied"},
	}}
	if err := PrintReport(io, "", rep); err != nil {
		t.Fatal(err)
	}
	got := out.String()
	for _, want := range []string{
		"experiment chaos-x: failed (network loss 10%)",
		"n1    ns/a/c  yes       yes        12ms",
		"n1    ns/b/c  no        no         12ms    -        container not found on node",
		"n2    -       -         -          -       -        ImagePullBackOff: pull access denied",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("report lacks %q:\n%s", want, got)
		}
	}
}
