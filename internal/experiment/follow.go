package experiment

import (
	"context"
	"fmt"
	"io"
	"sync"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
)

// readPods reads each distinct pod of the selection once, in selection order: what a
// kind's Check and Follow steps look at, and what an API-only fault changes. The Gets
// run at once (readPodsInFlight at a time): one after the other, 10 target pods cost 10
// round trips before the first helper create or kill (issue 17). The error is the one
// of the first failing pod in selection order, as before.
func readPods(ctx context.Context, c kubernetes.Interface, sel *target.Selection) ([]*corev1.Pod, error) {
	seen := map[string]bool{}
	var names []plan.Target
	for _, t := range sel.Targets {
		if name := t.Namespace + "/" + t.Pod; !seen[name] {
			seen[name] = true
			names = append(names, t)
		}
	}
	out := make([]*corev1.Pod, len(names))
	errs := make([]error, len(names))
	sem := make(chan struct{}, readPodsInFlight)
	var wg sync.WaitGroup
	for i, t := range names {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i], errs[i] = c.CoreV1().Pods(t.Namespace).Get(ctx, t.Pod, metav1.GetOptions{})
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err == nil {
			continue
		}
		name := names[i].Namespace + "/" + names[i].Pod
		if apierrors.IsNotFound(err) {
			return nil, exit.Usagef("target pod %s went away before the fault started: nothing was changed", name)
		}
		return nil, exit.AsAPIError("reading target pod "+name, err)
	}
	return out, nil
}

// readPodsInFlight bounds readPods' concurrent Gets (client-go's default rate limiter
// lets a burst of 10 through).
const readPodsInFlight = 8

// listedPods are the selection's pods as target resolution listed them a moment ago, in
// selection order: a Check or a Follow snapshot (taken before anything changes) needs no
// Get per pod, which made a container kill of 1000 pods 1000 requests. Without them
// (a Selection built elsewhere), readPods.
func listedPods(ctx context.Context, c kubernetes.Interface, sel *target.Selection) ([]*corev1.Pod, error) {
	seen := map[string]bool{}
	var out []*corev1.Pod
	for _, t := range sel.Targets {
		name := t.Namespace + "/" + t.Pod
		if seen[name] {
			continue
		}
		seen[name] = true
		pod := sel.Pods[name]
		if pod == nil {
			return readPods(ctx, c, sel)
		}
		out = append(out, pod)
	}
	return out, nil
}

// check runs the kind's Check step on the target pods (before anything is changed): it
// may refuse them, and completes p.Fault (the engine's copy) with what depends on them.
func (p *Prepared) check(ctx context.Context, c kubernetes.Interface, e *catalog.Entry) error {
	if !e.Checks() && !e.Follows() {
		return nil
	}
	pods, err := listedPods(ctx, c, p.Selection)
	if err != nil {
		return err
	}
	p.TargetPods = pods
	notes, err := e.Check(ctx, c, pods, p.Fault)
	if err != nil {
		return exit.Usagef("%v", err)
	}
	p.Notes = notes
	if err := e.Validate(p.Fault); err != nil {
		return exit.UsageError(err)
	}
	return nil
}

// podOf is the pod of t among pods (nil if it was not read).
func podOf(pods []*corev1.Pod, t plan.Target) *corev1.Pod {
	for _, pod := range pods {
		if pod.Namespace == t.Namespace && pod.Name == t.Pod {
			return pod
		}
	}
	return nil
}

// follower follows what the fault sets off on one target, for the report: the kind
// took its snapshot (restart counts, the controller's pods) before the change, and fn
// waits for the outcome once the change is done or undone.
type follower struct {
	target string
	fn     catalog.FollowFunc
	err    error // the snapshot failed
}

// startFollow asks the kind to start following pod (container: the target container);
// ok is false when the kind has nothing to follow for this fault.
func startFollow(ctx context.Context, c kubernetes.Interface, e *catalog.Entry, f plan.Fault, pod *corev1.Pod, container, target string) (follower, bool) {
	if !e.Follows() || pod == nil {
		return follower{}, false
	}
	fn, err := e.Follow(ctx, c, pod, container, f)
	if err != nil {
		return follower{target: target, err: err}, true
	}
	return follower{target: target, fn: fn}, fn != nil
}

// runFollows waits for every follower at once (each bounded by its kind, and all by
// ctx) and returns their lines in order; each is printed on progress as it comes.
func runFollows(ctx context.Context, progress io.Writer, fs []follower) []session.Followed {
	if len(fs) == 0 {
		return nil
	}
	fmt.Fprintf(progress, "following what the fault set off on %d target(s)\n", len(fs))
	ctx = catalog.SharePodWatches(ctx) // one pod watch per namespace, not one per target
	out := make([]session.Followed, len(fs))
	var mu sync.Mutex
	var wg sync.WaitGroup
	for i, fl := range fs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := session.Followed{Target: fl.target}
			err := fl.err
			if err == nil {
				r.Message, err = fl.fn(ctx)
			}
			switch {
			case err != nil && ctx.Err() != nil:
				r.Error = followInterrupted
			case err != nil:
				r.Error = err.Error()
			}
			out[i] = r
			mu.Lock()
			fmt.Fprintf(progress, "followed %s: %s\n", r.Target, firstNonEmpty(r.Message, r.Error))
			mu.Unlock()
		}()
	}
	wg.Wait()
	return out
}

// followInterrupted is the follow-up the user stopped watching (Ctrl-C): not a failure.
const followInterrupted = "not followed to the end: interrupted"

// followErrors lists the followers that saw no outcome (other than the user's Ctrl-C),
// as "target: error".
func followErrors(fs []session.Followed) []string {
	var out []string
	for _, f := range fs {
		if f.Error != "" && f.Error != followInterrupted {
			out = append(out, f.Target+": "+f.Error)
		}
	}
	return out
}
