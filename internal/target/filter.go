package target

import (
	"context"
	"fmt"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// filters are --node, --node-selector and --annotation, parsed. They narrow the pods the
// target expression matched, client-side: the API has no server-side filter for
// annotations, a node selector is a label of the node (not of the pod), and a field
// selector holds one spec.nodeName only.
type filters struct {
	nodes        []string
	nodeSelector labels.Selector
	annotations  map[string]string
}

func (f *filters) empty() bool {
	return f == nil || len(f.nodes) == 0 && f.nodeSelector == nil && len(f.annotations) == 0
}

func parseFilters(o *Options) (*filters, error) {
	f := &filters{}
	for _, n := range o.Nodes {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return nil, exit.Usagef("--node %q: not a node name: %s", n, errs[0])
		}
		if !slices.Contains(f.nodes, n) {
			f.nodes = append(f.nodes, n)
		}
	}
	if o.NodeSelector != "" {
		s, err := labels.Parse(o.NodeSelector)
		if err != nil {
			return nil, exit.Usagef("--node-selector %q: %v (node labels, e.g. topology.kubernetes.io/zone=a)", o.NodeSelector, firstLine(err))
		}
		f.nodeSelector = s
	}
	for _, a := range o.Annotations {
		k, v, ok := strings.Cut(a, "=")
		if !ok || k == "" {
			return nil, exit.Usagef("--annotation %q: want KEY=VALUE (the pod's annotation KEY has exactly VALUE)", a)
		}
		if errs := validation.IsQualifiedName(k); len(errs) > 0 {
			return nil, exit.Usagef("--annotation %q: %q is not an annotation key: %s", a, k, errs[0])
		}
		if f.annotations == nil {
			f.annotations = map[string]string{}
		}
		f.annotations[k] = v
	}
	return f, nil
}

// describe is what the filters are, for messages and the dry run.
func (f *filters) describe() []string {
	var out []string
	if len(f.nodes) > 0 {
		out = append(out, "--node "+strings.Join(f.nodes, ","))
	}
	if f.nodeSelector != nil {
		out = append(out, "--node-selector "+f.nodeSelector.String())
	}
	keys := make([]string, 0, len(f.annotations))
	for k := range f.annotations {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		out = append(out, "--annotation "+k+"="+f.annotations[k])
	}
	return out
}

// apply keeps the pods of each source that pass every filter, and returns the filter
// lines for the Selection: what was filtered and how many pods it kept. A node selector
// costs one List of nodes.
func (f *filters) apply(ctx context.Context, r resolver, sources []source) ([]string, error) {
	if f.empty() {
		return nil, nil
	}
	var selNodes map[string]bool
	if f.nodeSelector != nil {
		l, err := r.c.CoreV1().Nodes().List(ctx, metav1.ListOptions{LabelSelector: f.nodeSelector.String()})
		if err != nil {
			if apierrors.IsForbidden(err) {
				return nil, exit.APIError(fmt.Errorf("--node-selector: you may not list nodes (RBAC, see kubectl chaos rbac); use --node NAME instead: %w", err))
			}
			return nil, exit.APIError(fmt.Errorf("--node-selector: listing nodes: %w", err))
		}
		selNodes = map[string]bool{}
		for _, n := range l.Items {
			selNodes[n.Name] = true
		}
	}
	before, after := 0, 0
	for i := range sources {
		kept := sources[i].pods[:0:0]
		for _, p := range sources[i].pods {
			if f.keeps(&p, selNodes) {
				kept = append(kept, p)
			}
		}
		before += len(sources[i].pods)
		after += len(kept)
		sources[i].pods = kept
	}
	return []string{fmt.Sprintf("%s (client-side: kept %d of %d matched pods)", strings.Join(f.describe(), " "), after, before)}, nil
}

func (f *filters) keeps(p *corev1.Pod, selNodes map[string]bool) bool {
	if len(f.nodes) > 0 && !slices.Contains(f.nodes, p.Spec.NodeName) {
		return false
	}
	if selNodes != nil && !selNodes[p.Spec.NodeName] {
		return false
	}
	for k, v := range f.annotations {
		if got, ok := p.Annotations[k]; !ok || got != v {
			return false
		}
	}
	return true
}
