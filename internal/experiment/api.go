package experiment

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// apiRequestTimeout bounds one inject or restore request: they run under a context
// Ctrl-C cannot cancel, so a change the API server applied is always known (and undone).
const apiRequestTimeout = 20 * time.Second

// apiTarget is one pod an API-only fault changes (several target containers of one pod
// are one change).
type apiTarget struct {
	pod      *corev1.Pod
	name     string // namespace/pod
	node     string
	res      plan.TargetResult
	tried    bool          // an inject request was sent (not cut short by Ctrl-C first)
	injectT  time.Duration // session start -> injected
	recoverT time.Duration // stop (or deadline) -> restored
	follow   follower      // the kind's follow-up of this pod, started before the change
	follows  bool
}

// apiRun is one run of an API-only fault: no helper pod; each target pod is changed in
// one request that also carries the experiment label and the undo record, and restored
// from that record (by this run, `kubectl chaos stop` or `gc`).
type apiRun struct {
	o       *Options
	p       *Prepared
	c       kubernetes.Interface
	kind    *catalog.Entry
	ev      *eventPrinter
	pe      *podEvents
	start   time.Time
	targets []*apiTarget
	oneShot bool // the change is complete once made: nothing to wait for or restore
	// followed is what the fault set off, watched after the change (one-shot) or the
	// restore.
	followed []session.Followed
}

// runAPI runs p through the API alone and returns the error that maps to the exit code,
// as the helper path does: 0 completed, 130 interrupted after a clean restore, 3 when a
// pod could not be changed or restored, 2 for cluster errors, 1 when a target pod
// carries another experiment's record (nothing is changed then).
func runAPI(ctx context.Context, o *Options, p *Prepared, c kubernetes.Interface, kind *catalog.Entry, pe *podEvents) error {
	r := &apiRun{o: o, p: p, c: c, kind: kind, ev: newEventPrinter(o.IO), pe: pe, start: time.Now(), oneShot: kind.OneShot(p.Fault)}
	if err := r.readTargets(ctx); err != nil {
		return err
	}
	lasts, how := "for "+o.Duration.String(), "Ctrl-C stops and restores"
	switch {
	case r.oneShot:
		lasts, how = "once", "one-shot: nothing to undo"
	case o.Detach:
		how = "detached: kubectl chaos stop " + p.ID + " restores it, or kubectl chaos gc once its deadline has passed"
	}
	fmt.Fprintf(o.IO.ErrOut, "experiment %s: %s on %d pod(s) through the API, no helper pod, %s (%s)\n",
		p.ID, p.Fault.Summary(), len(r.targets), lasts, how)
	stopped := r.inject(ctx)
	if r.oneShot {
		if !o.Detach {
			r.followed = runFollows(ctx, o.IO.ErrOut, r.follows())
		}
		return r.finish(r.endReason(ctx, stopped))
	}
	if o.Detach && !stopped {
		return r.finish(session.ReasonDetached)
	}
	reason := session.ReasonCompleted
	if stopped || r.wait(ctx) {
		reason = session.ReasonInterrupted
	}
	r.restore()
	// The restore is done whatever happens now: following it is for the report, and
	// each kind bounds its wait (a second Ctrl-C ends the command).
	r.followed = runFollows(context.WithoutCancel(ctx), o.IO.ErrOut, r.follows())
	return r.finish(reason)
}

// endReason is a one-shot run's reason: interrupted if Ctrl-C came before every pod
// was changed or while the follow-up was watched.
func (r *apiRun) endReason(ctx context.Context, stopped bool) string {
	if stopped || ctx.Err() != nil {
		return session.ReasonInterrupted
	}
	return session.ReasonCompleted
}

// follows are the follow-ups of the pods that were changed.
func (r *apiRun) follows() []follower {
	var out []follower
	for _, t := range r.targets {
		if t.follows && t.res.Injected {
			out = append(out, t.follow)
		}
	}
	return out
}

// readTargets reads each target pod once and refuses (before changing anything) pods
// that carry another experiment's undo record.
func (r *apiRun) readTargets(ctx context.Context) error {
	pods, err := readPods(ctx, r.c, r.p.Selection)
	if err != nil {
		return err
	}
	var taken []string
	for _, pod := range pods {
		if err := session.CheckFree(pod, r.p.ID); err != nil {
			taken = append(taken, err.Error())
			continue
		}
		name := pod.Namespace + "/" + pod.Name
		r.targets = append(r.targets, &apiTarget{pod: pod, name: name, node: pod.Spec.NodeName, res: plan.TargetResult{Target: name}})
	}
	if len(taken) > 0 {
		return exit.Usagef("refused: %s; nothing was changed", strings.Join(taken, "; "))
	}
	return nil
}

