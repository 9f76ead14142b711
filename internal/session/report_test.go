package session

import (
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// classify: how each helper ended, and how the loop ended the session, give the
// report's reason and the exit code.
func TestClassify(t *testing.T) {
	t0 := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	stop := t0.Add(10 * time.Second)
	const tg = "default/web-1/app"
	clean := func(reason string) *plan.Result {
		return &plan.Result{Reason: reason, Targets: []plan.TargetResult{{Target: tg, Injected: true, Recovered: true}}}
	}
	helper := func(res *plan.Result, mod ...func(*outcome)) outcome {
		o := outcome{Name: "exp-node-a", Node: "node-a", Targets: []string{tg}, Result: res}
		for _, m := range mod {
			m(&o)
		}
		return o
	}
	stopped := func(o *outcome) { o.StopAt = stop }
	for _, tc := range []struct {
		name    string
		loop    string
		fatal   []string
		helpers []outcome
		reason  string
		code    int
		want    []string // substrings of the error
	}{
		{name: "deadline reached, all recovered", loop: ReasonCompleted,
			helpers: []outcome{helper(clean(plan.ReasonDeadline)), helper(clean(plan.ReasonDeadline))},
			reason:  ReasonCompleted, code: exit.OK},
		{name: "Ctrl-C, all recovered", loop: ReasonInterrupted,
			helpers: []outcome{helper(clean(plan.ReasonStopped), stopped)},
			reason:  ReasonInterrupted, code: exit.Interrupted, want: []string{"experiment exp-1 interrupted", "recovered and was removed"}},
		{name: "target error while running", loop: ReasonCompleted,
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonDeadline, Error: "apply failed",
				Targets: []plan.TargetResult{{Target: tg, Error: "no such device eth9"}}})},
			reason: ReasonFailed, code: exit.Fault, want: []string{tg + " (node node-a): no such device eth9"}},
		{name: "injected, recovery not confirmed", loop: ReasonCompleted,
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonDeadline, Targets: []plan.TargetResult{{Target: tg, Injected: true}}})},
			reason:  ReasonFailed, code: exit.Fault, want: []string{"injected, recovery not confirmed"}},
		{name: "recovered event stands in for the result", loop: ReasonCompleted,
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonDeadline, Targets: []plan.TargetResult{{Target: tg, Injected: true}}},
				func(o *outcome) { o.Recovered = map[string]bool{tg: true} })},
			reason: ReasonCompleted, code: exit.OK},
		{name: "never injected, no result", loop: ReasonCompleted,
			helpers: []outcome{helper(nil, func(o *outcome) { o.Err = "helper pod failed: Evicted" })},
			reason:  ReasonFailed, code: exit.Fault, want: []string{"fault not applied on " + tg + " (node node-a): not injected: helper pod failed: Evicted"}},
		{name: "apply cut short by the stop", loop: ReasonInterrupted,
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonStopped, Targets: []plan.TargetResult{{Target: tg, Error: "context canceled"}}},
				stopped, func(o *outcome) { o.ErrAt = map[string]time.Time{tg: stop.Add(time.Second)} })},
			reason: ReasonInterrupted, code: exit.Interrupted},
		{name: "error before the stop is genuine", loop: ReasonInterrupted,
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonStopped, Targets: []plan.TargetResult{{Target: tg, Error: "EPERM"}}},
				stopped, func(o *outcome) { o.ErrAt = map[string]time.Time{tg: stop.Add(-time.Second)} })},
			reason: ReasonInterrupted, code: exit.Fault, want: []string{"EPERM"}},
		{name: "agent-level error without targets", loop: ReasonCompleted,
			helpers: []outcome{{Name: "exp-node-a", Node: "node-a", Result: &plan.Result{Reason: plan.ReasonDeadline, Error: "journal: read-only file system"}}},
			reason:  ReasonFailed, code: exit.Fault, want: []string{"node node-a: journal: read-only file system"}},
		{name: "cluster error", loop: ReasonFailed, fatal: []string{"could not attach to helper pod x after 3 tries"},
			helpers: []outcome{helper(clean(plan.ReasonStopped), stopped)},
			reason:  ReasonFailed, code: exit.API, want: []string{"after 3 tries"}},
		{name: "a fault failure outranks a cluster error", loop: ReasonFailed, fatal: []string{"watch failed"},
			helpers: []outcome{helper(&plan.Result{Reason: plan.ReasonStopped, Targets: []plan.TargetResult{{Target: tg, Injected: true}}}, stopped)},
			reason:  ReasonFailed, code: exit.Fault, want: []string{"recovery not confirmed"}},
		{name: "helper deleted from outside", loop: ReasonCompleted,
			helpers: []outcome{helper(clean(plan.ReasonSignal)), helper(clean(plan.ReasonDeadline))},
			reason:  ReasonInterrupted, code: exit.Interrupted, want: []string{"from outside this session", "exp-node-a on node node-a (signal)"}},
		{name: "stream lost: EOF result", loop: ReasonCompleted,
			helpers: []outcome{helper(clean(plan.ReasonEOF), func(o *outcome) { o.Name = "exp-b" }), helper(clean(plan.ReasonEOF))},
			reason:  ReasonCompleted, code: exit.API, want: []string{"lost the attach stream to exp-b, exp-node-a before the deadline"}},
		{name: "stream lost, no result", loop: ReasonCompleted,
			helpers: []outcome{helper(nil, func(o *outcome) {
				o.StreamLostAt = stop
				o.Injected, o.Recovered = map[string]bool{tg: true}, map[string]bool{tg: true}
			})},
			reason: ReasonCompleted, code: exit.API, want: []string{"lost the attach stream to exp-node-a"}},
		{name: "stop asked: an EOF result is not a lost stream", loop: ReasonInterrupted,
			helpers: []outcome{helper(clean(plan.ReasonEOF), stopped)},
			reason:  ReasonInterrupted, code: exit.Interrupted},
		{name: "targets from the result when there is no plan", loop: ReasonCompleted,
			helpers: []outcome{{Name: "exp-node-a", Node: "node-a", Result: &plan.Result{Reason: plan.ReasonDeadline,
				Targets: []plan.TargetResult{{Target: tg, Injected: true, Recovered: true}}}, Targets: []string{tg}}},
			reason: ReasonCompleted, code: exit.OK},
	} {
		t.Run(tc.name, func(t *testing.T) {
			reason, err := classify("exp-1", tc.loop, tc.fatal, tc.helpers)
			if reason != tc.reason || exit.Code(err) != tc.code {
				t.Fatalf("classify = %q, exit %d (%v); want %q, exit %d", reason, exit.Code(err), err, tc.reason, tc.code)
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error %v lacks %q", err, w)
				}
			}
		})
	}
}

// The helper's outcome names its targets from the plan, else from the result.
func TestOutcomeTargets(t *testing.T) {
	pl := &plan.Plan{Targets: []plan.Target{{Namespace: "default", Pod: "web-1", Container: "app"}}}
	h := &helper{name: "h", node: "n", plan: pl}
	if got := h.outcome().Targets; len(got) != 1 || got[0] != "default/web-1/app" {
		t.Errorf("targets from the plan: %v", got)
	}
	h = &helper{name: "h", node: "n", result: &plan.Result{Targets: []plan.TargetResult{{Target: "default/web-2/app"}}}}
	if got := h.outcome().Targets; len(got) != 1 || got[0] != "default/web-2/app" {
		t.Errorf("targets from the result: %v", got)
	}
}
