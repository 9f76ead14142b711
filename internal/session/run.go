package session

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/tools/cache"
	watchtools "k8s.io/client-go/tools/watch"
)

// Defaults for Options.
const (
	DefaultStopTimeout       = 20 * time.Second
	DefaultReadyTimeout      = 2 * time.Minute
	DefaultHeartbeatInterval = 2 * time.Second
)

// Report reasons.
const (
	ReasonCompleted   = "completed"
	ReasonInterrupted = "interrupted"
	ReasonFailed      = "failed"
	ReasonDetached    = "detached"
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
	earlyAttachDelay    = 150 * time.Millisecond // first probe after the pod was created
	earlyAttachInterval = 120 * time.Millisecond
	earlyAttachFast     = 10 // probes at earlyAttachInterval before backing off
	earlyAttachTries    = 16 // ≈ 6 s of probing in all, then only the watch
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

type phase int

const (
	phaseRunning  phase = iota // helpers start, get attached, run
	phaseStopping              // stop sent; waiting for each agent's result
	phaseDeleting              // pods deleted; waiting for them to go
	phaseDone
)

// helper is the session's view of one helper pod.
type helper struct {
	name, node string
	pod        *corev1.Pod // latest seen
	plan       *plan.Plan
	report     *NodeReport

	att          *attachment // current attachment
	attachedOnce bool
	probes       int // early attach attempts made
	attachErrs   int
	streamLostAt time.Time // attach stream ended while the agent was still running

	done    bool // agent exited for good (or pod gone)
	gone    bool // pod deleted
	stopAt  time.Time
	result  *plan.Result
	err     string
	deleted bool // we issued the delete

	injected      map[string]bool
	recovered     map[string]bool
	errAt         map[string]time.Time // first error event per target
	lastRecovered time.Time
	sawExit       bool // the current container's agent said exit
}

// attachment is one attach stream to one container instance of a helper.
type attachment struct {
	restart  int32
	cmds     chan string // lines for the agent's stdin; "" closes stdin
	closed   bool        // stdin close queued
	cmdsDone bool
	cancel   context.CancelFunc
	started  time.Time
	gotEvent bool
	ended    bool // the stream is gone: stdin no longer reaches this agent
	endedAt  time.Time
	// probe: started before the pod status showed the container running (early
	// attach); until it carries an event it may not have reached any agent, and its
	// failure then only means "not yet".
	probe bool
}

// deaf: the stream ended before the stop request, so the stop line never reached the
// agent; only deleting the pod (SIGTERM) stops it.
func (a *attachment) deaf(stopAt time.Time) bool {
	return a == nil || (a.ended && a.endedAt.Before(stopAt))
}

type podUpdate struct {
	pod     *corev1.Pod
	deleted bool
}

// lineEvent is one event line from an attachment, or (end set) the end of that
// attachment: both travel on one channel so the end comes after the last event.
type lineEvent struct {
	h   *helper
	att *attachment
	ev  plan.Event
	at  time.Time
	end *attachEnd
}

type attachEnd struct {
	h   *helper
	att *attachment
	err error
}

type runner struct {
	o     Options
	bg    context.Context // never cancelled by the user's ctx
	start time.Time
	exp   string
	fault string

	helpers []*helper
	byName  map[string]*helper
	atts    []*attachment // every attachment made, to end them all

	phase    phase
	watching bool // the pod watch runs (else deletions cannot be waited for)
	reason   string
	fatal    []string
	stopAt   time.Time
	targets  int
	active   map[string]bool // targets with an injected event

	podCh   chan podUpdate
	evCh    chan lineEvent
	retryCh chan *helper
	probeCh chan *helper
	watchCh chan error
	quit    chan struct{}
	wg      sync.WaitGroup
}

func (o *Options) defaults() {
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.Events == nil {
		o.Events = func(plan.Event) {}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Client == nil {
		return nil, exit.APIError(errors.New("session: no Kubernetes client"))
	}
	if len(o.Pods) == 0 {
		return nil, exit.Usagef("session: no helper pods to run (empty target set)")
	}
	if !o.Detach && o.Attacher == nil {
		return nil, exit.APIError(errors.New("session: no Attacher for an attached session"))
	}
	r := &runner{
		o:       o,
		bg:      context.WithoutCancel(ctx),
		start:   time.Now(),
		byName:  map[string]*helper{},
		active:  map[string]bool{},
		podCh:   make(chan podUpdate, 64),
		evCh:    make(chan lineEvent, 64),
		retryCh: make(chan *helper, 8),
		probeCh: make(chan *helper, 8),
		watchCh: make(chan error, 1),
		quit:    make(chan struct{}),
	}
	for _, p := range o.Pods {
		if p.Namespace == "" {
			p = p.DeepCopy()
			p.Namespace = o.Namespace
		}
		h := &helper{name: p.Name, node: podNode(p), pod: p, plan: podPlan(p),
			injected: map[string]bool{}, recovered: map[string]bool{}, errAt: map[string]time.Time{}}
		h.report = &NodeReport{Node: h.node, Pod: p.Name}
		if h.plan != nil {
			r.targets += len(h.plan.Targets)
		}
		if r.exp == "" {
			r.exp = p.Labels[plan.LabelExperiment]
			if r.exp == "" && h.plan != nil {
				r.exp = h.plan.Experiment
			}
			r.fault = podFault(p)
		}
		r.helpers = append(r.helpers, h)
		r.byName[p.Name] = h
	}
	if err := r.create(ctx); err != nil {
		return r.reportOf(ReasonFailed), err
	}
	if o.Detach {
		fmt.Fprintf(o.Progress, "experiment %s runs detached until %s; stop it with: kubectl chaos stop %s\n",
			r.exp, r.deadline().Format(time.RFC3339), r.exp)
		return r.reportOf(ReasonDetached), nil
	}
	return r.loop(ctx)
}

// deadline is the latest helper deadline.
func (r *runner) deadline() time.Time {
	var d time.Time
	for _, h := range r.helpers {
		if t := podDeadline(h.pod); t.After(d) {
			d = t
		}
	}
	return d
}

// create creates every helper pod; if one fails, it deletes those already created.
func (r *runner) create(ctx context.Context) error {
	var created []*helper
	for _, h := range r.helpers {
		fmt.Fprintf(r.o.Progress, "creating helper pod %s/%s on node %s\n", h.pod.Namespace, h.name, h.node)
		p, err := r.o.Client.CoreV1().Pods(h.pod.Namespace).Create(ctx, h.pod, metav1.CreateOptions{})
		if err != nil {
			cerr := createError(h, err)
			if len(created) > 0 {
				dctx, cancel := context.WithTimeout(r.bg, r.o.StopTimeout)
				for _, c := range created {
					if derr := r.o.Client.CoreV1().Pods(c.pod.Namespace).Delete(dctx, c.name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
						cerr = fmt.Errorf("%w; also failed to delete helper pod %s/%s (delete it with kubectl -n %s delete pod %s): %v",
							cerr, c.pod.Namespace, c.name, c.pod.Namespace, c.name, derr)
					}
				}
				cancel()
			}
			if ctx.Err() != nil {
				return exit.InterruptedError(fmt.Errorf("interrupted while creating helper pods; removed the %d already created", len(created)))
			}
			return cerr
		}
		h.pod = p
		created = append(created, h)
	}
	return nil
}

// createError turns a failed helper pod create into an APIError naming cause and fix.
func createError(h *helper, err error) error {
	ns := h.pod.Namespace
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		return exit.APIError(fmt.Errorf("namespace %s rejects the privileged helper pod by Pod Security admission: "+
			"run kubectl label namespace %s %s=privileged --overwrite, or pass --helper-namespace to a namespace that allows privileged pods: %w",
			ns, ns, LabelPSAEnforce, err))
	case apierrors.IsForbidden(err):
		return exit.APIError(fmt.Errorf("you may not create pods in namespace %s (RBAC): you need create, get, watch, delete on pods and create on pods/attach there; "+
			"ask your cluster admin, or pass --helper-namespace to a namespace where you may: %w", ns, err))
	case apierrors.IsNotFound(err):
		return exit.APIError(fmt.Errorf("helper namespace %s does not exist: create it with label %s=privileged, or pass --helper-namespace: %w",
			ns, LabelPSAEnforce, err))
	case apierrors.IsAlreadyExists(err):
		return exit.APIError(fmt.Errorf("helper pod %s/%s already exists (experiment ID reused?): see kubectl chaos ls: %w", ns, h.name, err))
	}
	return exit.APIError(fmt.Errorf("creating helper pod %s/%s on node %s: %w", ns, h.name, h.node, err))
}

// watchPods streams the experiment's helper pods (list+watch, re-listing on errors) to
// podCh until wctx ends.
func (r *runner) watchPods(wctx context.Context) {
	defer r.wg.Done()
	ns := r.helpers[0].pod.Namespace
	sel := labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelExperiment: r.exp}.AsSelector()
	selStr := sel.String()
	pods := r.o.Client.CoreV1().Pods(ns)
	lw := &cache.ListWatch{
		ListWithContextFunc: func(ctx context.Context, opts metav1.ListOptions) (runtime.Object, error) {
			opts.LabelSelector = selStr
			return pods.List(ctx, opts)
		},
		WatchFuncWithContext: func(ctx context.Context, opts metav1.ListOptions) (watch.Interface, error) {
			opts.LabelSelector = selStr
			return pods.Watch(ctx, opts)
		},
	}
	_, err := watchtools.UntilWithSync(wctx, cache.ToListWatcherWithWatchListSemantics(lw, r.o.Client), &corev1.Pod{}, nil,
		func(ev watch.Event) (bool, error) {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok || !sel.Matches(labels.Set(p.Labels)) {
				return false, nil
			}
			select {
			case r.podCh <- podUpdate{pod: p, deleted: ev.Type == watch.Deleted}:
			case <-wctx.Done():
				return true, nil
			}
			return false, nil
		})
	if err != nil && wctx.Err() == nil {
		r.watchCh <- fmt.Errorf("watching helper pods of experiment %s in %s: %w", r.exp, ns, err)
	}
}

