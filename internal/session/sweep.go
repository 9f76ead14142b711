package session

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultSweepTimeout bounds gc's wait for its sweep pods: scheduling, image, the sweep.
const DefaultSweepTimeout = 2 * time.Minute

// SweepOptions are the sweep pods gc starts: one per node.
type SweepOptions struct {
	// ID names the gc run (label kubectl-chaos/experiment); default NewSweepID().
	ID              string
	Nodes           []string
	Owner           string
	Namespace       string
	Image           string
	ImagePullPolicy corev1.PullPolicy
	RuntimeSocket   string
	// Timeout bounds the wait for all sweeps; default DefaultSweepTimeout. The pods'
	// activeDeadlineSeconds bounds them even if gc is killed.
	Timeout time.Duration
	// Probe starts probe pods (kubectl chaos doctor) instead: NodeSweep.Message then
	// holds each node's report.
	Probe bool
}

// NodeSweep is what the sweep did on one node.
type NodeSweep struct {
	Node string `json:"node"`
	// Pod is the sweep pod, namespace/name.
	Pod    string            `json:"pod"`
	Phase  string            `json:"phase,omitempty"`
	Result *plan.SweepResult `json:"result,omitempty"`
	// Error says why the sweep did not run to the end, or what it could not remove.
	Error string        `json:"error,omitempty"`
	Took  plan.Duration `json:"took,omitempty"`
	// Message is a probe pod's termination message (its report), for its caller to read.
	Message string `json:"-"`
}

// OK reports whether the sweep ran and removed everything it found (a probe: whether
// it left a report).
func (n NodeSweep) OK() bool {
	return n.Error == "" && (n.Result != nil && n.Result.OK() || n.Message != "")
}

// NewSweepID is "chaos-gc-" and 8 random lowercase base32 characters.
func NewSweepID() string {
	const alphabet = "abcdefghijklmnopqrstuvwxyz234567"
	var b [8]byte
	_, _ = rand.Read(b[:])
	for i, c := range b {
		b[i] = alphabet[int(c)%len(alphabet)]
	}
	return "chaos-gc-" + string(b[:])
}

// SweepPods builds the sweep pods (pure: what gc --dry-run prints).
func SweepPods(o SweepOptions, now time.Time) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, n := range o.Nodes {
		p, err := helperpod.BuildSweep(helperpod.SweepOptions{
			ID: o.ID, Node: n, Owner: o.Owner, Created: now,
			Namespace: o.Namespace, Image: o.Image, ImagePullPolicy: o.ImagePullPolicy, RuntimeSocket: o.RuntimeSocket,
			Probe: o.Probe,
		})
		if err != nil {
			return nil, exit.UsageError(err)
		}
		out = append(out, p)
	}
	return out, nil
}

// RunSweeps creates the sweep pods, waits (bounded) for each to finish, reads what it
// removed from its termination message, and deletes them. The error is an API error
// when a pod could not be created, a fault error when a sweep failed (or did not
// finish): something may be left on that node.
func RunSweeps(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, timeout time.Duration) ([]NodeSweep, error) {
	if len(pods) == 0 {
		return nil, nil
	}
	if timeout <= 0 {
		timeout = DefaultSweepTimeout
	}
	ns, id := pods[0].Namespace, pods[0].Labels[plan.LabelExperiment]
	if err := ensureNamespace(ctx, c, helperpod.Namespace(ns)); err != nil {
		return nil, err
	}
	start := time.Now()
	byName := map[string]*NodeSweep{}
	var out []*NodeSweep
	var createErrs []error
	for _, p := range pods {
		s := &NodeSweep{Node: p.Spec.NodeName, Pod: p.Namespace + "/" + p.Name}
		out = append(out, s)
		if _, err := c.CoreV1().Pods(p.Namespace).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			s.Error = sweepCreateError(p, err).Error()
			createErrs = append(createErrs, errors.New(s.Error))
			continue
		}
		byName[p.Name] = s
	}
	waitSweeps(ctx, c, ns, id, byName, start, timeout)
	// The sweep pods have done their job (or will not): delete them, under a context
	// Ctrl-C cannot cut short; their activeDeadlineSeconds bounds any that stay.
	dctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 20*time.Second)
	defer cancel()
	for name, s := range byName {
		if err := c.CoreV1().Pods(ns).Delete(dctx, name, metav1.DeleteOptions{}); err != nil && !apierrors.IsNotFound(err) && s.Error == "" {
			s.Error = fmt.Sprintf("deleting sweep pod %s: %v", s.Pod, err)
		}
	}
	res := make([]NodeSweep, len(out))
	var failed []string
	for i, s := range out {
		res[i] = *s
		if !s.OK() && byName[podName(s.Pod)] != nil {
			failed = append(failed, s.Node)
		}
	}
	sort.Slice(res, func(i, j int) bool { return res[i].Node < res[j].Node })
	switch {
	case len(createErrs) > 0:
		return res, exit.APIError(errors.Join(createErrs...))
	case len(failed) > 0:
		sort.Strings(failed)
		if pods[0].Annotations[plan.AnnotationFault] == helperpod.ProbeFault {
			return res, exit.FaultError(fmt.Errorf("the probe did not report from node(s) %s (see the table)", strings.Join(failed, ", ")))
		}
		return res, exit.FaultError(fmt.Errorf("the journal sweep failed on node(s) %s: something of ours may be left there (see the report)", strings.Join(failed, ", ")))
	}
	return res, nil
}

