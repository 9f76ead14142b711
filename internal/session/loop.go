package session

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// phase is where the session is; it only moves forward.
type phase int

const (
	phaseRunning  phase = iota // helpers start, get attached, run
	phaseStopping              // stop sent; waiting for each agent's result
	phaseDeleting              // pods deleted; waiting for them to go
	phaseDone
)

// loop follows the helpers until they are gone: it takes in pod updates, agent events,
// attach ends and timers, one at a time, on this goroutine alone, and moves the phase
// forward. Then it builds the report (report.go).
func (r *runner) loop(ctx context.Context) (*Report, error) {
	wctx, stopWatch := context.WithCancel(r.bg)
	r.follow(ctx, wctx)
	defer r.shutdown(stopWatch)

	t := newLoopTimers(r.o)
	defer t.stop()
	interrupted := ctx.Done()
	for r.phase != phaseDone {
		t.arm(r.phase, r.o.StopTimeout)
		if r.advance() {
			continue
		}
		select {
		case u := <-r.podCh:
			r.onPod(u)
		case e := <-r.evCh:
			if e.end != nil {
				r.onAttachEnd(*e.end)
			} else {
				r.onEvent(e)
			}
		case h := <-r.retryCh:
			r.maybeAttach(h)
		case h := <-r.probeCh:
			r.probe(h)
		case h := <-r.startCh:
			r.recheckStart(h)
		case err := <-r.watchCh:
			r.onWatchError(err)
		case <-t.heartbeat.C:
			r.heartbeat()
		case name := <-r.o.StopNode:
			r.stopNode(name)
		case <-interrupted:
			interrupted = nil
			r.interrupt()
		case <-t.ready.C:
			r.readyTimeout()
		case <-t.phaseTimeout:
			r.phaseTimeout()
		case f := <-r.doCh():
			f(r)
		}
		r.serveTick()
	}
	return r.finish()
}

// follow starts following the helpers: the pod watch, and a first early attach to each
// helper bound to its node (all are, at creation). A user who may not watch the pods
// is told at once and the session stops.
func (r *runner) follow(ctx, wctx context.Context) {
	// Adopted warm helpers were just listed by their lookup: no second check.
	if !r.adopting() {
		if err := r.canWatch(ctx); err != nil {
			r.fail(err.Error())
			r.beginStop()
			return
		}
	}
	r.watching = true
	r.wg.Add(1)
	go r.watchPods(wctx)
	for _, h := range r.helpers {
		if r.adopting() {
			r.maybeAttach(h) // running already: attach now, no probe
			continue
		}
		if h.pod.Spec.NodeName != "" { // attach needs the node
			r.after(probeDelay(0), r.probeCh, h)
		}
	}
}

// shutdown ends the watch and every attach stream and waits for their goroutines.
func (r *runner) shutdown(stopWatch context.CancelFunc) {
	stopWatch()
	for _, att := range r.atts {
		r.closeAttachment(att)
		att.cancel()
	}
	close(r.quit)
	r.wg.Wait()
}

// loopTimers are the loop's clocks: the ready timeout, the heartbeat, and the bound on
// the stopping and the deleting phase (StopTimeout each).
type loopTimers struct {
	ready        *time.Timer
	heartbeat    *time.Ticker
	phase        *time.Timer
	phaseTimeout <-chan time.Time
	timed        phase
}

func newLoopTimers(o Options) *loopTimers {
	return &loopTimers{ready: time.NewTimer(o.ReadyTimeout), heartbeat: time.NewTicker(o.HeartbeatInterval), timed: phaseRunning}
}

// arm starts the phase timer when the loop enters the stopping or the deleting phase.
func (t *loopTimers) arm(p phase, d time.Duration) {
	if p == t.timed || (p != phaseStopping && p != phaseDeleting) {
		return
	}
	t.timed = p
	if t.phase != nil {
		t.phase.Stop()
	}
	t.phase = time.NewTimer(d)
	t.phaseTimeout = t.phase.C
}

func (t *loopTimers) stop() {
	t.ready.Stop()
	t.heartbeat.Stop()
	if t.phase != nil {
		t.phase.Stop()
	}
}

// advance makes the phase transitions that depend only on state, and says whether it
// made one.
func (r *runner) advance() bool {
	switch r.phase {
	case phaseRunning:
		if r.serve == nil && r.allDone() { // a pool runs until Close
			r.reason = ReasonCompleted
			r.beginDelete()
			return true
		}
	case phaseStopping:
		if r.allStopped() {
			r.beginDelete()
			return true
		}
	case phaseDeleting:
		if r.allGone() || (!r.o.WaitCleanup && r.allConfirmed()) {
			r.phase = phaseDone
			return true
		}
	}
	return false
}

func (r *runner) onWatchError(err error) {
	if r.phase < phaseDeleting {
		r.fail(err.Error())
		r.beginStop()
	} else {
		r.phase = phaseDone
	}
}

// heartbeat writes a heartbeat line to every attached agent while the fault runs.
func (r *runner) heartbeat() {
	if r.phase == phaseRunning {
		for _, h := range r.helpers {
			r.send(h.att, plan.StdinHeartbeat)
			r.warmBeats(h)
		}
	}
}

