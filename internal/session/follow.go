package session

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
)

// maxAttachRetries bounds re-attaching to a helper whose attach failed before any
// output came through (API server hiccup); after that the session stops.
const maxAttachRetries = 3

// Early attach. Kubelet reports a started container in the pod status only after its
// next PLEG relist (about 1 s), but its attach handler finds the container through the
// runtime, so an attach succeeds as soon as the container runs. While the status still
// says the pod is pending, the session therefore tries to attach on its own (a "probe"),
// every earlyAttachInterval at first and then backing off, at most earlyAttachTries
// times per helper; a probe that fails before any output means "not yet" and costs no
// attach retry. The watch keeps its say: a start failure it reports ends the session,
// and once it shows the container running the usual attach takes over.
const (
	earlyAttachDelay    = 100 * time.Millisecond // first probe after the pod was created
	earlyAttachInterval = 50 * time.Millisecond  // a probe's wait is the fault's delay: keep it short
	earlyAttachFast     = 30                     // probes at earlyAttachInterval before backing off
	earlyAttachTries    = 40                     // ≈ 6 s of probing in all, then only the watch
)

// probeDelay is the wait before probe number n (0-based) of one helper.
func probeDelay(n int) time.Duration {
	if n == 0 {
		return earlyAttachDelay
	}
	if n < earlyAttachFast {
		return earlyAttachInterval
	}
	return min(earlyAttachInterval<<(n-earlyAttachFast+1), time.Second)
}

// maybeAttach attaches to the helper's current container if we are not attached to it.
func (r *runner) maybeAttach(h *helper) {
	if h.done || r.phase >= phaseDeleting {
		return
	}
	st := agentStatus(h.pod)
	if st == nil || st.State.Running == nil {
		return
	}
	if a := h.att; a != nil && a.probe && a.restart < 0 && !a.ended && st.RestartCount == 0 {
		// An early attach is under way or up: it can only have reached this container.
		a.restart = 0
		r.attached(h)
		return
	}
	if h.att != nil && h.att.restart >= st.RestartCount {
		return
	}
	if h.att != nil {
		fmt.Fprintf(r.o.Progress, "helper %s on node %s restarted (restart %d): re-attaching\n", h.name, h.node, st.RestartCount)
		r.closeAttachment(h.att)
		h.att.cancel()
		h.forgetEvents()
	}
	r.startAttach(h, st.RestartCount, false)
	r.attached(h)
}

// attached marks the helper as attached once (says so the first time).
func (r *runner) attached(h *helper) {
	if !h.attachedOnce {
		fmt.Fprintf(r.o.Progress, "helper %s on node %s is running: attached\n", h.name, h.node)
	}
	h.attachedOnce = true
}

// probe is one early attach attempt: while the pod status does not yet show the
// container running, attach anyway (see earlyAttachTries).
func (r *runner) probe(h *helper) {
	if h.done || r.phase != phaseRunning || h.att != nil || h.attachedOnce {
		return
	}
	if st := agentStatus(h.pod); st != nil && st.State.Running != nil {
		r.maybeAttach(h) // the watch was faster
		return
	}
	if ph := h.pod.Status.Phase; ph != "" && ph != corev1.PodPending {
		return
	}
	if st := agentStatus(h.pod); h.start.attempts > 0 || (st != nil && (st.RestartCount > 0 || st.State.Terminated != nil ||
		st.LastTerminationState.Terminated != nil)) {
		// Only the first container is probed for (a probe's events are taken as its);
		// after a failed start the status says when the next one runs.
		return
	}
	h.probes++
	r.startAttach(h, -1, true)
}

// after sends h on ch after d, unless the session ends first.
func (r *runner) after(d time.Duration, ch chan<- *helper, h *helper) {
	r.wg.Add(1)
	go func() {
		defer r.wg.Done()
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
			select {
			case ch <- h:
			case <-r.quit:
			}
		case <-r.quit:
		}
	}()
}

// onAttachEnd decides what the end of an attach stream means: an early probe that
// reached nobody (probe again), a refusal (stop the session), a failed attach (retry,
// bounded), or the agent's stdin gone (it recovers; its result comes with the status).
func (r *runner) onAttachEnd(e attachEnd) {
	h := e.h
	e.att.ended = true
	e.att.endedAt = time.Now()
	r.closeAttachment(e.att)
	e.att.cancel()
	if e.att.probe && h.att == e.att && !e.att.gotEvent && (e.err == nil || !isForbidden(e.err)) {
		r.probeEnded(h)
		return
	}
	if h.att != e.att || h.done || r.phase >= phaseDeleting {
		return
	}
	if e.err != nil && isForbidden(e.err) {
		r.fail(fmt.Sprintf("you may not attach to helper pod %s/%s (RBAC): you need create on pods/attach in namespace %s: %v",
			h.pod.Namespace, h.name, h.pod.Namespace, e.err))
		r.beginStop()
		return
	}
	established := e.att.gotEvent || time.Since(e.att.started) > 5*time.Second
	if e.err != nil && !established && r.phase == phaseRunning {
		r.retryAttach(h, e.err)
		return
	}
	// The stream ended before the agent said exit: its stdin got EOF (or it crashed),
	// so it recovers and exits; the result arrives with the pod status.
	// A clean end is what attach does when the container exits; the pod status says
	// how. A broken stream is worth saying at once.
	if r.phase == phaseRunning && h.streamLostAt.IsZero() && !h.sawExit {
		h.streamLostAt = time.Now()
		if e.err != nil {
			fmt.Fprintf(r.o.Progress, "the attach stream to %s broke (%v): its agent recovers on stdin EOF\n", h.name, e.err)
		}
	}
}

// probeEnded: an early attach that reached no agent means "not yet". Nothing listens
// on it, so a stop has nobody to reach here either.
func (r *runner) probeEnded(h *helper) {
	h.att = nil
	if h.done || r.phase != phaseRunning {
		return
	}
	if st := agentStatus(h.pod); st != nil && st.State.Running != nil {
		r.maybeAttach(h) // the status says running now: the usual attach
	} else if h.probes < earlyAttachTries {
		r.after(probeDelay(h.probes), r.probeCh, h)
	}
}

// retryAttach attaches again after a backoff, or stops the session after
// maxAttachRetries failures.
func (r *runner) retryAttach(h *helper, err error) {
	h.attachErrs++
	if h.attachErrs >= maxAttachRetries {
		r.fail(fmt.Sprintf("could not attach to helper pod %s/%s after %d tries: %v", h.pod.Namespace, h.name, h.attachErrs, err))
		r.beginStop()
		return
	}
	fmt.Fprintf(r.o.Progress, "attach to %s failed (%v): retrying\n", h.name, err)
	h.att = nil
	r.after(time.Duration(h.attachErrs)*500*time.Millisecond, r.retryCh, h)
}

func isForbidden(err error) bool {
	if apierrors.IsForbidden(err) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "forbidden") || strings.Contains(s, " 403")
}
