package scenario

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// poolGrace is added to spec.duration for the run's helpers: when spec.duration ends
// the steps are stopped and recovered, which the helpers must outlive.
const poolGrace = 30 * time.Second

var errPoolClosed = errors.New("the run's helpers are closed")

// helpersFor returns the run's helpers for a fault step: made by the first fault step
// that needs helper pods, one per node, kept until the steps are over. A step runs on
// helpers of its own when its fault needs none (API only) or its helper flags
// (namespace, image, pull policy, runtime socket) are not those the pool was made with.
func (r *Runner) helpersFor(ctx context.Context, o *experiment.Options) *session.Pool {
	key, ok := poolKey(o)
	if !ok {
		return nil
	}
	r.poolMu.Lock()
	defer r.poolMu.Unlock()
	if r.pool == nil && r.poolErr == nil {
		r.poolKey = key
		if r.pool, r.poolErr = r.startPool(ctx, o); r.poolErr != nil {
			fmt.Fprintf(r.IO.ErrOut, "note: the run's shared helpers could not be started (%v): each fault step makes its own\n", r.poolErr)
		}
	}
	if r.pool == nil || key != r.poolKey {
		return nil
	}
	return r.pool
}

// poolKey says whether a fault step can run on the run's helpers (its fault needs
// helper pods), and the helper fields the pool is made with: a step with other ones
// runs on helpers of its own.
func poolKey(o *experiment.Options) (string, bool) {
	if e, err := catalog.For(o.Fault); err != nil || e.APIOnly() {
		return "", false
	}
	return strings.Join([]string{o.HelperNamespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket}, "|"), true
}

func (r *Runner) startPool(ctx context.Context, o *experiment.Options) (*session.Pool, error) {
	c, err := o.KubeClient()
	if err != nil {
		return nil, err
	}
	att, err := o.Attacher()
	if err != nil {
		return nil, err
	}
	if err := session.EnsureNamespace(ctx, c, helperpod.Namespace(o.HelperNamespace)); err != nil {
		return nil, fmt.Errorf("preparing the helper namespace %s: %w", o.HelperNamespace, err)
	}
	owner := "unknown"
	if o.Owner != nil {
		owner = o.Owner()
	}
	hp := helperpod.Options{Namespace: o.HelperNamespace, Image: o.Image,
		ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy), RuntimeSocket: o.RuntimeSocket}
	return session.StartPool(ctx, session.PoolOptions{
		Client: c, Attacher: att, Namespace: o.HelperNamespace,
		ID: experiment.NewID(), Owner: owner, Deadline: r.poolDeadline, RuntimeSocket: o.RuntimeSocket,
		Progress: r.IO.ErrOut,
		Build:    poolBuilder(hp, r.NoEvents),
	})
}

// poolBuilder builds the run's helper pods. With run --events=false they carry the
// events-off annotation a verb's helpers carry with --events=false, so ls and gc, which
// write the Events a dead CLI could not, write none for them either.
func poolBuilder(hp helperpod.Options, noEvents bool) func(*plan.Plan) (*corev1.Pod, error) {
	return func(pl *plan.Plan) (*corev1.Pod, error) {
		b := hp
		b.Plan = pl
		pod, err := helperpod.Build(b)
		if err == nil && noEvents {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[podevents.AnnotationEvents] = podevents.EventsOff
		}
		return pod, err
	}
}

// closePool stops and deletes the run's helpers (each recovers what it still holds),
// and keeps their report in the result.
func (r *Runner) closePool() {
	r.poolMu.Lock()
	p := r.pool
	r.pool, r.poolErr = nil, errPoolClosed
	r.poolMu.Unlock()
	if p == nil {
		return
	}
	rep, err := p.Close()
	r.mu.Lock()
	r.res.Helpers = rep
	r.mu.Unlock()
	if err != nil {
		fmt.Fprintf(r.IO.ErrOut, "the run's helpers: %v\n", err)
		r.mu.Lock()
		r.failed = true
		r.mu.Unlock()
	}
}