func podName(nsName string) string {
	_, n, _ := strings.Cut(nsName, "/")
	return n
}

// waitSweeps follows the sweep pods until each has finished, cannot start, or is gone,
// or until timeout; it fills in each NodeSweep.
func waitSweeps(ctx context.Context, c kubernetes.Interface, ns, id string, byName map[string]*NodeSweep, start time.Time, timeout time.Duration) {
	if len(byName) == 0 {
		return
	}
	pending := map[string]bool{}
	last := map[string]*corev1.Pod{}
	for n := range byName {
		pending[n] = true
	}
	wctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	sel := labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelExperiment: id}.AsSelector()
	werr := watchPodsUntil(wctx, c, ns, sel, nil, func(p *corev1.Pod, deleted bool) bool {
		s := byName[p.Name]
		if s == nil || !pending[p.Name] {
			return len(pending) == 0
		}
		last[p.Name] = p
		s.Phase = string(p.Status.Phase)
		if done := sweepOutcome(s, p, deleted); done {
			s.Took = plan.Duration(time.Since(start))
			delete(pending, p.Name)
		}
		return len(pending) == 0
	})
	for name := range pending {
		s := byName[name]
		why := "no status yet"
		if p := last[name]; p != nil {
			why = waitingText(p)
		}
		switch {
		case ctx.Err() != nil:
			s.Error = "gc was interrupted before the sweep finished (" + why + ")"
		case wctx.Err() != nil:
			s.Error = fmt.Sprintf("the sweep did not finish within %s (%s)", timeout, why)
		default:
			s.Error = fmt.Sprintf("following sweep pod %s failed: %v", s.Pod, werr)
		}
	}
}

// sweepOutcome records p's outcome in s and reports whether the sweep is over.
func sweepOutcome(s *NodeSweep, p *corev1.Pod, deleted bool) bool {
	if p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed {
		if st := agentStatus(p); st != nil && st.State.Terminated != nil {
			t := st.State.Terminated
			if p.Annotations[plan.AnnotationFault] == helperpod.ProbeFault {
				if s.Message = strings.TrimSpace(t.Message); s.Message == "" || t.ExitCode != 0 {
					s.Error = "the probe agent failed (" + terminationText(t) + ")"
				}
				return true
			}
			res, err := decodeSweep(t.Message)
			switch {
			case err != nil:
				s.Error = fmt.Sprintf("the sweep agent left no result (%s): %v", terminationText(t), err)
			default:
				s.Result = res
				if !res.OK() {
					s.Error = "the sweep could not remove everything: " + sweepErrors(res)
				}
			}
			return true
		}
		if p.Status.Phase == corev1.PodFailed {
			s.Error = fmt.Sprintf("sweep pod failed before its agent ran: %s %s", p.Status.Reason, p.Status.Message)
			return true
		}
		return false // the container status follows
	}
	if deleted {
		s.Error = "the sweep pod was deleted before it finished"
		return true
	}
	// Sweep pods never restart (restartPolicy Never): no kubelet retry to wait for.
	if why := startFailure(p).msg; why != "" {
		s.Error = why
		return true
	}
	return false
}

func sweepErrors(r *plan.SweepResult) string {
	var errs []string
	if r.Error != "" {
		errs = append(errs, r.Error)
	}
	for _, j := range r.Swept {
		if j.Error != "" && !strings.Contains(r.Error, j.Error) {
			errs = append(errs, j.Experiment+": "+j.Error)
		}
	}
	return strings.Join(errs, "; ")
}

func decodeSweep(msg string) (*plan.SweepResult, error) {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return nil, errors.New("empty termination message")
	}
	var r plan.SweepResult
	if err := json.Unmarshal([]byte(msg), &r); err != nil || r.Swept == nil {
		return nil, fmt.Errorf("termination message is not a sweep result: %.300q", msg)
	}
	return &r, nil
}

func sweepCreateError(p *corev1.Pod, err error) error {
	where := fmt.Sprintf("creating sweep pod %s/%s on node %s", p.Namespace, p.Name, p.Spec.NodeName)
	switch {
	case apierrors.IsForbidden(err) && strings.Contains(err.Error(), "violates PodSecurity"):
		return fmt.Errorf("%s: namespace %s rejects privileged pods (Pod Security): label it %s=privileged or pass --helper-namespace: %w",
			where, p.Namespace, LabelPSAEnforce, err)
	case apierrors.IsForbidden(err):
		return fmt.Errorf("%s: you may not create pods in namespace %s (RBAC), which the sweep needs; pass --helper-namespace to one where you may: %w",
			where, p.Namespace, err)
	}
	return fmt.Errorf("%s: %w", where, err)
}
