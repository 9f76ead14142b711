// Package warm is `kubectl chaos warm [TARGET…|--node NAME…] --for DURATION` and
// `kubectl chaos warm --stop`: serving helpers started ahead of the fault commands, so
// a fault starts without a pod start (docs/agent.md, "Warm helpers").
package warm

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// Bounds of --for: a warm helper is a privileged pod on the node that waits for its
// owner's fault commands; a working day is the longest it makes sense to keep one.
const (
	DefaultFor = 30 * time.Minute
	MinFor     = time.Minute
	MaxFor     = 12 * time.Hour
)

// Options of warm.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Attacher   func() (session.Attacher, error)
	Namespace  func() (string, error)
	Owner      func() string
	Keys       func() warmkeys.Store
	NewID      func() string

	Target          target.Options
	Nodes           []string
	For             time.Duration
	Stop            bool
	DryRun          bool
	Output          string
	HelperNamespace string
	Image           string
	ImagePullPolicy string
	RuntimeSocket   string
}

// NewCmdWarm returns the command; runF replaces the run (tests).
func NewCmdWarm(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	o := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, Attacher: f.Attacher, Namespace: f.Namespace,
		Owner: f.Owner, Keys: func() warmkeys.Store { return experiment.WarmKeys(f) }, NewID: experiment.NewID}
	cmd := &cobra.Command{
		Use:   "warm [TARGET…|--node NAME…] [--for DURATION] | --stop",
		Short: "Start serving helpers on nodes ahead of your fault commands, so a fault starts without a pod start",
		Long: `Start one serving helper per node (the nodes of the targets, or --node), labelled as warm
and as yours, until now + --for. Your later attached fault commands on those nodes send their
plan to it instead of creating a helper pod: the fault is active without a pod start. Each
step on a warm helper is bound to its CLI's heartbeat (recovered 5 s after the CLI is gone).
The step key lives in your state directory: other users and machines do not use your helpers.
kubectl chaos warm --stop deletes your warm helpers; gc removes expired ones.`,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Target.Args = args
			if err := o.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(o)
			}
			if o.Stop {
				return stopRun(cmd.Context(), o)
			}
			return warmRun(cmd.Context(), o)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&o.Nodes, "node", nil, "Warm this node (repeatable) instead of the targets' nodes")
	fl.StringVarP(&o.Target.LabelSelector, "selector", "l", "", "Warm the nodes of the pods with these labels")
	fl.BoolVarP(&o.Target.AllNamespaces, "all-namespaces", "A", false, "Select target pods in all namespaces")
	fl.DurationVar(&o.For, "for", DefaultFor, fmt.Sprintf("How long the warm helpers wait for your fault commands (%s to %s)", MinFor, MaxFor))
	fl.BoolVar(&o.Stop, "stop", false, "Delete your warm helpers (each recovers any step it still holds)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Say which helpers would be created, and create nothing")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format: json or yaml (default human)")
	fl.StringVar(&o.HelperNamespace, "helper-namespace", helperpod.DefaultNamespace, "Namespace of the helper pods")
	fl.StringVar(&o.Image, "image", version.DefaultImage(), "Agent image of the helper pods")
	fl.StringVar(&o.ImagePullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "Image pull policy of the helper pods: Always, IfNotPresent or Never")
	fl.StringVar(&o.RuntimeSocket, "runtime-socket", helperpod.DefaultRuntimeSocket, "Container runtime (containerd) socket on the nodes")
	return cmd
}

// Validate checks the flags; nothing is created before.
func (o *Options) Validate() error {
	hasTargets := len(o.Target.Args) > 0 || o.Target.LabelSelector != ""
	switch {
	case o.Stop && (hasTargets || len(o.Nodes) > 0 || o.DryRun):
		return exit.Usagef("--stop takes no targets, --node or --dry-run: it deletes all your warm helpers")
	case !o.Stop && !hasTargets && len(o.Nodes) == 0:
		return exit.Usagef("warm: give targets (TYPE/NAME, -l) whose nodes to warm, or --node NAME")
	case hasTargets && len(o.Nodes) > 0:
		return exit.Usagef("warm: give targets or --node, not both")
	case o.For < MinFor || o.For > MaxFor:
		return exit.Usagef("--for must be between %s and %s, got %s", MinFor, MaxFor, o.For)
	}
	for _, n := range o.Nodes {
		if n == "" {
			return exit.Usagef("--node must name a node, got an empty name")
		}
	}
	if err := ui.ValidateFormat(o.Output); err != nil {
		return exit.UsageError(err)
	}
	if err := experiment.ValidateHelperFlags(o.HelperNamespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket); err != nil {
		return exit.UsageError(err)
	}
	return nil
}