// canWatch checks that the user may list and watch the helper pods.
func (r *runner) canWatch(ctx context.Context) error {
	ns := r.helpers[0].pod.Namespace
	pods := r.o.Client.CoreV1().Pods(ns)
	sel := labels.Set{plan.LabelExperiment: r.exp}.AsSelector().String()
	_, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel, Limit: 1})
	if err == nil {
		var w watch.Interface
		w, err = pods.Watch(ctx, metav1.ListOptions{LabelSelector: sel})
		if err == nil {
			w.Stop()
			return nil
		}
	}
	if ctx.Err() != nil {
		return nil // interrupted: the loop handles it
	}
	if apierrors.IsForbidden(err) {
		return fmt.Errorf("you may not list and watch pods in namespace %s (RBAC), which following the helpers needs: ask for get, list, watch on pods there, or pass --helper-namespace: %v", ns, err)
	}
	return fmt.Errorf("watching helper pods in %s: %v", ns, err)
}

func (r *runner) loop(ctx context.Context) (*Report, error) {
	wctx, stopWatch := context.WithCancel(r.bg)
	// The informer retries a refused list/watch forever: ask once first, so missing
	// RBAC is an error now rather than a ready timeout later.
	if err := r.canWatch(ctx); err != nil {
		r.fail(err.Error())
		r.beginStop()
	} else {
		r.watching = true
		r.wg.Add(1)
		go r.watchPods(wctx)
		for _, h := range r.helpers {
			if h.pod.Spec.NodeName != "" { // attach needs the node; helpers are bound at creation
				r.after(probeDelay(0), r.probeCh, h)
			}
		}
	}
	defer func() {
		stopWatch()
		for _, att := range r.atts {
			r.closeAttachment(att)
			att.cancel()
		}
		close(r.quit)
		r.wg.Wait()
	}()

	ready := time.NewTimer(r.o.ReadyTimeout)
	defer ready.Stop()
	hb := time.NewTicker(r.o.HeartbeatInterval)
	defer hb.Stop()
	var phaseTimer *time.Timer
	var phaseTimeout <-chan time.Time
	setPhaseTimer := func(d time.Duration) {
		if phaseTimer != nil {
			phaseTimer.Stop()
		}
		phaseTimer = time.NewTimer(d)
		phaseTimeout = phaseTimer.C
	}
	defer func() {
		if phaseTimer != nil {
			phaseTimer.Stop()
		}
	}()
	interrupted := ctx.Done()

	timed := phaseRunning
	for r.phase != phaseDone {
		// Stopping and deleting are each bounded by StopTimeout.
		if r.phase != timed && (r.phase == phaseStopping || r.phase == phaseDeleting) {
			timed = r.phase
			setPhaseTimer(r.o.StopTimeout)
		}
		// Phase transitions that depend only on state.
		switch r.phase {
		case phaseRunning:
			if r.allDone() {
				r.reason = ReasonCompleted
				r.beginDelete()
				continue
			}
		case phaseStopping:
			if r.allStopped() {
				r.beginDelete()
				continue
			}
		case phaseDeleting:
			if r.allGone() {
				r.phase = phaseDone
				continue
			}
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
		case err := <-r.watchCh:
			if r.phase < phaseDeleting {
				r.fail(err.Error())
				r.beginStop()
			} else {
				r.phase = phaseDone
			}
		case <-hb.C:
			if r.phase == phaseRunning {
				for _, h := range r.helpers {
					r.send(h.att, plan.StdinHeartbeat)
				}
			}
		case <-interrupted:
			interrupted = nil
			if r.phase == phaseRunning {
				r.reason = ReasonInterrupted
				r.beginStop()
			}
		case <-ready.C:
			if r.phase == phaseRunning {
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
		case <-phaseTimeout:
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
				if len(left) == 0 {
					r.phase = phaseDone
					continue
				}
				r.fail(fmt.Sprintf("helper pods %s still terminating after %s: check with kubectl chaos ls, remove with kubectl chaos gc", strings.Join(left, ", "), r.o.StopTimeout))
				r.phase = phaseDone
			}
		}
	}
	return r.finish()
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
		if !h.done && !h.att.deaf(r.stopAt) {
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
		r.send(h.att, plan.StdinStop)
		r.send(h.att, "")
	}
}

