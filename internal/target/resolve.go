package target

import (
	"cmp"
	"context"
	"fmt"
	"math"
	"math/rand"
	randv2 "math/rand/v2"
	"slices"
	"sort"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
)

// source is one selector and the pods it matched.
type source struct {
	desc string // "deploy/web", "-l app=web", "pods a, b"
	pods []corev1.Pod
}

// Resolve lists the matching pods and picks the targets: one Get per TYPE/NAME (for
// controllers and services, then one pod List with their selector), one List for all
// bare pod names, one List for -l/--field-selector. Errors are exit.UsageError (bad
// input, nothing matched, a refusal) or exit.APIError.
func Resolve(ctx context.Context, c kubernetes.Interface, o Options) (*Selection, error) {
	p, err := o.parse()
	if err != nil {
		return nil, err
	}
	ns := o.Namespace
	if ns == "" {
		ns = metav1.NamespaceDefault
	}
	r := resolver{c: c}
	sources, err := r.sources(ctx, ns, p, o)
	if err != nil {
		return nil, err
	}
	filtered, err := p.filter.apply(ctx, r, sources)
	if err != nil {
		return nil, err
	}
	cands, skipped, err := candidates(sources, o.Container)
	if err != nil {
		return nil, err
	}
	if len(cands) == 0 {
		return nil, noCandidates(sources, skipped, ns, o.AllNamespaces, p.filter)
	}

	seed := o.Seed
	if seed == 0 {
		seed = randv2.Int64N(math.MaxInt32) + 1
	}
	picked := pick(cands, p.mode, seed)

	if err := refuse(picked, o); err != nil {
		return nil, err
	}

	sel := &Selection{ByNode: map[string][]plan.Target{}, Seed: seed, Matched: len(cands), Filters: filtered,
		Pods: map[string]*corev1.Pod{}}
	for _, c := range picked {
		t := c.Target
		sel.Pods[t.Namespace+"/"+t.Pod] = c.pod
		sel.Targets = append(sel.Targets, t)
		if _, ok := sel.ByNode[t.Node]; !ok {
			sel.Nodes = append(sel.Nodes, t.Node)
		}
		sel.ByNode[t.Node] = append(sel.ByNode[t.Node], t)
	}
	sort.Strings(sel.Nodes)
	return sel, nil
}

// sources reads the pods each part of the target expression names: the references
// (deploy/x, pod names) and the label/field selectors, each with its description for
// the messages.
func (r resolver) sources(ctx context.Context, ns string, p *parsed, o Options) ([]source, error) {
	var sources []source
	var bare []string
	for _, ref := range p.refs {
		if ref.Bare {
			bare = append(bare, ref.Name)
			continue
		}
		pods, err := r.podsOf(ctx, ns, ref)
		if err != nil {
			return nil, err
		}
		sources = append(sources, source{desc: ref.String(), pods: pods})
	}
	if len(bare) > 0 {
		pods, err := r.podsNamed(ctx, ns, bare)
		if err != nil {
			return nil, err
		}
		sources = append(sources, source{desc: "pod(s) " + strings.Join(bare, ", "), pods: pods})
	}
	if p.labels != nil || p.fields != nil {
		listNS := ns
		if o.AllNamespaces {
			listNS = metav1.NamespaceAll
		}
		opts := metav1.ListOptions{}
		var desc []string
		if p.labels != nil {
			opts.LabelSelector = p.labels.String()
			desc = append(desc, "-l "+o.LabelSelector)
		}
		if p.fields != nil {
			opts.FieldSelector = p.fields.String()
			desc = append(desc, "--field-selector "+o.FieldSelector)
		}
		pods, err := r.listPods(ctx, listNS, opts)
		if err != nil {
			return nil, err
		}
		sources = append(sources, source{desc: strings.Join(desc, " "), pods: pods})
	}
	return sources, nil
}