// Helper is one warm helper as printed.
type Helper struct {
	Node      string    `json:"node"`
	Namespace string    `json:"namespace"`
	Pod       string    `json:"pod"`
	UID       string    `json:"uid,omitempty"`
	Deadline  time.Time `json:"deadline"`
}

func warmRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	nodes, err := o.nodes(ctx, c)
	if err != nil {
		return err
	}
	id, owner := o.NewID(), o.Owner()
	now := time.Now().UTC()
	deadline := now.Add(o.For)
	build := func(pl *plan.Plan) (*corev1.Pod, error) {
		return helperpod.Build(helperpod.Options{Plan: pl, Namespace: o.HelperNamespace, Image: o.Image,
			ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy), RuntimeSocket: o.RuntimeSocket})
	}
	if o.DryRun {
		var out []Helper
		for _, n := range nodes {
			pl := &plan.Plan{Version: plan.Version, Experiment: id, Node: n, CreatedAt: now, Deadline: deadline}
			out = append(out, Helper{Node: n, Namespace: o.HelperNamespace, Pod: helperpod.Name(pl.Experiment, n), Deadline: deadline})
		}
		fmt.Fprintf(o.IO.ErrOut, "dry run: would create %d warm helper(s), nothing is created\n", len(out))
		return o.print(out)
	}
	keys := o.Keys()
	if keys.Dir == "" {
		return exit.Usagef("warm: no state directory to keep the helpers' step keys in ($XDG_STATE_HOME or $HOME)")
	}
	if err := session.EnsureNamespace(ctx, c, helperpod.Namespace(o.HelperNamespace)); err != nil {
		return exit.AsAPIError("preparing the helper namespace "+o.HelperNamespace, err)
	}
	att, err := o.Attacher()
	if err != nil {
		return err
	}
	pool, err := session.StartPool(ctx, session.PoolOptions{Client: c, Attacher: att, Namespace: o.HelperNamespace,
		ID: id, Owner: owner, Deadline: deadline, RuntimeSocket: o.RuntimeSocket, Build: build, Warm: true,
		Progress: o.IO.ErrOut})
	if err != nil {
		return err
	}
	hs, err := pool.Warm(ctx, nodes)
	if err == nil {
		err = keep(keys, hs)
	}
	if err != nil {
		pool.Close() // stop and delete what was created
		return exit.APIError(fmt.Errorf("warming nodes: %w", err))
	}
	pool.Detach()
	out := make([]Helper, 0, len(hs))
	for _, h := range hs {
		out = append(out, Helper{Node: h.Pod.Spec.NodeName, Namespace: h.Pod.Namespace, Pod: h.Pod.Name, UID: string(h.Pod.UID), Deadline: deadline})
	}
	return o.print(out)
}

// keep writes each helper's step key to the state directory.
func keep(keys warmkeys.Store, hs []session.WarmHelper) error {
	var errs []error
	for _, h := range hs {
		errs = append(errs, keys.Put(warmkeys.Entry{UID: string(h.Pod.UID), Namespace: h.Pod.Namespace, Pod: h.Pod.Name,
			Node: h.Pod.Spec.NodeName, Deadline: session.PodDeadline(h.Pod), Key: h.Key}))
	}
	return errors.Join(errs...)
}

// nodes are the nodes to warm: --node, or the targets' nodes.
func (o *Options) nodes(ctx context.Context, c kubernetes.Interface) ([]string, error) {
	if len(o.Nodes) > 0 {
		n := slices.Clone(o.Nodes)
		slices.Sort(n)
		return slices.Compact(n), nil
	}
	t := o.Target
	if t.Namespace == "" && !t.AllNamespaces {
		ns, err := o.Namespace()
		if err != nil {
			return nil, err
		}
		t.Namespace = ns
	}
	t.Mode, t.MaxTargets = "all", 1<<20
	sel, err := target.Resolve(ctx, c, t)
	if err != nil {
		return nil, exit.AsAPIError("resolving targets", err)
	}
	if sel == nil || len(sel.Nodes) == 0 {
		return nil, exit.Usagef("no running pod matches the target: no node to warm")
	}
	return sel.Nodes, nil
}

func (o *Options) print(hs []Helper) error {
	if o.Output != "" {
		return ui.Print(o.IO.Out, o.Output, hs)
	}
	for _, h := range hs {
		fmt.Fprintf(o.IO.Out, "%s\t%s/%s\tuntil %s\n", h.Node, h.Namespace, h.Pod, h.Deadline.Format(time.RFC3339))
	}
	return nil
}