// beginDelete deletes every helper pod still there; grace period per the pod spec.
func (r *runner) beginDelete() {
	r.phase = phaseDeleting
	if r.reason == "" {
		r.reason = ReasonCompleted
	}
	fmt.Fprintf(r.o.Progress, "deleting helper pods\n")
	dctx, cancel := context.WithTimeout(r.bg, r.o.StopTimeout)
	defer cancel()
	for _, h := range r.helpers {
		if h.gone || h.deleted {
			continue
		}
		if !h.done && h.stopAt.IsZero() {
			h.stopAt = time.Now()
		}
		h.deleted = true
		err := r.o.Client.CoreV1().Pods(h.pod.Namespace).Delete(dctx, h.name, metav1.DeleteOptions{})
		if err == nil && r.watching && h.done {
			// Already gone (no grace period, or it went before the watch could say)?
			if _, gerr := r.o.Client.CoreV1().Pods(h.pod.Namespace).Get(dctx, h.name, metav1.GetOptions{}); apierrors.IsNotFound(gerr) {
				err = gerr
			}
		}
		switch {
		case err == nil:
			h.gone = !r.watching
		case apierrors.IsNotFound(err):
			h.gone = true
		default:
			h.gone = true // nothing more to wait for from here
			r.fail(fmt.Sprintf("deleting helper pod %s/%s: %v; delete it with kubectl -n %s delete pod %s (or kubectl chaos gc)",
				h.pod.Namespace, h.name, err, h.pod.Namespace, h.name))
		}
	}
}