// candidates is the union of the sources' pods, deduplicated by namespace/name, that
// run the container asked for, sorted; skipped says why the other pods are not.
func candidates(sources []source, container string) (cands []candidate, skipped []string, err error) {
	byKey := map[string]*corev1.Pod{}
	for i := range sources {
		for j := range sources[i].pods {
			pod := &sources[i].pods[j]
			byKey[pod.Namespace+"/"+pod.Name] = pod
		}
	}
	keys := make([]string, 0, len(byKey))
	for k := range byKey {
		keys = append(keys, k)
	}
	sort.Strings(keys)

	for _, k := range keys {
		pod := byKey[k]
		if pod.Status.Phase != corev1.PodRunning || pod.DeletionTimestamp != nil {
			why := string(pod.Status.Phase)
			if pod.DeletionTimestamp != nil {
				why = "terminating"
			}
			if why == "" {
				why = "no phase"
			}
			skipped = append(skipped, k+" "+why)
			continue
		}
		name, err := containerOf(pod, container)
		if err != nil {
			return nil, nil, err
		}
		id, running := containerRunning(pod, name)
		if !running || pod.Spec.NodeName == "" {
			skipped = append(skipped, fmt.Sprintf("%s container %q not running", k, name))
			continue
		}
		cands = append(cands, candidate{Target: targetOf(pod, name, id), hostNetwork: pod.Spec.HostNetwork, pod: pod})
	}
	sortCandidates(cands)
	return cands, skipped, nil
}

// noCandidates is the usage error for a target expression that matched no running
// pod, with up to three of the reasons matched pods were not targetable.
func noCandidates(sources []source, skipped []string, ns string, all bool, f *filters) error {
	where := "in namespace " + ns
	if all {
		where = "in all namespaces"
	}
	descs := make([]string, len(sources))
	for i, s := range sources {
		descs[i] = s.desc
	}
	msg := fmt.Sprintf("%s matched 0 running pods %s", strings.Join(descs, " and "), where)
	if !f.empty() {
		msg += " after " + strings.Join(f.describe(), " ")
	}
	if n := len(skipped); n > 0 {
		shown := skipped
		if n > 3 {
			shown = append(slices.Clip(skipped[:3]), fmt.Sprintf("%d more", n-3))
		}
		msg += fmt.Sprintf(" (%d matched but not targetable: %s)", n, strings.Join(shown, ", "))
	}
	return exit.Usagef("%s", msg)
}

// pick applies --mode to the sorted candidates with a rand seeded by seed; the result is
// sorted again by namespace/pod/container.
func pick(cands []candidate, m Mode, seed int64) []candidate {
	n := len(cands)
	switch m.Kind {
	case "one":
		n = 1
	case "fixed":
		n = min(m.N, len(cands))
	case "percent", "random-max-percent":
		// Round up, so any positive percentage of a non-empty set picks at least one pod.
		n = int(math.Ceil(float64(len(cands))*m.Percent/100 - 1e-9))
		n = max(1, min(n, len(cands)))
	}
	rng := rand.New(rand.NewSource(seed))
	if m.Kind == "random-max-percent" {
		// Chaos Mesh's RandomMaxPercent: a random count up to P %. Here from 1 (a run
		// that picks no pod would do nothing), drawn from the same seeded rand.
		n = 1 + rng.Intn(n)
	}
	if n >= len(cands) {
		return slices.Clone(cands)
	}
	out := make([]candidate, 0, n)
	for _, i := range rng.Perm(len(cands))[:n] {
		out = append(out, cands[i])
	}
	sortCandidates(out)
	return out
}

// refuse enforces the safety rails on the picked targets, before anything is created.
func refuse(ts []candidate, o Options) error {
	if !o.AllowSystem {
		count := map[string]int{}
		var nss []string
		for _, t := range ts {
			if slices.Contains(SystemNamespaces, t.Namespace) {
				if count[t.Namespace] == 0 {
					nss = append(nss, t.Namespace)
				}
				count[t.Namespace]++
			}
		}
		if len(nss) > 0 {
			n := 0
			for _, c := range count {
				n += c
			}
			sort.Strings(nss)
			return exit.Usagef("refusing %d pod(s) in %s: pass --allow-system to target system pods", n, strings.Join(nss, ", "))
		}
	}
	if !o.AllowHostNetwork {
		var host []string
		for _, t := range ts {
			if t.hostNetwork {
				host = append(host, t.Namespace+"/"+t.Pod)
			}
		}
		if len(host) > 0 {
			return exit.Usagef("refusing %d hostNetwork pod(s) (%s): a fault there hits the node's own network; pass --allow-host-network to target them", len(host), strings.Join(host, ", "))
		}
	}
	if len(ts) > o.MaxTargets {
		return exit.Usagef("%d targets exceed --max-targets=%d; raise --max-targets", len(ts), o.MaxTargets)
	}
	return nil
}

