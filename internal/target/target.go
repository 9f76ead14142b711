// Package target turns what the user typed (TYPE/NAME, bare pod names, -l,
// --field-selector, -n, -A, --mode, -c) into the containers to act on, grouped per node.
// Validation is pure; Resolve makes one List per selector.
package target

import (
	"context"
	"errors"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"k8s.io/client-go/kubernetes"
)

// Options are the targeting flags.
type Options struct {
	Namespace     string   // -n (the caller defaults it from the kubeconfig context)
	AllNamespaces bool     // -A
	Args          []string // TYPE/NAME (pod, deploy, sts, ds, rs, job, svc and their long names) or bare pod names
	LabelSelector string   // -l
	FieldSelector string   // --field-selector
	Mode          string   // --mode one|all|fixed=N|percent=P (default all)
	Seed          int64    // --seed; 0 = pick one (reported in Selection.Seed)
	Container     string   // -c; "" = the pod's default container
	MaxTargets    int      // --max-targets (default 50)

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
}

// Validate checks the options without the cluster. Errors name the flag and the
// accepted values, and are exit.UsageError.
func (o *Options) Validate() error {
	return errors.New("target: not implemented")
}

// Resolve lists the matching pods and picks the targets.
func Resolve(ctx context.Context, c kubernetes.Interface, o Options) (*Selection, error) {
	return nil, errors.New("target: not implemented")
}

// Peers resolves partition peers (--to pod/NAME, svc/NAME, deploy/NAME…, or a label
// selector "k=v,…") in namespace to CIDRs (/32 or /128 per pod IP, and a Service's
// cluster IPs). names are the display names.
func Peers(ctx context.Context, c kubernetes.Interface, namespace string, to []string) (cidrs, names []string, err error) {
	return nil, nil, errors.New("target: not implemented")
}
