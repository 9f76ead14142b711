package session

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"slices"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// StepOptions for Pool.Step.
type StepOptions struct {
	// Plans are the step's experiment, one plan per node (experiment.Prepared.Plans).
	Plans    []*plan.Plan
	Events   func(plan.Event) // each of the step's events as it arrives (nil: drop)
	Progress io.Writer        // nil: none
}

// stepEvent is one piece of news for a step: an event of its own from a node, or a
// helper that ended (gone) or restarted.
type stepEvent struct {
	node      string
	ev        plan.Event
	at        time.Time
	gone      string
	restarted bool
}

// poolStep is one step on the pool: the loop puts its news in, Step takes it out.
type poolStep struct {
	id    string
	nodes map[string]bool // the step's nodes (loop's goroutine): their heartbeat lines
	mu    sync.Mutex
	inbox []stepEvent
	wake  chan struct{}
}

func (st *poolStep) put(e stepEvent) {
	st.mu.Lock()
	st.inbox = append(st.inbox, e)
	st.mu.Unlock()
	select {
	case st.wake <- struct{}{}:
	default:
	}
}

func (st *poolStep) take() []stepEvent {
	st.mu.Lock()
	defer st.mu.Unlock()
	out := st.inbox
	st.inbox = nil
	return out
}

// stepNode is the step's view of one node, in the shape of a helper so the report and
// its classification are a session's.
type stepNode struct {
	h     *helper
	seen  bool      // an event of the step came from this node
	ended bool      // the agent said the step's end, or the helper is gone
	limit time.Time // the node's end is due by then (a helper restarted; a stop sent)
}

// Step runs one step's experiment on the run's helpers: a plan line to the helper of
// each node (created if the node has none yet), then the step's events until every
// node said the step ended (at its deadline, which the agent enforces). ctx cancelled
// (abortOn, Ctrl-C) sends "stop STEP" and waits, bounded, for the recovery. The report
// and error are those of a session of one experiment.
func (p *Pool) Step(ctx context.Context, so StepOptions) (*Report, error) {
	if so.Events == nil {
		so.Events = func(plan.Event) {}
	}
	if so.Progress == nil {
		so.Progress = io.Discard
	}
	start := time.Now()
	if len(so.Plans) == 0 {
		return nil, exit.Usagef("session: a step without plans")
	}
	st := &poolStep{id: so.Plans[0].Experiment, wake: make(chan struct{}, 1), nodes: map[string]bool{}}
	nodes := map[string]*stepNode{}
	var order []string
	var fatal []string
	ok := p.call(func(r *runner) { fatal = r.startStep(st, so.Plans, nodes, &order) })
	if !ok {
		fatal = append(fatal, "the run's helpers are gone")
	}
	w := &stepWait{p: p, st: st, so: so, start: start, nodes: nodes}
	w.run(ctx)
	p.call(func(r *runner) { delete(r.serve.steps, st.id) })

	reason := ReasonCompleted
	if !w.stopAt.IsZero() {
		reason = ReasonInterrupted
	}
	outs := make([]outcome, 0, len(order))
	rep := &Report{Experiment: st.id, Fault: so.Plans[0].Fault.Summary(), StartedAt: start}
	for _, node := range order {
		h := nodes[node].h
		h.fillReport(start)
		outs = append(outs, h.outcome())
		rep.Nodes = append(rep.Nodes, *h.report)
	}
	rep.Reason, w.err = classify(st.id, reason, append(fatal, w.fatal...), outs)
	rep.EndedAt = time.Now()
	fmt.Fprintf(so.Progress, "experiment %s %s (on the run's helpers)\n", st.id, rep.Reason)
	return rep, w.err
}

// startStep (on the loop's goroutine) registers the step, finds or creates the helper
// of each plan's node and queues its plan line. It returns the nodes it could not use.
func (r *runner) startStep(st *poolStep, plans []*plan.Plan, nodes map[string]*stepNode, order *[]string) []string {
	var fatal []string
	r.serve.steps[st.id] = st
	for _, pl := range plans {
		cp := *pl
		if cp.Deadline.After(r.serve.base.Deadline) {
			cp.Deadline = r.serve.base.Deadline // the run ends first anyway
		}
		sh := newStepHelper(&cp)
		nodes[cp.Node] = sh
		st.nodes[cp.Node] = true
		*order = append(*order, cp.Node)
		h, err := r.helperFor(cp.Node)
		if err == nil {
			if _, err = json.Marshal(&cp); err == nil {
				sh.h.name, sh.h.report.Pod = h.name, h.name
				r.serve.queue(h, &cp)
			}
		}
		if err != nil {
			sh.ended = true
			sh.h.err = err.Error()
			fatal = append(fatal, fmt.Sprintf("node %s: %v", cp.Node, err))
		}
	}
	return fatal
}

// newStepHelper is the step's view of one node.
func newStepHelper(pl *plan.Plan) *stepNode {
	h := &helper{node: pl.Node, plan: pl, injected: map[string]bool{}, recovered: map[string]bool{}, errAt: map[string]time.Time{}}
	h.report = &NodeReport{Node: pl.Node}
	return &stepNode{h: h}
}