func (r *apiRun) record() plan.UndoRecord {
	return plan.UndoRecord{
		Kind: r.p.Fault.Kind, Experiment: r.p.ID, Owner: r.p.Owner, Fault: r.p.Fault.Summary(),
		CreatedAt: r.p.CreatedAt, Deadline: r.p.Deadline, Detached: r.o.Detach,
	}
}

// inject changes each target pod, one request each; it stops early on Ctrl-C and
// reports whether it did.
func (r *apiRun) inject(ctx context.Context) (stopped bool) {
	for _, t := range r.targets {
		if ctx.Err() != nil {
			return true
		}
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), apiRequestTimeout)
		// The kind's snapshot (restart counts, the controller's pods) is taken before
		// the change; the target container is the pod's first target's.
		t.follow, t.follows = startFollow(rctx, r.c, r.kind, r.p.Fault, t.pod, r.containerOf(t), t.name)
		t0 := time.Now()
		t.tried = true
		err := session.InjectPod(rctx, r.c, r.kind, r.p.Fault, t.pod, r.record())
		cancel()
		if err != nil {
			t.res.Error = injectError(t, err)
			r.event(plan.Event{Type: plan.EventError, Node: t.node, Target: t.name, Error: t.res.Error})
			continue
		}
		t.res.Injected, t.res.InjectedAt = true, time.Now().UTC()
		t.injectT = time.Since(r.start)
		if r.oneShot { // complete once made: nothing is held, nothing to restore
			t.res.Recovered, t.res.RecoveredAt = true, t.res.InjectedAt
		}
		r.event(plan.Event{Type: plan.EventInjected, Node: t.node, Target: t.name, Objects: r.kind.Describe(r.p.Fault),
			Elapsed: plan.Duration(time.Since(t0))})
	}
	if n := r.injected(); n > 0 {
		fmt.Fprintf(r.o.IO.ErrOut, "fault active on %d pod(s)\n", n)
	}
	return ctx.Err() != nil
}

// containerOf is the target container of t's pod (its first, if several).
func (r *apiRun) containerOf(t *apiTarget) string {
	for _, tg := range r.p.Selection.Targets {
		if tg.Namespace == t.pod.Namespace && tg.Pod == t.pod.Name {
			return tg.Container
		}
	}
	return ""
}

func injectError(t *apiTarget, err error) string {
	if apierrors.IsForbidden(err) {
		return fmt.Sprintf("you may not patch pods in namespace %s (RBAC), which this fault needs: %v", t.pod.Namespace, err)
	}
	return err.Error()
}

func (r *apiRun) injected() int {
	n := 0
	for _, t := range r.targets {
		if t.res.Injected {
			n++
		}
	}
	return n
}

func (r *apiRun) event(e plan.Event) {
	e.Time = time.Now()
	r.ev.Print(e)
	r.pe.event(e)
}

// wait waits for the deadline (false), Ctrl-C (true), or until every changed pod was
// restored from outside, by `kubectl chaos stop` (true).
func (r *apiRun) wait(ctx context.Context) (interrupted bool) {
	if r.injected() == 0 {
		return false
	}
	timer := time.NewTimer(r.p.Deadline.Sub(r.o.clock()))
	defer timer.Stop()
	wctx, cancel := context.WithCancel(ctx)
	defer cancel()
	outside := r.watchRestored(wctx)
	select {
	case <-timer.C:
		return false
	case <-ctx.Done():
		return true
	case <-outside:
		fmt.Fprintf(r.o.IO.ErrOut, "experiment %s: every changed pod was restored (kubectl chaos stop) or deleted from outside this session\n", r.p.ID)
		return true
	}
}