// recheckGone asks the API which helper pods remain, in case the watch missed a
// deletion; their last status still counts.
func (r *runner) recheckGone() {
	ctx, cancel := context.WithTimeout(r.bg, 10*time.Second)
	defer cancel()
	sel := labels.Set{plan.LabelExperiment: r.exp}.AsSelector().String()
	l, err := r.o.Client.CoreV1().Pods(r.helpers[0].pod.Namespace).List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return
	}
	there := map[string]bool{}
	for i := range l.Items {
		there[l.Items[i].Name] = true
		if h := r.byName[l.Items[i].Name]; h != nil {
			if res, _ := podResult(&l.Items[i]); res != nil {
				h.result = res
			}
		}
	}
	for _, h := range r.helpers {
		if !there[h.name] {
			h.gone = true
		}
	}
}

func (r *runner) onPod(u podUpdate) {
	h := r.byName[u.pod.Name]
	if h == nil {
		return
	}
	h.pod = u.pod
	st := agentStatus(u.pod)
	if st != nil {
		h.report.Restarts = st.RestartCount
	}
	if res, _ := podResult(u.pod); res != nil {
		h.result = res
	}
	if u.deleted {
		h.gone = true
		if !h.done {
			h.done = true
			if !h.deleted && r.phase == phaseRunning {
				h.err = "helper pod was deleted by someone else before its agent finished"
				fmt.Fprintf(r.o.Progress, "helper pod %s/%s was deleted\n", h.pod.Namespace, h.name)
			}
		}
		r.closeAttachment(h.att)
		return
	}
	if h.done {
		return
	}
	phase := u.pod.Status.Phase
	terminated := st != nil && st.State.Terminated != nil
	switch {
	case phase == corev1.PodSucceeded || phase == corev1.PodFailed:
		if !h.attachedOnce && r.phase == phaseRunning && h.result == nil {
			if msg := startFailure(u.pod); msg != "" {
				h.err = msg
				r.fail(msg)
				h.done = true
				r.beginStop()
				return
			}
		}
		h.done = true
		if h.result == nil && phase == corev1.PodFailed {
			h.err = strings.TrimSpace(fmt.Sprintf("helper pod failed: %s %s", u.pod.Status.Reason, u.pod.Status.Message))
		}
	case terminated && (st.State.Terminated.ExitCode == 0 || r.phase != phaseRunning):
		// Exit 0 is final under restartPolicy OnFailure; while stopping, any exit is.
		h.done = true
	case r.phase == phaseRunning && !h.attachedOnce:
		if msg := startFailure(u.pod); msg != "" {
			h.err = msg
			h.done = true
			r.fail(msg)
			r.beginStop()
			return
		}
	}
	if h.done {
		r.closeAttachment(h.att)
		return
	}
	if st != nil && st.State.Running != nil {
		r.maybeAttach(h)
	}
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
		// The new container's events and final result speak for the targets now (it
		// recovers what its predecessor left, from the journal).
		h.injected, h.recovered, h.errAt = map[string]bool{}, map[string]bool{}, map[string]time.Time{}
		h.lastRecovered = time.Time{}
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

// startAttach attaches to the helper's container (restart -1: not known yet, a probe).
func (r *runner) startAttach(h *helper, restart int32, probe bool) {
	actx, cancel := context.WithCancel(r.bg)
	att := &attachment{restart: restart, cmds: make(chan string, 8), cancel: cancel, started: time.Now(), probe: probe}
	h.att = att
	r.atts = append(r.atts, att)
	h.streamLostAt = time.Time{}
	h.sawExit = false

	if r.phase == phaseRunning {
		// A heartbeat at once: an agent waiting for its operator hears it now.
		r.send(att, plan.StdinHeartbeat)
	} else {
		// Restarted while we stop: tell the new agent at once.
		h.stopAt = time.Now()
		r.send(att, plan.StdinStop)
		r.send(att, "")
	}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	ns := h.pod.Namespace
	r.wg.Add(3)
	// stdin writer: the only writer of stdinW.
	go func() {
		defer r.wg.Done()
		for line := range att.cmds {
			if line == "" {
				stdinW.Close()
				return
			}
			if _, err := io.WriteString(stdinW, line+"\n"); err != nil {
				return
			}
		}
		stdinW.Close()
	}()
	// stdout reader: one plan.Event per line.
	readerDone := make(chan struct{})
	go func() {
		defer r.wg.Done()
		defer close(readerDone)
		sc := bufio.NewScanner(stdoutR)
		sc.Buffer(make([]byte, 64*1024), 1<<20)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if line == "" {
				continue
			}
			var ev plan.Event
			if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type == "" {
				ev = plan.Event{Time: time.Now(), Type: plan.EventNote, Message: truncate(line, 500)}
			}
			select {
			case r.evCh <- lineEvent{h: h, att: att, ev: ev, at: time.Now()}:
			case <-r.quit:
				stdoutR.CloseWithError(io.ErrClosedPipe)
				return
			}
		}
		stdoutR.CloseWithError(io.ErrClosedPipe)
	}()
	// the attach stream itself.
	go func() {
		defer r.wg.Done()
		err := r.o.Attacher.Attach(actx, ns, h.name, helperpod.ContainerName, stdinR, stdoutW)
		stdoutW.Close()
		<-readerDone
		stdinR.CloseWithError(errors.New("attach stream ended"))
		select {
		case r.evCh <- lineEvent{h: h, att: att, end: &attachEnd{h: h, att: att, err: err}}:
		case <-r.quit:
		}
	}()
}