// containerOf picks the container to act on: -c (which must exist), else the pod's
// default-container annotation, else its first container.
func containerOf(pod *corev1.Pod, want string) (string, error) {
	names := make([]string, len(pod.Spec.Containers))
	for i, c := range pod.Spec.Containers {
		names[i] = c.Name
	}
	if want != "" {
		if !slices.Contains(names, want) {
			return "", exit.Usagef("-c/--container %q: pod %s/%s has no such container; its containers: %s", want, pod.Namespace, pod.Name, strings.Join(names, ", "))
		}
		return want, nil
	}
	if d := pod.Annotations[DefaultContainerAnnotation]; d != "" && slices.Contains(names, d) {
		return d, nil
	}
	if len(names) == 0 {
		return "", exit.Usagef("pod %s/%s has no containers", pod.Namespace, pod.Name)
	}
	return names[0], nil
}

// containerRunning reports the container's ID if it is running.
func containerRunning(pod *corev1.Pod, name string) (string, bool) {
	for _, s := range pod.Status.ContainerStatuses {
		if s.Name == name {
			return s.ContainerID, s.State.Running != nil && s.ContainerID != ""
		}
	}
	return "", false
}

// sortCandidates orders by namespace, pod, container (field by field, so "web" sorts
// before "web-1").
func sortCandidates(cs []candidate) {
	slices.SortFunc(cs, func(a, b candidate) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Pod, b.Pod), strings.Compare(a.Container, b.Container))
	})
}

// candidate is a target and what the refusals need to know about its pod.
type candidate struct {
	plan.Target
	hostNetwork bool
	pod         *corev1.Pod
}

func targetOf(pod *corev1.Pod, container, id string) plan.Target {
	return plan.Target{
		Namespace:   pod.Namespace,
		Pod:         pod.Name,
		PodUID:      string(pod.UID),
		Container:   container,
		ContainerID: id,
		Node:        pod.Spec.NodeName,
		PodIPs:      podIPs(pod),
	}
}

func podIPs(pod *corev1.Pod) []string {
	var ips []string
	for _, ip := range pod.Status.PodIPs {
		if ip.IP != "" {
			ips = append(ips, ip.IP)
		}
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = []string{pod.Status.PodIP}
	}
	return ips
}

// resolver does the API calls, turning errors into exit.APIError / exit.UsageError.
type resolver struct {
	c kubernetes.Interface
}