// stopNode asks the agent on one node to stop (the live view's stop key); the other
// helpers run on. Its result then counts as asked for, not as an early stop.
func (r *runner) stopNode(name string) {
	if r.phase != phaseRunning {
		return
	}
	for _, h := range r.helpers {
		if h.node != name || h.done {
			continue
		}
		if h.att == nil || h.att.ended {
			fmt.Fprintf(r.o.Progress, "node %s: its agent is not attached, so it cannot be stopped alone (S or Ctrl-C stops all)\n", name)
			continue
		}
		fmt.Fprintf(r.o.Progress, "stopping node %s\n", name)
		h.stopAt = time.Now()
		r.stopAgent(h.att)
	}
}

// interrupt is Ctrl-C (ctx cancelled): stop everything.
func (r *runner) interrupt() {
	r.trace("interrupt", nil, time.Now())
	if r.phase == phaseRunning {
		r.reason = ReasonInterrupted
		r.beginStop()
	}
}

// readyTimeout fails the helpers that never got attached within ReadyTimeout.
func (r *runner) readyTimeout() {
	if r.phase != phaseRunning || r.serve != nil { // a pool's steps bound their own wait
		return
	}
	for _, h := range r.helpers {
		if !h.attachedOnce && !h.done {
			r.fail(fmt.Sprintf("helper pod %s/%s on node %s did not start within %s (%s); see kubectl -n %s describe pod %s",
				h.pod.Namespace, h.name, h.node, r.o.ReadyTimeout, waitingText(h.pod), h.pod.Namespace, h.name))
		}
	}
	if len(r.fatal) > 0 {
		r.beginStop()
	}
}

// phaseTimeout: stopping took StopTimeout, so delete anyway; deleting took it too, so
// name the pods still there and end.
func (r *runner) phaseTimeout() {
	switch r.phase {
	case phaseStopping:
		var slow []string
		for _, h := range r.helpers {
			if !h.done && !h.att.deaf(r.stopAt) {
				slow = append(slow, h.name)
			}
		}
		fmt.Fprintf(r.o.Progress, "no result from %s within %s: deleting anyway (the agent recovers on SIGTERM)\n", strings.Join(slow, ", "), r.o.StopTimeout)
		r.beginDelete()
	case phaseDeleting:
		r.recheckGone()
		var left []string
		for _, h := range r.helpers {
			if !h.gone {
				left = append(left, h.pod.Namespace+"/"+h.name)
			}
		}
		if len(left) > 0 {
			r.fail(fmt.Sprintf("helper pods %s still terminating after %s: check with kubectl chaos ls, remove with kubectl chaos gc", strings.Join(left, ", "), r.o.StopTimeout))
		}
		r.phase = phaseDone
	}
}

// fail records a cluster-side error (exit 2) and says it at once.
func (r *runner) fail(msg string) {
	fmt.Fprintf(r.o.Progress, "error: %s\n", msg)
	r.fatal = append(r.fatal, msg)
	if r.reason == "" {
		r.reason = ReasonFailed
	}
}

func (r *runner) allDone() bool {
	for _, h := range r.helpers {
		if !h.done {
			return false
		}
	}
	return true
}

// allStopped: every agent our stop line reached has exited. Helpers that never ran, or
// whose stream was gone before the stop, cannot hear it: deleting the pod (SIGTERM)
// stops them.
func (r *runner) allStopped() bool {
	for _, h := range r.helpers {
		if !h.done && !h.sawExit && !h.att.deaf(r.stopAt) {
			return false
		}
	}
	return true
}

// allConfirmed: every helper's deletion was accepted and its agent is done: it said
// exit on its stream (after recovering), or its pod status says it ended, or the pod
// is gone. The pods may still be terminating.
func (r *runner) allConfirmed() bool {
	for _, h := range r.helpers {
		if !h.gone && (!h.deleted || (!h.done && !h.sawExit)) {
			return false
		}
	}
	return true
}

func (r *runner) allGone() bool {
	for _, h := range r.helpers {
		if !h.gone {
			return false
		}
	}
	return true
}

// beginStop asks every attached agent to stop (stop line, then EOF).
func (r *runner) beginStop() {
	if r.phase != phaseRunning {
		return
	}
	r.phase = phaseStopping
	r.stopAt = time.Now()
	fmt.Fprintf(r.o.Progress, "stopping…\n")
	for _, h := range r.helpers {
		if h.done {
			continue
		}
		h.stopAt = r.stopAt
		r.stopAgent(h.att)
	}
	r.trace("stop-sent", nil, time.Now())
}

// beginDelete deletes every helper pod still there and waits for them to go.
func (r *runner) beginDelete() {
	r.phase = phaseDeleting
	if r.reason == "" {
		r.reason = ReasonCompleted
	}
	fmt.Fprintf(r.o.Progress, "deleting helper pods\n")
	r.deletePods()
	if !r.o.WaitCleanup && r.allConfirmed() && !r.allGone() {
		fmt.Fprintf(r.o.Progress, "helper pods deleted; they terminate in the background (kubectl chaos ls shows them until then; --wait-cleanup waits)\n")
	}
}
