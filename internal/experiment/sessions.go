package experiment

import (
	"context"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// warmHeartbeat is how often a step on warm helpers says "heartbeat STEP": the agent
// recovers the step after plan.WarmStepTimeout without one.
const warmHeartbeat = time.Second

// runSessions runs p's plans on the warm helpers of the nodes that have one and, on the
// other nodes, on helper pods of its own or, in a kubectl chaos run, as a step of the
// run's helpers; both at once, their reports merged into one.
func runSessions(ctx, sctx context.Context, o *Options, p *Prepared, c kubernetes.Interface, e *catalog.Entry,
	warm map[string]session.WarmHelper, early *session.Pool, out *sessionOutput, pe *podEvents) (*session.Report, error) {
	var mu sync.Mutex // two sessions may deliver events at once
	events := func(ev plan.Event) { mu.Lock(); defer mu.Unlock(); out.events(ev); pe.event(ev) }
	progress := out.progress
	if o.Helpers != nil && len(warm) == 0 {
		announce(progress, o, p, e)
		return o.Helpers.Step(sctx, session.StepOptions{Plans: p.Plans, Events: events, Progress: progress})
	}
	if early != nil {
		// The early pool's attaches end with the warm step, or here if it never starts.
		defer func() {
			if early != nil {
				early.Detach()
			}
		}()
	}
	if o.Detach && len(warm) > 0 {
		fmt.Fprintf(progress, "--detach: the fault gets helper pods of its own (a warm helper's steps end with the CLI that sent them)\n")
		warm = nil
	}
	var warmPlans, freshPlans []*plan.Plan
	var freshPods []*corev1.Pod
	for i, pl := range p.Plans {
		if _, ok := warm[pl.Node]; ok {
			warmPlans = append(warmPlans, pl)
		} else {
			freshPlans = append(freshPlans, pl)
			freshPods = append(freshPods, p.Pods[i])
		}
	}
	if o.Helpers != nil {
		// A kubectl chaos run's step: the run's helpers serve the nodes without a warm
		// helper (created when a step first needs them, as without warm helpers).
		freshPods = nil
	}
	if len(freshPods) > 0 {
		// No namespace to ensure when every node has a warm helper: it is there.
		if err := session.EnsureNamespace(ctx, c, helperpod.Namespace(o.HelperNamespace)); err != nil {
			return nil, exit.AsAPIError("preparing the helper namespace "+o.HelperNamespace, err)
		}
		session.Step("cli-namespace-ready", time.Now())
	}
	att, err := o.Attacher()
	if err != nil {
		return nil, err
	}
	announce(progress, o, p, e)
	var warmRep *session.Report
	var warmErr error
	var wg sync.WaitGroup
	if len(warmPlans) > 0 {
		wg.Add(1)
		pool := early
		early = nil // runWarmStep detaches it
		go func() {
			defer wg.Done()
			warmRep, warmErr = runWarmStep(sctx, o, c, att, warm, pool, warmPlans, events, progress)
		}()
	}
	var rep *session.Report
	if o.Helpers != nil && len(freshPlans) > 0 {
		rep, err = o.Helpers.Step(sctx, session.StepOptions{Plans: freshPlans, Events: events, Progress: progress})
	}
	if len(freshPods) > 0 {
		rep, err = session.Run(sctx, session.Options{
			Client: c, Attacher: att, Namespace: o.HelperNamespace, Pods: freshPods,
			Detach: o.Detach, WaitCleanup: o.WaitCleanup, Events: events, Progress: progress, StopNode: out.stopNode,
		})
	}
	wg.Wait()
	return mergeReports(rep, err, warmRep, warmErr)
}

// runWarmStep runs the plans on the nodes' warm helpers as one step: attach (early:
// the pool attached while the targets resolved, else one started here), plan line, the
// step's events until it ended (its deadline, or Ctrl-C: stop STEP), detach.
func runWarmStep(ctx context.Context, o *Options, c kubernetes.Interface, att session.Attacher,
	warm map[string]session.WarmHelper, early *session.Pool, plans []*plan.Plan, events func(plan.Event), progress io.Writer) (*session.Report, error) {
	use := map[string]session.WarmHelper{}
	for _, pl := range plans {
		wh := warm[pl.Node]
		fmt.Fprintf(progress, "node %s: using warm helper %s/%s\n", pl.Node, wh.Pod.Namespace, wh.Pod.Name)
		use[pl.Node] = wh
	}
	session.Step("cli-warm-found", time.Now())
	pool := early
	if pool == nil {
		var err error
		if pool, err = startWarmPool(ctx, o, c, att, plans[0].Owner, use); err != nil {
			return nil, err
		}
	}
	// For kubectl chaos ls: the step's record on the helpers, off the fault's path.
	pods := make([]*corev1.Pod, 0, len(use))
	for _, wh := range use {
		pods = append(pods, wh.Pod)
	}
	endRecord := session.RecordWarmStep(ctx, c, pods, plans[0].Experiment, session.WarmStepRecord{
		Owner: plans[0].Owner, Fault: plans[0].Fault.Summary(), Since: time.Now().UTC(), Until: plans[0].Deadline,
	}, o.warmRecordRenew)
	rep, err := pool.Step(ctx, session.StepOptions{Plans: plans, Events: events, Progress: progress})
	ended := make(chan struct{})
	go func() { defer close(ended); endRecord() }()
	pool.Detach()
	<-ended
	return rep, err
}

// startWarmPool starts a pool on the warm helpers of use: their attaches open at once.
func startWarmPool(ctx context.Context, o *Options, c kubernetes.Interface, att session.Attacher, owner string,
	use map[string]session.WarmHelper) (*session.Pool, error) {
	var adopt []session.WarmHelper
	var last time.Time
	for _, wh := range use {
		adopt = append(adopt, wh)
		if d := session.PodDeadline(wh.Pod); d.After(last) {
			last = d
		}
	}
	return session.StartPool(ctx, session.PoolOptions{
		Client: c, Attacher: att, Namespace: o.HelperNamespace, Owner: owner, Deadline: last,
		Warm: true, Adopt: adopt, HeartbeatInterval: warmHeartbeat, ReadyTimeout: 15 * time.Second,
	})
}

// reasonRank orders report reasons by how much they say: the merged report takes the
// worse of its two sessions'.
var reasonRank = map[string]int{session.ReasonCompleted: 0, session.ReasonDetached: 1, session.ReasonInterrupted: 2, session.ReasonFailed: 3}

// mergeReports joins the report of the helpers of the fault's own and that of its step
// on warm helpers (either may be nil).
func mergeReports(a *session.Report, aErr error, b *session.Report, bErr error) (*session.Report, error) {
	switch {
	case b == nil && bErr == nil:
		return a, aErr
	case a == nil && aErr == nil:
		return b, bErr
	case a == nil:
		return b, firstErr(aErr, bErr)
	case b == nil:
		return a, firstErr(aErr, bErr)
	}
	m := *a
	m.Nodes = append(append([]session.NodeReport{}, a.Nodes...), b.Nodes...)
	if reasonRank[b.Reason] > reasonRank[m.Reason] {
		m.Reason = b.Reason
	}
	if b.StartedAt.Before(m.StartedAt) {
		m.StartedAt = b.StartedAt
	}
	if b.EndedAt.After(m.EndedAt) {
		m.EndedAt = b.EndedAt
	}
	return &m, firstErr(aErr, bErr)
}

func firstErr(a, b error) error {
	if a != nil {
		return a
	}
	return b
}

// printWarmPlan says, in a dry run, which node would use which warm helper.
func printWarmPlan(w io.Writer, warm map[string]session.WarmHelper) {
	for node, wh := range warm {
		fmt.Fprintf(w, "node %s: would use warm helper %s/%s (until %s) instead of a helper pod of its own\n",
			node, wh.Pod.Namespace, wh.Pod.Name, wh.Pod.Annotations[plan.AnnotationDeadline])
	}
}
