// Package target turns what the user typed (TYPE/NAME, bare pod names, -l,
// --field-selector, -n, -A, --mode, -c) into the containers to act on, grouped per node.
// Validation is pure; Resolve makes one List per selector.
package target

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
)

// Options are the targeting flags.
type Options struct {
	Namespace     string   // -n (the caller defaults it from the kubeconfig context; "" = default)
	AllNamespaces bool     // -A
	Args          []string // TYPE/NAME (pod, deploy, sts, ds, rs, job, svc and their long names) or bare pod names
	LabelSelector string   // -l
	FieldSelector string   // --field-selector
	Nodes         []string // --node: only pods on these nodes (client-side)
	NodeSelector  string   // --node-selector: only pods on nodes with these labels (client-side)
	Annotations   []string // --annotation k=v: only pods with these annotations (client-side)
	Mode          string   // --mode one|all|fixed=N|percent=P (default all)
	Seed          int64    // --seed; 0 = pick one (reported in Selection.Seed)
	Container     string   // -c; "" = the pod's default container
	MaxTargets    int      // --max-targets (DefaultMaxTargets = 50); must be ≥ 1

	AllowSystem      bool // --allow-system: allow kube-system (and other system) pods
	AllowHostNetwork bool // --allow-host-network: allow hostNetwork pods
}

// Selection is the resolved target set.
type Selection struct {
	Targets []plan.Target            // sorted by namespace/pod/container
	Nodes   []string                 // sorted node names
	ByNode  map[string][]plan.Target // node -> its targets
	Seed    int64                    // the seed used by --mode (to reproduce)
	Matched int                      // running pods that matched before --mode picked
	Filters []string                 // the client-side filters and what they kept
	// Pods are the picked targets' pods as Resolve listed them ("namespace/name"), so
	// that what looks at them before any change needs no request per pod.
	Pods map[string]*corev1.Pod
}
