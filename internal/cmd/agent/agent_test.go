package agent

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	goruntime "runtime"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func noopPlan(n plan.Noop, detached bool, d time.Duration) string {
	p := &plan.Plan{Version: plan.Version, Experiment: "exp-cmd", Node: "n1", CreatedAt: time.Now(),
		Deadline: time.Now().Add(d), Detached: detached, Fault: plan.Fault{Kind: plan.KindNoop, Noop: &n},
		Targets: []plan.Target{{Namespace: "ns", Pod: "p", Container: "c", ContainerID: "containerd://" + strings.Repeat("a", 64)}}}
	s, _ := p.Encode()
	return s
}

func run(t *testing.T, planJSON, stdin string, mod func(*Options)) (error, *bytes.Buffer, *plan.Result) {
	t.Helper()
	if goruntime.GOOS != "linux" {
		t.Skip("the agent runs on Linux only")
	}
	var out, errb bytes.Buffer
	tlog := filepath.Join(t.TempDir(), "termination-log")
	o := &Options{
		TerminationLog: tlog, JournalDir: t.TempDir(), ProcRoot: t.TempDir(),
		Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb,
		Getenv: func(k string) string {
			if k == plan.EnvVar {
				return planJSON
			}
			return ""
		},
	}
	if mod != nil {
		mod(o)
	}
	err := Run(context.Background(), o)
	var res *plan.Result
	if b, rerr := os.ReadFile(tlog); rerr == nil {
		res = &plan.Result{}
		if jerr := json.Unmarshal(b, res); jerr != nil {
			t.Fatalf("termination log %q: %v", b, jerr)
		}
	}
	return err, &out, res
}

func TestRunExitCodes(t *testing.T) {
	cases := []struct {
		name   string
		plan   string
		stdin  string
		code   int
		reason string
	}{
		{"no plan", "", "", exit.Usage, ""},
		{"bad json", "{", "", exit.Usage, ""},
		{"bad version", `{"version":99,"experiment":"e","deadline":"2030-01-01T00:00:00Z","fault":{"kind":"noop"}}`, "", exit.Usage, plan.ReasonFailed},
		{"noop EOF", noopPlan(plan.Noop{}, false, time.Minute), "heartbeat\n", exit.OK, plan.ReasonEOF},
		{"noop stop", noopPlan(plan.Noop{}, false, time.Minute), "heartbeat\nstop\n", exit.OK, plan.ReasonStopped},
		{"apply fails: nothing left, no restart", noopPlan(plan.Noop{FailApply: true}, false, time.Minute), "heartbeat\n", exit.OK, plan.ReasonFailed},
		{"recover fails: restart", noopPlan(plan.Noop{FailRecover: true}, false, time.Minute), "heartbeat\n", exit.Fault, plan.ReasonEOF},
		{"no operator: EOF before the first heartbeat, nothing injected", noopPlan(plan.Noop{FailApply: true}, false, time.Minute), "", exit.OK, plan.ReasonEOF},
		{"detached ignores stdin", noopPlan(plan.Noop{}, true, 300*time.Millisecond), "stop\n", exit.OK, plan.ReasonDeadline},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err, out, res := run(t, c.plan, c.stdin, nil)
			if got := exit.Code(err); got != c.code {
				t.Fatalf("exit code %d (%v), want %d", got, err, c.code)
			}
			if c.reason == "" {
				return
			}
			if res == nil || res.Reason != c.reason {
				t.Fatalf("result %+v, want reason %s", res, c.reason)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			var first, last plan.Event
			json.Unmarshal([]byte(lines[0]), &first)
			json.Unmarshal([]byte(lines[len(lines)-1]), &last)
			if first.Type != plan.EventStarted || last.Type != plan.EventExit || last.Reason != c.reason {
				t.Fatalf("events %s … %s(%s)", first.Type, last.Type, last.Reason)
			}
		})
	}
}

func TestPlanFile(t *testing.T) {
	f := filepath.Join(t.TempDir(), "plan.json")
	os.WriteFile(f, []byte(noopPlan(plan.Noop{}, false, time.Minute)), 0o600)
	err, _, res := run(t, "", "", func(o *Options) { o.PlanFile = f })
	if err != nil || res == nil || res.Reason != plan.ReasonEOF {
		t.Fatalf("err %v res %+v", err, res)
	}
	err, _, _ = run(t, "", "", func(o *Options) { o.PlanFile = f + ".missing" })
	if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), "--plan-file") {
		t.Fatalf("err %v", err)
	}
}

func TestSweepOnlyEmpty(t *testing.T) {
	err, out, res := sweepRun(t, t.TempDir())
	if err != nil || out != "" || res == nil || len(res.Swept) != 0 {
		t.Fatalf("err %v out %q res %v", err, out, res)
	}
}

func TestNewCmdFlags(t *testing.T) {
	cmd := NewCmd()
	if !cmd.Hidden || cmd.Use != "agent" {
		t.Fatal("agent command must be hidden")
	}
	for _, f := range []string{"plan-file", "termination-log", "journal-dir", "proc-root", "sweep-only"} {
		if cmd.Flags().Lookup(f) == nil {
			t.Errorf("flag --%s missing", f)
		}
	}
	if def := cmd.Flags().Lookup("termination-log").DefValue; def != "/dev/termination-log" {
		t.Errorf("--termination-log default %q", def)
	}
}
