// Package gc is `kubectl chaos gc`.
package gc

import (
	"context"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/podevents"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
)

// MaxTimeout bounds --timeout.
const MaxTimeout = 10 * time.Minute

// Options of gc.
type Options struct {
	IO          *ui.IOStreams
	KubeClient  func() (kubernetes.Interface, error)
	EventClient func() (kubernetes.Interface, error)
	Now         func() time.Time
	Owner       func() string
	// NewID names the gc run's sweep pods (tests pin it).
	NewID func() string

	Output          string
	DryRun          bool
	AllNodes        bool
	Nodes           []string
	Timeout         time.Duration
	HelperNamespace string
	Image           string
	ImagePullPolicy string
	RuntimeSocket   string
	Events          bool
}

// NewCmdGC returns the command; runF replaces the run (tests).
func NewCmdGC(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, EventClient: f.EventClient, Now: f.Now, Owner: f.Owner, NewID: session.NewSweepID}
	cmd := &cobra.Command{
		Use:   "gc",
		Short: "Collect what experiments left: expired helpers, changed pods past their deadline, node journals",
		Long: heredoc.Doc(`
			Collect what experiments left behind, for example after the CLI or an agent was killed:

			- delete helper pods past their deadline (plus 30s) or finished;
			- restore pods an API-only fault changed whose deadline has passed (from the undo
			  record on each pod);
			- run a short sweep-only helper pod on each node that may hold a journal of ours
			  (the nodes of the helper pods it finds, every Ready node with --all-nodes, or
			  --node NAME): it removes what the journal of a dead or expired experiment
			  records (qdiscs, nft tables, …) and reports it.

			The sweep pods are privileged helpers like an experiment's (same image, namespace
			and labels) and are deleted when they are done. Exit code 3 when a sweep or a
			restore failed: something may be left, the report says where.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos gc --dry-run
			kubectl chaos gc --all-nodes
			kubectl chaos gc --node worker-1 -o json
		`),
		Args:    cobra.NoArgs,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return gcRun(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print what would be deleted, restored and which sweep pods would be created; change nothing")
	fl.BoolVar(&opts.AllNodes, "all-nodes", false, "Sweep every Ready node, not only those of the helper pods found")
	fl.StringArrayVar(&opts.Nodes, "node", nil, "Sweep this node too (repeatable)")
	fl.DurationVar(&opts.Timeout, "timeout", session.DefaultSweepTimeout, "How long to wait for the sweep pods")
	fl.StringVar(&opts.HelperNamespace, "helper-namespace", helperpod.DefaultNamespace, "Namespace of the sweep pods")
	fl.StringVar(&opts.Image, "image", version.DefaultImage(), "Agent image of the sweep pods")
	fl.StringVar(&opts.ImagePullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "Image pull policy of the sweep pods: Always, IfNotPresent or Never")
	fl.StringVar(&opts.RuntimeSocket, "runtime-socket", helperpod.DefaultRuntimeSocket, "Container runtime (containerd) socket on the nodes")
	fl.BoolVar(&opts.Events, "events", true, podevents.LateFlagUsage)
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags (exit 1, nothing read or changed).
func (o *Options) Validate() error {
	if err := ui.ValidateFormat(o.Output); err != nil {
		return exit.UsageError(err)
	}
	if o.AllNodes && len(o.Nodes) > 0 {
		return exit.Usagef("--all-nodes already sweeps every node: give it or --node, not both")
	}
	for _, n := range o.Nodes {
		if errs := validation.IsDNS1123Subdomain(n); len(errs) > 0 {
			return exit.Usagef("--node %q is not a node name: %s", n, strings.Join(errs, "; "))
		}
	}
	if o.Timeout < time.Second || o.Timeout > MaxTimeout {
		return exit.Usagef("--timeout must be between 1s and %s, got %s", MaxTimeout, o.Timeout)
	}
	if err := experiment.ValidateHelperFlags(o.HelperNamespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket); err != nil {
		return exit.UsageError(err)
	}
	return nil
}

func gcRun(ctx context.Context, o *Options) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	owner := ""
	if o.Owner != nil {
		owner = o.Owner()
	}
	// Collecting is cleanup: Ctrl-C must not cut it short (the waits are bounded).
	rep, err := session.GC(context.WithoutCancel(ctx), c, session.GCOptions{
		Now: o.Now(), DryRun: o.DryRun, AllNodes: o.AllNodes, Nodes: o.Nodes,
		Sweep: session.SweepOptions{
			ID: o.NewID(), Owner: owner, Namespace: o.HelperNamespace, Image: o.Image,
			ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy), RuntimeSocket: o.RuntimeSocket, Timeout: o.Timeout,
		},
	})
	if rep != nil && !o.DryRun && o.Events {
		// The helpers gc deleted that ended with a result: their CLI is gone.
		defer podevents.WriteLate(ctx, o.IO.ErrOut, o.EventClient, c, podevents.FromHelpers(rep.Deleted))
	}
	if rep != nil {
		var perr error
		switch {
		case o.Output != ui.FormatHuman:
			perr = ui.Print(o.IO.Out, o.Output, rep)
		case o.DryRun:
			perr = printDryRun(o.IO, rep)
		default:
			perr = printReport(o.IO, o.Now(), rep)
		}
		if perr != nil && err == nil {
			err = perr
		}
	}
	return exit.AsAPIError("collecting what experiments left", err)
}
