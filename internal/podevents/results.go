package podevents

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Values of AnnotationEvents on a helper pod.
const (
	EventsOff     = "off"     // the experiment ran with --events=false
	EventsWritten = "written" // ls wrote the Events of the helper's result
)

// Pending is a helper whose result's Events are to be written: once all are written,
// Write notes it on the pod so the next ls does not write them again.
type Pending struct {
	Helper session.HelperState
	Exp    Experiment
	Events []PendingEvent
}

// PendingEvent is one Event of a Pending helper.
type PendingEvent struct {
	ResultEvent
	Target Target
}

// FromHelpers returns, for each helper pod that ended with a result, the Events of that
// result: injected, recovered, and failed for a target not recovered (or not injected,
// with an error). The CLI writes these as they happen; when it died (kill -9, a closed
// laptop) or ran detached, the next ls or gc that reads the helpers' results writes
// them. Names are deterministic, so what the CLI wrote is not written twice. Helpers of
// an experiment run with --events=false, and those ls already wrote, are skipped.
func FromHelpers(helpers []session.HelperState) []Pending {
	var out []Pending
	for _, h := range helpers {
		// Only a pod that ended for good (or whose agent ended in a pod being deleted): a
		// container that exited non-zero is restarted (restartPolicy OnFailure), and the
		// next agent's result is the one that counts.
		final := h.Phase == "Succeeded" || h.Phase == "Failed" || (h.Terminated && h.Deleting)
		if h.Result == nil || h.Plan == nil || !final {
			continue
		}
		if a := h.Annotations[AnnotationEvents]; a == EventsOff || a == EventsWritten {
			continue
		}
		if h.Plan.Serve {
			out = append(out, fromServing(h)...)
			continue
		}
		p := Pending{Helper: h, Exp: Experiment{ID: h.Plan.Experiment, Owner: h.Plan.Owner, Fault: h.Plan.Fault.Summary()}}
		for _, tr := range h.Result.Targets {
			t, ok := targetOf(h.Plan, tr.Target)
			if !ok {
				continue
			}
			for _, ev := range ResultEvents(tr, h.Result.Reason == plan.ReasonDone) {
				p.Events = append(p.Events, PendingEvent{ResultEvent: ev, Target: t})
			}
		}
		if len(p.Events) > 0 {
			out = append(out, p)
		}
	}
	return out
}

// fromServing is FromHelpers for a helper of kubectl chaos run: its plan has no
// targets (each step's plan came over stdin), its result those of every step, each
// tagged with its step's experiment ID and pod UID. One Pending per step, under the
// step's ID, as the CLI writes them (so what it wrote is not written twice); the
// fault is named by the run, the step's own plan being gone with the CLI.
func fromServing(h session.HelperState) []Pending {
	var out []Pending
	by := map[string]int{}
	for _, tr := range h.Result.Targets {
		t, ok := targetOfName(tr.Target, tr.PodUID)
		if !ok || tr.Step == "" {
			continue
		}
		i, seen := by[tr.Step]
		if !seen {
			i = len(out)
			by[tr.Step] = i
			out = append(out, Pending{Helper: h, Exp: Experiment{ID: tr.Step, Owner: h.Plan.Owner,
				Fault: "a step of kubectl chaos run " + h.Plan.Experiment}})
		}
		for _, ev := range ResultEvents(tr, false) {
			out[i].Events = append(out[i].Events, PendingEvent{ResultEvent: ev, Target: t})
		}
	}
	return out
}

// targetOfName reads a target result's name (namespace/pod/container).
func targetOfName(name, uid string) (Target, bool) {
	parts := strings.Split(name, "/")
	if len(parts) != 3 || parts[0] == "" || parts[1] == "" {
		return Target{}, false
	}
	return Target{Namespace: parts[0], Pod: parts[1], UID: uid, Container: parts[2]}, true
}

// FromExperiments is FromHelpers over every helper of exps.
func FromExperiments(exps []session.Experiment) []Pending {
	var hs []session.HelperState
	for _, e := range exps {
		hs = append(hs, e.Helpers...)
	}
	return FromHelpers(hs)
}