// send queues a line for the agent's stdin ("" closes it). Never blocks: a heartbeat is
// dropped if the stream is backed up; stop and close always fit (buffer of 8).
func (r *runner) send(att *attachment, line string) {
	if att == nil || att.closed || att.cmdsDone {
		return
	}
	if line == plan.StdinHeartbeat && len(att.cmds) > 0 {
		return
	}
	select {
	case att.cmds <- line:
		if line == "" {
			att.closed = true
		}
	default:
	}
}

// closeAttachment ends the stdin writer of att (closing stdin = EOF to the agent).
func (r *runner) closeAttachment(att *attachment) {
	if att == nil || att.cmdsDone {
		return
	}
	att.cmdsDone = true
	close(att.cmds)
}

func (r *runner) onEvent(e lineEvent) {
	h := e.h
	e.att.gotEvent = true
	if e.att.probe && e.att.restart < 0 {
		// The early attach reached an agent: the first container's, as only the first
		// is probed for (restarts are followed through the status).
		e.att.restart = 0
		if e.att == h.att {
			r.attached(h)
		}
	}
	ev := e.ev
	if ev.Node == "" {
		ev.Node = h.node
	}
	r.o.Events(ev)
	switch ev.Type {
	case plan.EventInjected:
		if h.report.InjectLatency == 0 {
			h.report.InjectLatency = plan.Duration(e.at.Sub(r.start))
		}
		key := h.node + "|" + ev.Target
		h.injected[ev.Target] = true
		if !r.active[key] {
			r.active[key] = true
			total := r.targets
			if total < len(r.active) {
				total = len(r.active)
			}
			fmt.Fprintf(r.o.Progress, "fault active on %d/%d targets\n", len(r.active), total)
		}
	case plan.EventRecovered:
		h.recovered[ev.Target] = true
		h.lastRecovered = e.at
	case plan.EventExit:
		if e.att == h.att {
			h.sawExit = true
		}
	case plan.EventError:
		if _, ok := h.errAt[ev.Target]; !ok {
			h.errAt[ev.Target] = e.at
		}
		what := ev.Target
		if what == "" {
			what = "agent"
		}
		fmt.Fprintf(r.o.Progress, "error on node %s (%s): %s\n", h.node, what, ev.Error)
	}
}

