package warm

import (
	"context"
	"errors"
	"fmt"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// stopRun deletes the owner's warm helpers in the helper namespace and forgets their
// keys. Each agent recovers the steps it still holds on SIGTERM, as any helper does.
func stopRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	owner := o.Owner()
	ctx = context.WithoutCancel(ctx) // cleanup: Ctrl-C must not cut it short
	sel := labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelWarm: "true"}.String()
	pods := c.CoreV1().Pods(o.HelperNamespace)
	list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return exit.AsAPIError("listing warm helpers in "+o.HelperNamespace, err)
	}
	keys := o.Keys()
	var out []Helper
	var errs []error
	for i := range list.Items {
		p := &list.Items[i]
		if p.Annotations[plan.AnnotationOwner] != owner || p.DeletionTimestamp != nil {
			continue
		}
		if err := pods.Delete(ctx, p.Name, metav1.DeleteOptions{}); err != nil {
			errs = append(errs, fmt.Errorf("deleting warm helper %s/%s: %w", p.Namespace, p.Name, err))
			continue
		}
		keys.Delete(string(p.UID))
		out = append(out, Helper{Node: p.Spec.NodeName, Namespace: p.Namespace, Pod: p.Name, UID: string(p.UID), Deadline: session.PodDeadline(p)})
	}
	keys.Prune(time.Now())
	fmt.Fprintf(o.IO.ErrOut, "deleted %d warm helper(s) of %s; each recovers any step it still holds\n", len(out), owner)
	if out == nil {
		out = []Helper{}
	}
	if err := o.print(out); err != nil {
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return exit.APIError(err)
	}
	return nil
}