// Write writes the pending Events through events (waiting at most flush), then notes
// on each helper pod whose Events were all written that they were (through pods), so
// the next ls skips it. Noting is best effort: a helper already gone, or a user who may
// not patch pods, only costs the next ls the same requests, answered AlreadyExists.
func Write(ctx context.Context, events, pods kubernetes.Interface, pending []Pending, flush time.Duration) Stats {
	if len(pending) == 0 {
		return Stats{}
	}
	rec := New(events, Options{})
	for _, p := range pending {
		for _, ev := range p.Events {
			rec.Record(ev.Reason, p.Exp, ev.Target, ev.At, ev.Detail)
		}
	}
	st := rec.Close(flush)
	patch, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": map[string]string{AnnotationEvents: EventsWritten}}})
	// A helper of kubectl chaos run has one Pending per step: it is noted once all are.
	all := map[string]bool{}
	for _, p := range pending {
		key := p.Helper.Namespace + "/" + p.Helper.Pod
		if _, seen := all[key]; !seen {
			all[key] = true
		}
		for _, ev := range p.Events {
			all[key] = all[key] && rec.Written(ev.Reason, p.Exp, ev.Target)
		}
	}
	noted := map[string]bool{}
	for _, p := range pending {
		key := p.Helper.Namespace + "/" + p.Helper.Pod
		if !all[key] || noted[key] || p.Helper.Deleting {
			continue
		}
		noted[key] = true
		_, err := pods.CoreV1().Pods(p.Helper.Namespace).Patch(ctx, p.Helper.Pod, types.MergePatchType, patch, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			slog.Debug("noting on a helper pod that its Events were written", "pod", p.Helper.Namespace+"/"+p.Helper.Pod, "err", err)
		}
	}
	return st
}

// ResultEvent is one Event a target's final result stands for.
type ResultEvent struct {
	Reason, Detail string
	At             time.Time
}

// ResultEvents are the Events of one target's final result: injected; then recovered,
// or failed when it was not recovered (or not injected, with an error). A one-shot
// fault (a kill) has nothing to recover: no recovered Event.
func ResultEvents(tr plan.TargetResult, oneShot bool) []ResultEvent {
	var out []ResultEvent
	if tr.Injected {
		out = append(out, ResultEvent{Reason: ReasonInjected, At: tr.InjectedAt})
	}
	switch {
	case tr.Injected && tr.Recovered:
		if !oneShot {
			out = append(out, ResultEvent{Reason: ReasonRecovered, At: tr.RecoveredAt})
		}
	case tr.Injected:
		out = append(out, ResultEvent{Reason: ReasonFailed, Detail: "not recovered: " + orDefault(tr.Error, "the agent ended without recovering it; kubectl chaos gc sweeps the node's journal")})
	case tr.Error != "":
		out = append(out, ResultEvent{Reason: ReasonFailed, Detail: tr.Error})
	}
	return out
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

// targetOf finds the plan's target named name (namespace/pod/container).
func targetOf(pl *plan.Plan, name string) (Target, bool) {
	for _, t := range pl.Targets {
		if t.String() == name {
			return Target{Namespace: t.Namespace, Pod: t.Pod, UID: t.PodUID, Container: t.Container}, true
		}
	}
	return Target{}, false
}

// LateFlagUsage is the help of ls's and gc's --events (stop says it its way).
const LateFlagUsage = "Write the Kubernetes Events of ended helpers whose CLI could not (it died, or ran detached): injected, recovered, failed"

// WriteLate is Write for ls and gc, after their own work: what the user asked for is
// already printed, the Events take at most DefaultFlush more, and a loss is a warning.
func WriteLate(ctx context.Context, w io.Writer, events func() (kubernetes.Interface, error), pods kubernetes.Interface, pending []Pending) {
	if len(pending) == 0 || events == nil {
		return
	}
	c, err := events()
	if err != nil {
		fmt.Fprintf(w, "warning: the Events of ended experiments were not written: %v\n", err)
		return
	}
	st := Write(context.WithoutCancel(ctx), c, pods, pending, DefaultFlush)
	if msg := st.Warning(); msg != "" {
		fmt.Fprintln(w, msg)
	}
}
