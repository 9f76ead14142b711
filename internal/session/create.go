package session

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// create creates every helper pod at once (one request per node, in parallel); if
// one fails, it deletes those that were created.
func (r *runner) create(ctx context.Context) error {
	for _, h := range r.helpers {
		fmt.Fprintf(r.o.Progress, "creating helper pod %s/%s on node %s\n", h.pod.Namespace, h.name, h.node)
	}
	pods := make([]*corev1.Pod, len(r.helpers))
	errs := make([]error, len(r.helpers))
	var wg sync.WaitGroup
	for i, h := range r.helpers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.trace("create-sent", h, time.Now())
			pods[i], errs[i] = r.o.Client.CoreV1().Pods(h.pod.Namespace).Create(ctx, h.pod, metav1.CreateOptions{})
			r.trace("create-returned", h, time.Now())
		}()
	}
	wg.Wait()
	var created []*helper
	var failed error
	for i, h := range r.helpers {
		if errs[i] != nil {
			if failed == nil {
				failed = createError(h, errs[i])
			}
			continue
		}
		h.pod = pods[i]
		created = append(created, h)
	}
	if failed == nil {
		return nil
	}
	cerr := r.undoCreate(created, failed)
	if ctx.Err() != nil {
		return exit.InterruptedError(fmt.Errorf("interrupted while creating helper pods; removed the %d already created", len(created)))
	}
	return cerr
}

// undoCreate deletes the helper pods created before a create failed; err, the
// failure, gains a line for each pod that could not be deleted.
func (r *runner) undoCreate(created []*helper, err error) error {
	if len(created) == 0 {
		return err
	}
	dctx, cancel := context.WithTimeout(r.bg, r.o.StopTimeout)
	defer cancel()
	for _, c := range created {
		if derr := r.o.Client.CoreV1().Pods(c.pod.Namespace).Delete(dctx, c.name, metav1.DeleteOptions{}); derr != nil && !apierrors.IsNotFound(derr) {
			err = fmt.Errorf("%w; also failed to delete helper pod %s/%s (delete it with kubectl -n %s delete pod %s): %v",
				err, c.pod.Namespace, c.name, c.pod.Namespace, c.name, derr)
		}
	}
	return err
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

// deletePods deletes every helper pod still there (grace period per the pod spec), all
// at once. A pod counts as gone at once when the API says so, or when no watch runs
// that could say it later.
func (r *runner) deletePods() {
	dctx, cancel := context.WithTimeout(r.bg, r.o.StopTimeout)
	defer cancel()
	var todo []*helper
	for _, h := range r.helpers {
		if h.gone || h.deleted {
			continue
		}
		if !h.done && h.stopAt.IsZero() {
			h.stopAt = time.Now()
		}
		h.deleted = true
		todo = append(todo, h)
	}
	errs := make([]error, len(todo))
	var wg sync.WaitGroup
	for i, h := range todo {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = r.deletePod(dctx, h.pod.Namespace, h.name, h.done)
			r.trace("delete-returned", h, time.Now())
		}()
	}
	wg.Wait()
	for i, h := range todo {
		switch err := errs[i]; {
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

// deletePod deletes one helper pod; when the session waits for the pods to go and the
// agent is done, a pod already gone (no grace period, or it went before the watch
// could say) reads as NotFound.
func (r *runner) deletePod(ctx context.Context, ns, name string, done bool) error {
	err := r.o.Client.CoreV1().Pods(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err == nil && r.watching && done && r.o.WaitCleanup {
		if _, gerr := r.o.Client.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{}); apierrors.IsNotFound(gerr) {
			return gerr
		}
	}
	return err
}

// recheckGone asks the API which helper pods remain, in case the watch missed a
// deletion; their last status still counts.
func (r *runner) recheckGone() {
	ctx, cancel := context.WithTimeout(r.bg, 10*time.Second)
	defer cancel()
	sel := labels.Set{plan.LabelExperiment: r.exp}.AsSelector().String()
	l, err := r.o.Client.CoreV1().Pods(r.ns()).List(ctx, metav1.ListOptions{LabelSelector: sel})
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