// podsOf returns the pods of one TYPE/NAME reference: one Get, and for controllers and
// services one pod List with their selector.
func (r resolver) podsOf(ctx context.Context, ns string, ref Ref) ([]corev1.Pod, error) {
	var sel *metav1.LabelSelector
	var err error
	switch ref.Kind {
	case KindPod:
		pod, err := r.c.CoreV1().Pods(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		if err != nil {
			return nil, apiError(err, "get", "pods", ns, ref)
		}
		return []corev1.Pod{*pod}, nil
	case KindDeployment:
		d, e := r.c.AppsV1().Deployments(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		err = e
		if err == nil {
			sel = d.Spec.Selector
		}
	case KindStatefulSet:
		s, e := r.c.AppsV1().StatefulSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		err = e
		if err == nil {
			sel = s.Spec.Selector
		}
	case KindDaemonSet:
		d, e := r.c.AppsV1().DaemonSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		err = e
		if err == nil {
			sel = d.Spec.Selector
		}
	case KindReplicaSet:
		s, e := r.c.AppsV1().ReplicaSets(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		err = e
		if err == nil {
			sel = s.Spec.Selector
		}
	case KindJob:
		j, e := r.c.BatchV1().Jobs(ns).Get(ctx, ref.Name, metav1.GetOptions{})
		err = e
		if err == nil {
			sel = j.Spec.Selector
		}
	case KindService:
		_, pods, err := r.service(ctx, ns, ref, true)
		return pods, err
	default:
		return nil, exit.Usagef("%s: unsupported kind", ref)
	}
	if err != nil {
		return nil, apiError(err, "get", resourceOf[ref.Kind], ns, ref)
	}
	ls, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return nil, exit.Usagef("%s in namespace %s has an invalid selector: %v", ref, ns, err)
	}
	if ls.Empty() || sel == nil {
		return nil, exit.Usagef("%s in namespace %s has an empty selector, which would match every pod: target its pods with -l instead", ref, ns)
	}
	return r.listPods(ctx, ns, metav1.ListOptions{LabelSelector: ls.String()})
}

// service gets a Service and lists the pods its selector matches (none without a
// selector, or an error if needSelector).
func (r resolver) service(ctx context.Context, ns string, ref Ref, needSelector bool) (*corev1.Service, []corev1.Pod, error) {
	svc, err := r.c.CoreV1().Services(ns).Get(ctx, ref.Name, metav1.GetOptions{})
	if err != nil {
		return nil, nil, apiError(err, "get", "services", ns, ref)
	}
	if len(svc.Spec.Selector) == 0 {
		if needSelector {
			return nil, nil, exit.Usagef("%s in namespace %s has no selector (its endpoints are managed by hand): target its pods instead", ref, ns)
		}
		return svc, nil, nil
	}
	pods, err := r.listPods(ctx, ns, metav1.ListOptions{LabelSelector: labels.SelectorFromSet(svc.Spec.Selector).String()})
	return svc, pods, err
}

// podsNamed lists the namespace once and keeps the named pods; missing names are an error.
func (r resolver) podsNamed(ctx context.Context, ns string, names []string) ([]corev1.Pod, error) {
	opts := metav1.ListOptions{}
	if len(names) == 1 {
		// Let the server filter; the result is still checked by name below.
		opts.FieldSelector = "metadata.name=" + names[0]
	}
	all, err := r.listPods(ctx, ns, opts)
	if err != nil {
		return nil, err
	}
	byName := map[string]corev1.Pod{}
	for _, p := range all {
		byName[p.Name] = p
	}
	var pods []corev1.Pod
	var missing []string
	for _, n := range names {
		if p, ok := byName[n]; ok {
			pods = append(pods, p)
		} else {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return nil, exit.Usagef("pod(s) not found in namespace %s: %s", ns, strings.Join(missing, ", "))
	}
	return pods, nil
}

func (r resolver) listPods(ctx context.Context, ns string, opts metav1.ListOptions) ([]corev1.Pod, error) {
	l, err := r.c.CoreV1().Pods(ns).List(ctx, opts)
	if err != nil {
		return nil, apiError(err, "list", "pods", ns, Ref{})
	}
	return l.Items, nil
}

var resourceOf = map[Kind]string{
	KindPod: "pods", KindDeployment: "deployments.apps", KindStatefulSet: "statefulsets.apps",
	KindDaemonSet: "daemonsets.apps", KindReplicaSet: "replicasets.apps", KindJob: "jobs.batch",
	KindService: "services",
}

// apiError classifies an API error: a missing named object is a usage error; RBAC
// denial says which permission is missing; the rest are API errors.
func apiError(err error, verb, resource, ns string, ref Ref) error {
	where := "in namespace " + ns
	nsFlag := "-n " + ns
	if ns == "" {
		where, nsFlag = "in all namespaces", "-A"
	}
	what := resource
	if ref.Name != "" {
		what = ref.String()
	}
	switch {
	case apierrors.IsNotFound(err) && ref.Name != "":
		return exit.Usagef("%s not found %s", ref, where)
	case apierrors.IsForbidden(err):
		return exit.APIError(fmt.Errorf("%s %s %s: forbidden: you need permission to %s %s %s (check: kubectl auth can-i %s %s %s): %w",
			verb, what, where, verb, resource, where, verb, resource, nsFlag, err))
	}
	return exit.APIError(fmt.Errorf("%s %s %s: %w", verb, what, where, err))
}
