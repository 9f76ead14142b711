// Package doctor is `kubectl chaos doctor`: what works on each node, and what the user
// may do, before an experiment finds out.
package doctor

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/doctor"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/rbac"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
)

// Options of doctor.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Namespace  func() (string, error)
	Now        func() time.Time
	Owner      func() string
	NewID      func() string
	// Probe runs the probe here (--local; tests replace it).
	Probe func() (doctor.Report, error)

	Nodes           []string
	Faults          []string
	Local           bool
	Output          string
	Timeout         time.Duration
	HelperNamespace string
	Image           string
	ImagePullPolicy string
	RuntimeSocket   string
}

// Result is what doctor found (-o json|yaml).
type Result struct {
	Nodes   []doctor.Report `json:"nodes"`
	Skipped []string        `json:"skipped,omitempty"`
	// PodSecurity is the helper namespace's enforce level ("" when not read).
	PodSecurity string `json:"podSecurity,omitempty"`
	// Denied are the permissions of `kubectl chaos rbac` the user lacks.
	Denied []string `json:"denied,omitempty"`
	// Blocked says, per selected fault, the nodes where it cannot work and why.
	Blocked map[string][]string `json:"blocked,omitempty"`
}

// NewCmdDoctor returns the command; runF replaces the run (tests).
func NewCmdDoctor(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, Namespace: f.Namespace, Now: f.Now, Owner: f.Owner,
		NewID: func() string { return strings.Replace(session.NewSweepID(), "chaos-gc-", "chaos-dr-", 1) },
		Probe: func() (doctor.Report, error) { return doctor.Probe(doctor.ProbeOptions{}) }}
	cmd := &cobra.Command{
		Use:   "doctor [NODE...] [--fault FAMILY.ACTION]",
		Short: "Check what works on each node and what you may do, before an experiment",
		Long: heredoc.Doc(`
			Check, on each node (every Ready node, or those named), what the fault kinds need:
			a short probe pod (the agent image, deleted when done) tries it there for real
			in a network namespace of its own, so nothing is left on the node. It reports
			the container runtime socket, the cgroup version and freezer, sch_netem (or the
			fallbacks: the NFQUEUE delay engine, nftables loss), tbf, nftables and its
			queue verdict (native, or the xt NFQUEUE target through nft_compat), FUSE and
			ptrace. It also reads the helper namespace's Pod Security level and asks the
			API server which permissions of "kubectl chaos rbac" you have.

			--fault narrows the checks to what those faults need; the exit code is then 3
			when one of them cannot work on one of the nodes. A network fault counts as
			working when its fallback does (network.delay without sch_netem: the NFQUEUE
			engine); FAULT:BACKEND asks for one backend, as --delay-backend etc. would pick
			it (network.delay:netem is 3 on a node without sch_netem). --local runs the probe on
			this machine, without a cluster (as root).
		`),
		Example: cmdutil.Examples(`
			kubectl chaos doctor
			kubectl chaos doctor worker-1 --fault network.delay
			kubectl chaos doctor --fault network.loss:netem --fault io.latency
			sudo kubectl chaos doctor --local
		`),
		GroupID:           cmdutil.GroupExperiments,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Nodes = args
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return run(cmd.Context(), opts)
		},
	}
	fl := cmd.Flags()
	fl.StringArrayVar(&opts.Faults, "fault", nil, "Only the checks this fault needs, exit 3 when it cannot work (repeatable; FAULT:BACKEND pins a network fault's backend, e.g. network.delay:netem): "+strings.Join(doctor.Faults(), ", "))
	fl.BoolVar(&opts.Local, "local", false, "Probe this machine instead of the cluster's nodes (needs root)")
	fl.StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	fl.DurationVar(&opts.Timeout, "timeout", session.DefaultSweepTimeout, "How long to wait for the probe pods")
	fl.StringVar(&opts.HelperNamespace, "helper-namespace", helperpod.DefaultNamespace, "Namespace of the probe pods (its Pod Security level is checked)")
	fl.StringVar(&opts.Image, "image", version.DefaultImage(), "Agent image of the probe pods")
	fl.StringVar(&opts.ImagePullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "Image pull policy of the probe pods: Always, IfNotPresent or Never")
	fl.StringVar(&opts.RuntimeSocket, "runtime-socket", helperpod.DefaultRuntimeSocket, "Container runtime (containerd) socket on the nodes")
	_ = cmd.RegisterFlagCompletionFunc("fault", cobra.FixedCompletions(doctor.Faults(), cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags (exit 1, nothing read or created).
func (o *Options) Validate() error {
	if err := ui.ValidateFormat(o.Output); err != nil {
		return exit.UsageError(err)
	}
	for _, f := range o.Faults {
		if err := doctor.CheckFault(f); err != nil {
			return exit.UsageError(err)
		}
	}
	if o.Local && len(o.Nodes) > 0 {
		return exit.Usagef("--local probes this machine: name no nodes with it")
	}
	if o.Timeout < time.Second || o.Timeout > 10*time.Minute {
		return exit.Usagef("--timeout must be between 1s and 10m0s, got %s", o.Timeout)
	}
	if err := experiment.ValidateHelperFlags(o.HelperNamespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket); err != nil {
		return exit.UsageError(err)
	}
	return nil
}

func run(ctx context.Context, o *Options) error {
	res := &Result{}
	var err error
	if o.Local {
		r, perr := o.Probe()
		if perr != nil {
			return exit.FaultError(perr)
		}
		res.Nodes = []doctor.Report{r}
	} else {
		err = o.cluster(ctx, res)
	}
	res.Blocked = blocked(res.Nodes, o.Faults)
	if perr := o.print(res); perr != nil {
		return perr
	}
	switch {
	case err != nil:
		return err
	case len(res.Blocked) > 0:
		var parts []string
		for _, f := range o.Faults {
			if n := res.Blocked[f]; len(n) > 0 {
				parts = append(parts, f+" on "+strings.Join(n, ", "))
			}
		}
		return exit.FaultError(fmt.Errorf("cannot work: %s", strings.Join(parts, "; ")))
	case len(res.Denied) > 0:
		return exit.APIError(fmt.Errorf("you lack %d permission(s) kubectl chaos uses: %s (kubectl chaos rbac prints the role)", len(res.Denied), strings.Join(res.Denied, ", ")))
	}
	return nil
}

func blocked(reports []doctor.Report, faults []string) map[string][]string {
	out := map[string][]string{}
	for _, f := range faults {
		for _, r := range reports {
			if b := doctor.Blockers(r, f); len(b) > 0 {
				name := r.Node
				if name == "" {
					name = "this machine"
				}
				out[f] = append(out[f], name+" ("+strings.Join(b, "; ")+")")
			}
		}
	}
	if len(out) == 0 {
		return nil
	}
	return out
}

// cluster fills res from the cluster: RBAC, Pod Security, then one probe pod per node.
func (o *Options) cluster(ctx context.Context, res *Result) error {
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	ns, err := o.Namespace()
	if err != nil {
		return err
	}
	access, err := rbac.Review(ctx, c, ns, o.HelperNamespace)
	if err != nil {
		return exit.AsAPIError("checking your permissions", err)
	}
	for _, a := range access {
		if !a.Allowed {
			res.Denied = append(res.Denied, a.String())
		}
	}
	res.PodSecurity = o.podSecurity(ctx, c)
	nodes, skipped, err := session.SelectNodes(ctx, c, o.Nodes)
	if err != nil {
		return err
	}
	for _, s := range skipped {
		res.Skipped = append(res.Skipped, s.Node+": "+s.Reason)
	}
	owner := ""
	if o.Owner != nil {
		owner = o.Owner()
	}
	pods, err := session.SweepPods(session.SweepOptions{ID: o.NewID(), Nodes: nodes, Owner: owner, Namespace: o.HelperNamespace,
		Image: o.Image, ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy), RuntimeSocket: o.RuntimeSocket, Probe: true}, o.Now())
	if err != nil {
		return err
	}
	// Probing is bounded and must not leave its pods on Ctrl-C.
	runs, err := session.RunSweeps(context.WithoutCancel(ctx), c, pods, o.Timeout)
	for _, r := range runs {
		rep := doctor.Report{Node: r.Node, Error: r.Error}
		if r.Message != "" {
			if jerr := json.Unmarshal([]byte(r.Message), &rep); jerr != nil {
				rep.Error = fmt.Sprintf("unreadable probe report: %v", jerr)
			}
			rep.Node = r.Node
		}
		res.Nodes = append(res.Nodes, rep)
	}
	if err != nil && exit.Code(err) == exit.Fault {
		return nil // the nodes that did not report are in the table and block every fault
	}
	return err
}

// podSecurity describes the helper namespace's Pod Security enforce level.
func (o *Options) podSecurity(ctx context.Context, c kubernetes.Interface) string {
	n, err := c.CoreV1().Namespaces().Get(ctx, o.HelperNamespace, metav1.GetOptions{})
	switch {
	case apierrors.IsNotFound(err):
		return "namespace " + o.HelperNamespace + " does not exist yet: it is created with enforce=privileged"
	case err != nil:
		return "not read: " + err.Error()
	}
	lvl, ok := n.Labels[session.LabelPSAEnforce]
	switch {
	case !ok:
		return "no enforce label on " + o.HelperNamespace + ": the cluster's default applies"
	case lvl == "privileged":
		return "privileged (" + o.HelperNamespace + " admits the helper pods)"
	}
	return lvl + ": " + o.HelperNamespace + " REJECTS the privileged helper pods (label it " + session.LabelPSAEnforce + "=privileged)"
}

func (o *Options) print(res *Result) error {
	if o.Output != ui.FormatHuman {
		return ui.Print(o.IO.Out, o.Output, res)
	}
	w := o.IO.Out
	if err := doctor.PrintTable(w, res.Nodes, o.Faults); err != nil {
		return err
	}
	for _, s := range res.Skipped {
		fmt.Fprintf(w, "skipped node %s\n", s)
	}
	if !o.Local {
		fmt.Fprintf(w, "\nPod Security: %s\n", res.PodSecurity)
		if len(res.Denied) == 0 {
			fmt.Fprintf(w, "RBAC: you have every permission of kubectl chaos rbac\n")
		} else {
			fmt.Fprintf(w, "RBAC: you lack %s\n", strings.Join(res.Denied, ", "))
		}
	}
	for _, f := range o.Faults {
		if b := res.Blocked[f]; len(b) > 0 {
			fmt.Fprintf(w, "%s: cannot work on %s\n", f, strings.Join(b, ", "))
		} else {
			fmt.Fprintf(w, "%s: can work on every node checked\n", f)
		}
	}
	return nil
}