// stepWait follows one step until every node said its end.
type stepWait struct {
	p      *Pool
	st     *poolStep
	so     StepOptions
	start  time.Time
	nodes  map[string]*stepNode
	stopAt time.Time
	fatal  []string
	err    error
	active map[string]bool // node/target the step's fault is active on (said once each)
}

func (w *stepWait) run(ctx context.Context) {
	ready := time.NewTimer(w.p.r.o.ReadyTimeout)
	defer ready.Stop()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	done := ctx.Done()
	for !w.allEnded() {
		select {
		case <-w.st.wake:
			for _, e := range w.st.take() {
				w.take(e)
			}
		case <-done:
			done = nil
			w.stop()
		case <-ready.C:
			for node, n := range w.nodes {
				if !n.seen && !n.ended {
					w.end(n, fmt.Sprintf("node %s: the run's helper did not take the step within %s; see kubectl chaos ls", node, w.p.r.o.ReadyTimeout))
				}
			}
		case <-tick.C:
			for node, n := range w.nodes {
				if !n.ended && !n.limit.IsZero() && time.Now().After(n.limit) {
					w.end(n, fmt.Sprintf("node %s: no word of the step's end from the run's helper in time", node))
				}
			}
		case <-w.p.ended:
			for node, n := range w.nodes {
				if !n.ended {
					w.end(n, fmt.Sprintf("node %s: the run's helpers are gone", node))
				}
			}
		}
	}
}

func (w *stepWait) allEnded() bool {
	for _, n := range w.nodes {
		if !n.ended {
			return false
		}
	}
	return true
}

// end ends a node's part of the step with a session-side error.
func (w *stepWait) end(n *stepNode, msg string) {
	n.ended = true
	n.h.err = msg
	w.fatal = append(w.fatal, msg)
}

// stop asks every node to stop the step; a plan line not sent yet is taken back.
func (w *stepWait) stop() {
	w.stopAt = time.Now()
	var unsent []string
	w.p.call(func(r *runner) {
		for _, h := range r.helpers {
			n := w.nodes[h.node]
			if n == nil || n.ended {
				continue
			}
			n.h.stopAt = w.stopAt
			n.limit = w.stopAt.Add(r.o.StopTimeout)
			lines := r.serve.pending[h]
			if i := slices.IndexFunc(lines, func(q queuedLine) bool { return q.pl != nil && q.pl.Experiment == w.st.id }); i >= 0 {
				r.serve.pending[h] = slices.Delete(lines, i, i+1)
				unsent = append(unsent, h.node)
				continue
			}
			r.serve.queueStop(h, w.st.id)
		}
		r.serveTick()
	})
	for _, node := range unsent {
		w.nodes[node].ended = true // nothing reached that helper
	}
}

// take takes in one piece of news: what a session's onEvent does for an experiment's
// events, per node.
func (w *stepWait) take(e stepEvent) {
	n := w.nodes[e.node]
	if n == nil || n.ended {
		return
	}
	switch {
	case e.gone != "":
		w.end(n, fmt.Sprintf("node %s: %s", e.node, e.gone))
		return
	case e.restarted:
		// The restarted agent recovers what it finds journaled and says so; a step it
		// never journaled is over too.
		if lim := time.Now().Add(w.p.r.o.StopTimeout); n.limit.IsZero() || lim.Before(n.limit) {
			n.limit = lim
		}
		return
	}
	h, ev := n.h, e.ev
	ev.Node = e.node
	n.seen = true
	w.so.Events(ev)
	h.recordEvent(ev)
	switch ev.Type {
	case plan.EventInjected:
		if h.report.InjectLatency == 0 {
			h.report.InjectLatency = plan.Duration(e.at.Sub(w.start))
		}
		if len(h.injected) == 0 {
			// The step's marks (plan line read, targets resolved, injected) and its
			// arrival, in the -v step lines make bench-e2e reads (trace only reads what
			// the runner fixed at its start: safe off the loop's goroutine).
			w.p.r.traceMarks(h, ev.Marks)
			w.p.r.trace("injected-received", h, e.at)
		}
		h.injected[ev.Target] = true
		w.countActive(e.node + "/" + ev.Target)
	case plan.EventRecovered:
		h.recovered[ev.Target] = true
		h.lastRecovered = e.at
	case plan.EventError:
		h.noteError(ev, e.at, w.so.Progress)
	case plan.EventExit:
		n.ended = true
		h.sawExit, h.done = true, true
	}
}

// countActive says "fault active on N/M targets" the first time each target of the step
// is injected, as a session of one experiment does (a warm helper's step is a fault
// command's whole session: the operator and make bench-e2e read that line).
func (w *stepWait) countActive(key string) {
	if w.active == nil {
		w.active = map[string]bool{}
	}
	if w.active[key] {
		return
	}
	w.active[key] = true
	total := 0
	for _, pl := range w.so.Plans {
		total += len(pl.Targets)
	}
	fmt.Fprintf(w.so.Progress, "fault active on %d/%d targets\n", len(w.active), max(total, len(w.active)))
}