func (r *runner) onAttachEnd(e attachEnd) {
	h := e.h
	e.att.ended = true
	e.att.endedAt = time.Now()
	r.closeAttachment(e.att)
	e.att.cancel()
	if e.att.probe && h.att == e.att && !e.att.gotEvent && (e.err == nil || !isForbidden(e.err)) {
		// An early attach that reached no agent: not yet. Nothing listens on it, so a
		// stop has nobody to reach here either.
		h.att = nil
		if h.done || r.phase != phaseRunning {
			return
		}
		if st := agentStatus(h.pod); st != nil && st.State.Running != nil {
			r.maybeAttach(h) // the status says running now: the usual attach
		} else if h.probes < earlyAttachTries {
			r.after(probeDelay(h.probes), r.probeCh, h)
		}
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
		h.attachErrs++
		if h.attachErrs >= maxAttachRetries {
			r.fail(fmt.Sprintf("could not attach to helper pod %s/%s after %d tries: %v", h.pod.Namespace, h.name, h.attachErrs, e.err))
			r.beginStop()
			return
		}
		fmt.Fprintf(r.o.Progress, "attach to %s failed (%v): retrying\n", h.name, e.err)
		h.att = nil
		r.after(time.Duration(h.attachErrs)*500*time.Millisecond, r.retryCh, h)
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

func isForbidden(err error) bool {
	if apierrors.IsForbidden(err) {
		return true
	}
	s := strings.ToLower(err.Error())
	return strings.Contains(s, "forbidden") || strings.Contains(s, " 403")
}

func (r *runner) reportOf(reason string) *Report {
	rep := &Report{Experiment: r.exp, Fault: r.fault, Reason: reason, StartedAt: r.start, EndedAt: time.Now()}
	for _, h := range r.helpers {
		rep.Nodes = append(rep.Nodes, *h.report)
	}
	return rep
}

// finish builds the report and the error that maps to the exit code.
func (r *runner) finish() (*Report, error) {
	var residue, incomplete, lost, early []string
	for _, h := range r.helpers {
		nr := h.report
		nr.Result = h.result
		nr.Error = h.err
		if nr.Error == "" && h.result != nil {
			nr.Error = h.result.Error
		}
		// The injected event is lost if the agent injected before the attach was up;
		// then the result's injectedAt (agent clock) stands in.
		if nr.InjectLatency == 0 && h.result != nil {
			for _, tr := range h.result.Targets {
				if !tr.InjectedAt.IsZero() && (nr.InjectLatency == 0 || tr.InjectedAt.Sub(r.start) < nr.InjectLatency.D()) {
					nr.InjectLatency = plan.Duration(max(tr.InjectedAt.Sub(r.start), 0))
				}
			}
		}
		// Recover latency: from the stop request, the lost stream, or the deadline.
		ref := h.stopAt
		if ref.IsZero() {
			ref = h.streamLostAt
		}
		if ref.IsZero() && h.plan != nil {
			ref = h.plan.Deadline
		}
		if !h.lastRecovered.IsZero() && !ref.IsZero() {
			if d := h.lastRecovered.Sub(ref); d > 0 {
				nr.RecoverLatency = plan.Duration(d)
			}
		}
		switch {
		case !h.stopAt.IsZero():
		case h.result != nil && h.result.Reason == plan.ReasonEOF,
			h.result == nil && !h.streamLostAt.IsZero():
			lost = append(lost, h.name)
		case h.result != nil && earlyReasons[h.result.Reason]:
			early = append(early, fmt.Sprintf("%s on node %s (%s)", h.name, h.node, h.result.Reason))
		}
		for _, t := range r.targetsOf(h) {
			var tr *plan.TargetResult
			if h.result != nil {
				for i := range h.result.Targets {
					if h.result.Targets[i].Target == t {
						tr = &h.result.Targets[i]
					}
				}
			}
			injected := h.injected[t] || (tr != nil && tr.Injected)
			recovered := h.recovered[t] || (tr != nil && tr.Recovered)
			// An error on a target that was never injected counts as a failure unless it
			// came after we asked the helper to stop (an apply cut short by the stop).
			genuine := tr != nil && tr.Error != "" && (tr.Injected || h.stopAt.IsZero() ||
				(!h.errAt[t].IsZero() && h.errAt[t].Before(h.stopAt)))
			switch {
			case genuine:
				residue = append(residue, fmt.Sprintf("%s (node %s): %s", t, h.node, tr.Error))
			case injected && !recovered:
				residue = append(residue, fmt.Sprintf("%s (node %s): injected, recovery not confirmed", t, h.node))
			case !injected:
				why := "not injected"
				if nr.Error != "" {
					why += ": " + nr.Error
				}
				incomplete = append(incomplete, fmt.Sprintf("%s (node %s): %s", t, h.node, why))
			}
		}
		if h.result != nil && h.result.Error != "" && len(h.result.Targets) == 0 && h.err == "" {
			residue = append(residue, fmt.Sprintf("node %s: %s", h.node, h.result.Error))
		}
	}
	reason := r.reason
	if reason == ReasonCompleted && len(early) > 0 {
		reason = ReasonInterrupted // stopped from elsewhere: pod deleted, kubectl chaos stop
	}
	if reason == ReasonCompleted && (len(residue) > 0 || len(incomplete) > 0 || len(r.fatal) > 0) {
		reason = ReasonFailed
	}
	rep := r.reportOf(reason)
	fmt.Fprintf(r.o.Progress, "experiment %s %s\n", r.exp, reason)
	switch {
	case len(residue) > 0:
		return rep, exit.FaultError(fmt.Errorf("fault failed or recovery not confirmed on %s", strings.Join(residue, "; ")))
	case len(r.fatal) > 0:
		return rep, exit.APIError(errors.New(strings.Join(r.fatal, "; ")))
	case r.reason == ReasonInterrupted:
		return rep, exit.InterruptedError(fmt.Errorf("experiment %s interrupted; every helper recovered and was removed", r.exp))
	case len(early) > 0:
		return rep, exit.InterruptedError(fmt.Errorf("stopped before the deadline from outside this session (helper pod deleted, or kubectl chaos stop): %s; the fault was recovered",
			strings.Join(early, ", ")))
	case len(incomplete) > 0:
		return rep, exit.FaultError(fmt.Errorf("fault not applied on %s", strings.Join(incomplete, "; ")))
	case len(lost) > 0:
		sort.Strings(lost)
		return rep, exit.APIError(fmt.Errorf("lost the attach stream to %s before the deadline: their agents recovered early", strings.Join(lost, ", ")))
	}
	return rep, nil
}

// earlyReasons are agent exit reasons that mean someone ended the helper before its
// deadline without this session asking.
var earlyReasons = map[string]bool{plan.ReasonSignal: true, plan.ReasonStopped: true, plan.ReasonNoHeartbeat: true}

// targetsOf names a helper's targets: from its plan, else from its result.
func (r *runner) targetsOf(h *helper) []string {
	var out []string
	if h.plan != nil {
		for _, t := range h.plan.Targets {
			out = append(out, t.String())
		}
		return out
	}
	if h.result != nil {
		for _, t := range h.result.Targets {
			out = append(out, t.Target)
		}
	}
	return out
}