// watchRestored closes the returned channel once every injected pod has lost the
// experiment label (restored by someone else, or deleted). If the user may not watch
// pods, it never closes: the run then ends at the deadline or on Ctrl-C.
func (r *apiRun) watchRestored(ctx context.Context) <-chan struct{} {
	done := make(chan struct{})
	byNS := map[string][]string{}
	for _, t := range r.targets {
		if t.res.Injected {
			byNS[t.pod.Namespace] = append(byNS[t.pod.Namespace], t.name)
		}
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	all := true
	for ns, keys := range byNS {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := session.WaitUnlabelled(ctx, r.c, ns, r.p.ID, keys); err != nil {
				mu.Lock()
				all = false
				mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		if all && ctx.Err() == nil {
			close(done)
		}
	}()
	return done
}

// restore undoes the change on every pod this run changed, from each pod's record,
// under a context Ctrl-C cannot cancel.
func (r *apiRun) restore() {
	stopAt := time.Now()
	bg := context.WithoutCancel(context.Background())
	for _, t := range r.targets {
		if !t.tried {
			continue // Ctrl-C came first: never changed
		}
		ctx, cancel := context.WithTimeout(bg, apiRequestTimeout)
		restored, err := session.RestoreByName(ctx, r.c, t.pod.Namespace, t.pod.Name, r.p.ID)
		cancel()
		switch {
		case err != nil:
			t.res.Error = strings.TrimPrefix(t.res.Error+"; ", "; ") + err.Error()
			r.event(plan.Event{Type: plan.EventError, Node: t.node, Target: t.name, Error: err.Error()})
		case t.res.Injected:
			t.res.Recovered, t.res.RecoveredAt = true, time.Now().UTC()
			t.recoverT = time.Since(stopAt)
			msg := ""
			if !restored {
				msg = "already restored (kubectl chaos stop or gc), or the pod is gone"
			}
			r.event(plan.Event{Type: plan.EventRecovered, Node: t.node, Target: t.name, Message: msg, Elapsed: plan.Duration(t.recoverT)})
		}
	}
}

// finish prints the report (the helper path's shape) and returns the exit error.
func (r *apiRun) finish(reason string) error {
	var failed []string
	forbidden := false
	for _, t := range r.targets {
		ok := t.res.Error == "" && t.res.Injected && (t.res.Recovered || reason == session.ReasonDetached)
		if !ok && (t.tried || reason != session.ReasonInterrupted) {
			failed = append(failed, fmt.Sprintf("%s: %s", t.name, firstNonEmpty(t.res.Error, "not injected")))
			forbidden = forbidden || strings.Contains(t.res.Error, "(RBAC)") || strings.Contains(t.res.Error, "forbidden")
		}
	}
	failed = append(failed, followErrors(r.followed)...)
	if len(failed) > 0 && reason == session.ReasonCompleted {
		reason = session.ReasonFailed
	}
	rep := r.report(reason)
	if r.o.OnReport != nil {
		r.o.OnReport(r.p, rep)
	}
	fmt.Fprintf(r.o.IO.ErrOut, "experiment %s %s\n", r.p.ID, reason)
	perr := PrintReport(r.o.IO, r.o.Output, rep)
	switch {
	case len(failed) > 0 && forbidden:
		return exit.APIError(fmt.Errorf("%s", strings.Join(failed, "; ")))
	case len(failed) > 0:
		return exit.FaultError(fmt.Errorf("fault failed or restore not confirmed on %s", strings.Join(failed, "; ")))
	case reason == session.ReasonInterrupted:
		return exit.InterruptedError(fmt.Errorf("experiment %s interrupted; every pod was restored", r.p.ID))
	}
	return perr
}

// report groups the targets by node, as the helper path's report does (no helper pod).
func (r *apiRun) report(reason string) *session.Report {
	rep := &session.Report{Experiment: r.p.ID, Fault: r.p.Fault.Summary(), Reason: reason, StartedAt: r.start, EndedAt: time.Now(),
		Followed: r.followed}
	byNode := map[string]*session.NodeReport{}
	var nodes []string
	for _, t := range r.targets {
		nr := byNode[t.node]
		if nr == nil {
			nr = &session.NodeReport{Node: t.node, Result: &plan.Result{Experiment: r.p.ID, Node: t.node, Reason: reason}}
			byNode[t.node] = nr
			nodes = append(nodes, t.node)
		}
		nr.Result.Targets = append(nr.Result.Targets, t.res)
		nr.InjectLatency = max(nr.InjectLatency, plan.Duration(t.injectT))
		nr.RecoverLatency = max(nr.RecoverLatency, plan.Duration(t.recoverT))
	}
	sort.Strings(nodes)
	for _, n := range nodes {
		rep.Nodes = append(rep.Nodes, *byNode[n])
	}
	return rep
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
