package experiment

import (
	"fmt"
	"io"
	"log/slog"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// podEvents are one experiment's Kubernetes Events on its target pods (internal/
// podevents): written in the background, so the fault never waits for them.
type podEvents struct {
	rec     *podevents.Recorder
	exp     podevents.Experiment
	oneShot bool
	// targets by the name the agent's events and results use: namespace/pod/container,
	// or namespace/pod for an API-only fault (the change is the pod's).
	targets map[string]podevents.Target
}

// newPodEvents starts the Recorder unless --events=false (or no client to write with).
func (o *Options) newPodEvents(p *Prepared, apiOnly, oneShot bool) *podEvents {
	pe := &podEvents{exp: podevents.Experiment{ID: p.ID, Owner: p.Owner, Fault: p.Fault.Summary()}, oneShot: oneShot,
		targets: map[string]podevents.Target{}}
	if !o.Events || o.EventClient == nil {
		return pe
	}
	c, err := o.EventClient()
	if err != nil {
		fmt.Fprintf(o.IO.ErrOut, "warning: no Kubernetes Events on the target pods: %v\n", err)
		return pe
	}
	for _, t := range p.Selection.Targets {
		pt := podevents.Target{Namespace: t.Namespace, Pod: t.Pod, UID: t.PodUID, Container: t.Container}
		if apiOnly {
			pt.Container = ""
			pe.targets[t.Namespace+"/"+t.Pod] = pt
			continue
		}
		pe.targets[t.String()] = pt
	}
	pe.rec = podevents.New(c, podevents.Options{})
	return pe
}

// event records what one agent (or API-run) event says of its target.
func (pe *podEvents) event(e plan.Event) {
	if pe.rec == nil {
		return
	}
	t, ok := pe.targets[e.Target]
	if !ok {
		return
	}
	switch e.Type {
	case plan.EventInjected:
		pe.rec.Record(podevents.ReasonInjected, pe.exp, t, e.Time, "")
	case plan.EventRecovered:
		if !pe.oneShot {
			pe.rec.Record(podevents.ReasonRecovered, pe.exp, t, e.Time, "")
		}
	case plan.EventError:
		pe.rec.Record(podevents.ReasonFailed, pe.exp, t, e.Time, e.Error)
	}
}

// report records what the final report says and the event stream may not have carried
// (what an agent said before the attach was up, a result read from the termination
// message); what was recorded already is not recorded twice.
func (pe *podEvents) report(rep *session.Report) {
	if pe.rec == nil || rep == nil {
		return
	}
	for _, n := range rep.Nodes {
		if n.Result == nil {
			continue
		}
		for _, tr := range n.Result.Targets {
			t, ok := pe.targets[tr.Target]
			if !ok {
				continue
			}
			for _, ev := range podevents.ResultEvents(tr, pe.oneShot) {
				pe.rec.Record(ev.Reason, pe.exp, t, ev.At, ev.Detail)
			}
		}
	}
}

// close flushes the Events (bounded) and warns about those not written.
func (pe *podEvents) close(w io.Writer) {
	if pe.rec == nil {
		return
	}
	st := pe.rec.Close(podevents.DefaultFlush)
	slog.Debug("kubernetes events on target pods", "experiment", pe.exp.ID, "queued", st.Queued, "written", st.Written,
		"dropped", st.Dropped, "failed", st.Failed)
	if msg := st.Warning(); msg != "" {
		fmt.Fprintln(w, msg+"; the fault itself was not affected")
	}
}

// markEventsOff notes --events=false on the helper pods, so ls and gc, which write the
// Events a dead CLI could not, write none for this experiment either.
func markEventsOff(pods []*corev1.Pod) {
	for _, p := range pods {
		if p.Annotations == nil {
			p.Annotations = map[string]string{}
		}
		p.Annotations[podevents.AnnotationEvents] = podevents.EventsOff
	}
}
