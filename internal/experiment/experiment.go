// Package experiment is the engine shared by every fault verb: the common flags, pure
// validation, the experiment ID, target resolution, one plan and one helper pod per
// node, and then either the exact dry-run plan or the live session with its events and
// final report.
package experiment

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/procstart"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/target"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/version"
	"github.com/kubectl-chaos/kubectl-chaos/internal/warmkeys"
)

// Defaults and bounds of the common flags.
const (
	DefaultDuration    = 5 * time.Minute
	DefaultMaxDuration = time.Hour
	DefaultMaxTargets  = 50
	// MinDuration keeps a fault long enough to be applied and observed.
	MinDuration = time.Second
	// CeilingMaxDuration bounds --max-duration itself: a week is already absurd for a
	// fault that rides on a terminal session.
	CeilingMaxDuration = 7 * 24 * time.Hour
)

// ConfigurableFlags are the common flags that KUBECTL_CHAOS_* env variables and the
// config file may set (flag name = config key).
var ConfigurableFlags = []string{
	"duration", "max-duration", "image", "image-pull-policy", "helper-namespace",
	"runtime-socket", "max-targets", "output", "mode", "allow-system", "allow-host-network", "events",
}

// Options are the common inputs of a fault verb plus the dependencies it uses.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Attacher   func() (session.Attacher, error)
	Namespace  func() (string, error)
	Owner      func() string
	Now        func() time.Time
	// EventClient writes the Kubernetes Events on the target pods: a client of its
	// own, so they take no tokens from the fault's requests (nil: no Events).
	EventClient func() (kubernetes.Interface, error)
	// NewID makes the experiment ID (tests pin it).
	NewID func() string

	Target target.Options
	Fault  plan.Fault

	Duration time.Duration
	// DurationSet: --duration was given on the command line (a one-shot fault refuses
	// it; a default from the environment or the config file is not refused).
	DurationSet bool
	MaxDuration time.Duration
	Detach      bool
	WaitCleanup bool
	DryRun      bool
	// Quiet: no progress on stderr but errors (no live view, no event lines).
	Quiet           bool
	Output          string
	Yes             bool
	HelperNamespace string
	Image           string
	ImagePullPolicy string
	RuntimeSocket   string
	// Events: write Kubernetes Events on the target pods (--events).
	Events bool
	// History is where the run is recorded (kubectl chaos history); Dir "": nowhere.
	History history.Store
	// cmd is the verb's command (its command line for the history); record collects
	// what the history entry says of the run.
	cmd    *cobra.Command
	record *runRecord
	// OnReport, when set, receives the final report before it is printed (kubectl chaos
	// run collects each step's report for its own JSON and JUnit reports).
	OnReport func(*Prepared, *session.Report)
	// Helpers, when set, are a kubectl chaos run's helpers: the experiment's plans go to
	// them over stdin instead of to helper pods of its own.
	Helpers *session.Pool
	// Warm: use this owner's warm helpers (kubectl chaos warm) on the nodes that have
	// one (--warm, default true); WarmKeys is where their step keys are kept.
	Warm     bool
	WarmKeys func() warmkeys.Store
	// warmRecordRenew is how often a step's record on its warm helpers is renewed
	// (0: session.WarmStepRenew; tests shorten it).
	warmRecordRenew time.Duration
}

// NewOptions wires the Factory's dependencies.
func NewOptions(f *factory.Factory) *Options {
	return &Options{
		IO:         f.IOStreams,
		KubeClient: f.KubeClient,
		Attacher:   f.Attacher,
		Namespace:  f.Namespace,
		Owner:      f.Owner,
		Now:        f.Now,
		NewID:      NewID,

		EventClient: f.EventClient,
		History:     history.Store{Dir: stateDir(f)},
		WarmKeys:    func() warmkeys.Store { return WarmKeys(f) },
	}
}

// WarmKeys is the store of the warm helpers' step keys for the cluster f's kubeconfig
// selects (its server URL and user@context).
func WarmKeys(f *factory.Factory) warmkeys.Store {
	host := ""
	if f.RESTConfig != nil {
		if cfg, err := f.RESTConfig(); err == nil {
			host = cfg.Host
		}
	}
	owner := ""
	if f.Owner != nil {
		owner = f.Owner()
	}
	return warmkeys.Store{Dir: stateDir(f), Cluster: host + " " + owner}
}

func stateDir(f *factory.Factory) string {
	if f.StateDir == nil {
		return ""
	}
	return f.StateDir()
}

// VerbAnnotation marks a fault verb's command (every command AddFlags is called on), so
// kubectl chaos run finds the verbs in the command tree and takes their flags as fields.
const VerbAnnotation = "kubectl-chaos/fault-verb"

// AddFlags registers the target and common experiment flags on cmd.
func AddFlags(cmd *cobra.Command, o *Options) {
	if cmd.Annotations == nil {
		cmd.Annotations = map[string]string{}
	}
	cmd.Annotations[VerbAnnotation] = "true"
	o.setCommand(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&o.Target.LabelSelector, "selector", "l", "", "Label selector for target pods (e.g. app=web,tier!=db)")
	fl.StringVar(&o.Target.FieldSelector, "field-selector", "", "Field selector for target pods (e.g. spec.nodeName=node-1)")
	fl.BoolVarP(&o.Target.AllNamespaces, "all-namespaces", "A", false, "Select target pods in all namespaces")
	fl.StringVarP(&o.Target.Container, "container", "c", "", "Target container (default: the pod's default container)")
	fl.StringVar(&o.Target.Mode, "mode", "all", "Which matching pods to hit: one, all, fixed=N, percent=P or random-max-percent=P (a random count up to P %)")
	fl.StringArrayVar(&o.Target.Nodes, "node", nil, "Only pods on this node (repeatable; filtered client-side)")
	fl.StringVar(&o.Target.NodeSelector, "node-selector", "", "Only pods on nodes with these labels (e.g. zone=a; filtered client-side)")
	fl.StringArrayVar(&o.Target.Annotations, "annotation", nil, "Only pods with this annotation KEY=VALUE (repeatable; filtered client-side)")
	fl.Int64Var(&o.Target.Seed, "seed", 0, "Seed for --mode one|fixed|percent, to reproduce a pick (0: random, printed)")
	fl.IntVar(&o.Target.MaxTargets, "max-targets", DefaultMaxTargets, "Refuse to act on more target containers than this")
	fl.BoolVar(&o.Target.AllowSystem, "allow-system", false, "Allow targets in kube-system and other system namespaces")
	fl.BoolVar(&o.Target.AllowHostNetwork, "allow-host-network", false, "Allow hostNetwork pods as targets (the fault then hits the node's network)")

	fl.DurationVar(&o.Duration, "duration", DefaultDuration, "How long the fault lasts; it is removed after that, whatever happens")
	fl.DurationVar(&o.MaxDuration, "max-duration", DefaultMaxDuration, "Upper bound for --duration (a guard against typos)")
	fl.BoolVar(&o.Detach, "detach", false, "Create the helpers and return the experiment ID at once; the fault lasts --duration or until kubectl chaos stop")
	fl.BoolVar(&o.Warm, "warm", true, "Use your warm helpers (kubectl chaos warm) on the nodes that have one: the fault starts without a pod start; --warm=false always creates helpers (--detach always does)")
	fl.BoolVar(&o.WaitCleanup, "wait-cleanup", false, "After the fault is recovered, also wait until the helper pods are gone (default: return once their deletion is accepted)")
	fl.BoolVar(&o.DryRun, "dry-run", false, "Print the exact plan (targets, helper pods, kernel objects and how each is removed) and create nothing")
	fl.StringVarP(&o.Output, "output", "o", "", "Output format of the plan or final report: json or yaml (default human)")
	fl.BoolVarP(&o.Yes, "yes", "y", false, "Do not ask for confirmation")
	fl.BoolVarP(&o.Quiet, "quiet", "q", false, "Print no progress on stderr (no live view, no event lines), only errors and the final report")
	fl.StringVar(&o.HelperNamespace, "helper-namespace", helperpod.DefaultNamespace, "Namespace of the helper pods (created with Pod Security \"privileged\" if missing)")
	fl.StringVar(&o.Image, "image", version.DefaultImage(), "Agent image of the helper pods")
	fl.StringVar(&o.ImagePullPolicy, "image-pull-policy", string(corev1.PullIfNotPresent), "Image pull policy of the helper pods: Always, IfNotPresent or Never")
	fl.StringVar(&o.RuntimeSocket, "runtime-socket", helperpod.DefaultRuntimeSocket, "Container runtime (containerd) socket on the nodes")
	fl.BoolVar(&o.Events, "events", true, "Write Kubernetes Events (ChaosInjected, ChaosRecovered, ChaosFailed) on the target pods, in the background: they never delay the fault")

	_ = cmd.RegisterFlagCompletionFunc("mode", cobra.FixedCompletions([]string{"one", "all", "fixed=", "percent=", "random-max-percent="}, cobra.ShellCompDirectiveNoSpace))
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	_ = cmd.RegisterFlagCompletionFunc("image-pull-policy", cobra.FixedCompletions([]string{"Always", "IfNotPresent", "Never"}, cobra.ShellCompDirectiveNoFileComp))
}

// Validate checks everything that does not need the cluster. Errors name the flag and
// the accepted values and are exit.UsageError.
func (o *Options) Validate() error {
	if err := o.validate(); err != nil {
		var ee *exit.Error
		if errors.As(err, &ee) {
			return err
		}
		return exit.UsageError(err)
	}
	return nil
}

func (o *Options) validate() error {
	if len(o.Target.Args) == 0 && o.Target.LabelSelector == "" && o.Target.FieldSelector == "" {
		return fmt.Errorf("no target: give TYPE/NAME (pod, deploy, sts, ds, rs, job, svc), a pod name, -l/--selector or --field-selector")
	}
	if err := o.Target.Validate(); err != nil {
		return err
	}
	if o.MaxDuration <= 0 || o.MaxDuration > CeilingMaxDuration {
		return fmt.Errorf("--max-duration must be between %s and %s, got %s", MinDuration, fmtDur(CeilingMaxDuration), fmtDur(o.MaxDuration))
	}
	if o.Duration < MinDuration || o.Duration > o.MaxDuration {
		return fmt.Errorf("--duration must be between %s and --max-duration (%s), got %s", MinDuration, fmtDur(o.MaxDuration), fmtDur(o.Duration))
	}
	if err := ui.ValidateFormat(o.Output); err != nil {
		return err
	}
	if err := ValidateHelperFlags(o.HelperNamespace, o.Image, o.ImagePullPolicy, o.RuntimeSocket); err != nil {
		return err
	}
	if o.Detach && o.DryRun {
		return fmt.Errorf("--detach and --dry-run exclude each other: --dry-run creates nothing to detach from")
	}
	return validateFault(o.Fault, o.DurationSet, o.Detach)
}

// validateFault runs the kind's checks of the spec, then what the kind says of this
// spec: a one-shot fault takes no --duration, and some faults cannot be detached.
func validateFault(f plan.Fault, durationSet, detach bool) error {
	e, err := catalog.For(f)
	if err != nil {
		return err
	}
	if err := e.Validate(f); err != nil {
		return err
	}
	if durationSet && e.OneShot(f) {
		return fmt.Errorf("--duration does not apply to %s: it is done once, with nothing held or undone afterwards", f.Summary())
	}
	if why := e.NoDetach(f); detach && why != "" {
		return fmt.Errorf("--detach is refused: %s", why)
	}
	return nil
}

// ValidateHelperFlags checks the flags that shape helper pods (every fault verb's, and
// gc's for its sweep pods): --helper-namespace, --image, --image-pull-policy,
// --runtime-socket.
func ValidateHelperFlags(namespace, image, pullPolicy, runtimeSocket string) error {
	switch corev1.PullPolicy(pullPolicy) {
	case corev1.PullAlways, corev1.PullIfNotPresent, corev1.PullNever:
	default:
		return fmt.Errorf("--image-pull-policy must be Always, IfNotPresent or Never, got %q", pullPolicy)
	}
	if errs := validation.IsDNS1123Label(namespace); len(errs) > 0 {
		return fmt.Errorf("--helper-namespace must be a valid namespace name (%s), got %q", strings.Join(errs, "; "), namespace)
	}
	if image == "" || strings.ContainsAny(image, " \t\n") {
		return fmt.Errorf("--image must be an image reference like %s, got %q", version.DefaultImage(), image)
	}
	if !path.IsAbs(runtimeSocket) {
		return fmt.Errorf("--runtime-socket must be an absolute path on the node like %s, got %q", helperpod.DefaultRuntimeSocket, runtimeSocket)
	}
	return nil
}

// fmtDur prints a duration without trailing zero units: 1h, 1h30m, 90s.
func fmtDur(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// base32 alphabet in lower case, so IDs are valid label values and DNS labels.
const idAlphabet = "abcdefghijklmnopqrstuvwxyz234567"

// NewID returns "chaos-" and 8 random lowercase base32 characters.
func NewID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	out := make([]byte, len(b))
	for i, c := range b {
		out[i] = idAlphabet[int(c)%len(idAlphabet)]
	}
	return "chaos-" + string(out)
}

// Prepared is a resolved experiment, ready to print (dry-run) or run.
type Prepared struct {
	ID        string
	Owner     string
	CreatedAt time.Time
	Deadline  time.Time
	Selection *target.Selection
	Plans     []*plan.Plan
	Pods      []*corev1.Pod
	Fault     plan.Fault
	// TargetPods are the target pods as read for the kind's Check and Follow steps
	// (nil when it has neither); Notes are what Check said about them.
	TargetPods []*corev1.Pod
	Notes      []string
}

// Prepare resolves targets (and partition peers) and builds one plan and one helper
// pod per node. It only reads from the cluster.
func (o *Options) Prepare(ctx context.Context, c kubernetes.Interface) (*Prepared, error) {
	if o.Target.Namespace == "" && o.Namespace != nil {
		ns, err := o.Namespace()
		if err != nil {
			return nil, err
		}
		o.Target.Namespace = ns
	}
	sel, err := target.Resolve(ctx, c, o.Target)
	if err != nil {
		return nil, exit.AsAPIError("resolving targets", err)
	}
	if sel == nil || len(sel.Targets) == 0 {
		return nil, exit.Usagef("no running pod matches the target (TYPE/NAME, -l, --field-selector, -n): nothing to do")
	}
	entry, err := catalog.For(o.Fault)
	if err != nil {
		return nil, exit.UsageError(err)
	}
	// The kind's completion step works on the engine's own copy of the spec.
	f := o.Fault.Clone()
	if err := entry.Complete(ctx, c, o.Target.Namespace, f); err != nil {
		return nil, exit.AsAPIError("completing the "+f.Kind+" fault", err)
	}
	if err := entry.Validate(f); err != nil {
		return nil, exit.UsageError(err)
	}

	now := time.Now
	if o.Now != nil {
		now = o.Now
	}
	newID := NewID
	if o.NewID != nil {
		newID = o.NewID
	}
	owner := "unknown"
	if o.Owner != nil {
		owner = o.Owner()
	}
	p := &Prepared{
		ID:        newID(),
		Owner:     owner,
		Selection: sel,
		Fault:     f,
	}
	if err := p.check(ctx, c, entry); err != nil {
		return nil, err
	}
	if err := p.Stamp(o, now()); err != nil {
		return nil, err
	}
	return p, nil
}

// Stamp (re)builds the per-node plans and helper pods with the experiment starting at
// created, so the fault lasts --duration from when it really starts (after a
// confirmation prompt, say), not from when the targets were resolved.
func (p *Prepared) Stamp(o *Options, created time.Time) error {
	created = created.UTC()
	p.CreatedAt = created
	p.Deadline = created.Add(o.Duration)
	p.Plans, p.Pods = nil, nil
	if e, err := catalog.For(p.Fault); err == nil && e.APIOnly() {
		return nil // the API alone does this fault: no plan, no helper pod
	}
	for _, node := range p.Selection.Nodes {
		pl := &plan.Plan{
			Version:    plan.Version,
			Experiment: p.ID,
			Node:       node,
			Owner:      p.Owner,
			CreatedAt:  created,
			Deadline:   p.Deadline,
			Detached:   o.Detach,
			Fault:      p.Fault,
			Targets:    p.Selection.ByNode[node],
			Runtime:    plan.Runtime{Endpoint: o.RuntimeSocket, Namespace: "k8s.io"},
			JournalDir: plan.DefaultJournalDir,
		}
		pod, err := helperpod.Build(helperpod.Options{
			Plan:            pl,
			Namespace:       o.HelperNamespace,
			Image:           o.Image,
			ImagePullPolicy: corev1.PullPolicy(o.ImagePullPolicy),
			RuntimeSocket:   o.RuntimeSocket,
		})
		if err != nil {
			return fmt.Errorf("building the helper pod for node %s: %w", node, err)
		}
		p.Plans = append(p.Plans, pl)
		p.Pods = append(p.Pods, pod)
	}
	return nil
}

func (o *Options) clock() time.Time {
	if o.Now != nil {
		return o.Now()
	}
	return time.Now()
}

type takeOverKey struct{}

// WithTakeOver returns a context under which Run hands the verb's parsed and validated
// Options to take instead of running the experiment: kubectl chaos run builds each
// scenario step through the verb's own command (flags, units, validation), then runs it
// when the scenario says.
func WithTakeOver(ctx context.Context, take func(*Options) error) context.Context {
	return context.WithValue(ctx, takeOverKey{}, take)
}

// Run resolves, then prints the plan (--dry-run) or runs the session.
func Run(ctx context.Context, o *Options) error {
	if take, ok := ctx.Value(takeOverKey{}).(func(*Options) error); ok {
		return take(o)
	}
	return runRecorded(o, func() error { return run(ctx, o) })
}

// RunOwned runs o as Run does, for a caller that took it over with WithTakeOver.
func RunOwned(ctx context.Context, o *Options) error {
	return run(context.WithValue(ctx, takeOverKey{}, nil), o)
}

func run(ctx context.Context, o *Options) error {
	traceStart()
	c, err := o.KubeClient()
	if err != nil {
		return err
	}
	warm := o.findWarm(ctx, c) // and attach, while the targets resolve
	defer warm.release()
	p, err := o.Prepare(ctx, c)
	if err != nil {
		return err
	}
	session.Step("cli-targets-resolved", time.Now())
	if o.DryRun {
		if w := o.warmFor(warm, p); len(w) > 0 {
			printWarmPlan(o.IO.ErrOut, w)
		}
		return PrintDryRun(o.IO, o.Output, p, o)
	}
	if !o.Quiet {
		printPicks(o, p)
	}
	if !o.Yes && o.IO.CanPrompt() {
		ok, err := confirm(o.IO, p, o)
		if err != nil {
			return err
		}
		if !ok {
			return exit.Usagef("aborted: nothing was created")
		}
		if err := p.Stamp(o, o.clock()); err != nil {
			return err
		}
	}
	o.noteRun(p) // confirmed: from here on the run goes to the history
	e, err := catalog.For(p.Fault)
	if err != nil {
		return exit.UsageError(err)
	}
	pe := o.newPodEvents(p, e.APIOnly(), e.OneShot(p.Fault))
	defer pe.close(o.IO.ErrOut)
	if e.APIOnly() {
		return runAPI(ctx, o, p, c, e, pe)
	}
	use := o.warmFor(warm, p)
	early := warm.takeEarly(use)
	warm.release() // now: an early attach the fault does not use ends before it runs
	return runHelpers(ctx, o, p, c, e, pe, use, early)
}

// announce says what is about to happen: the fault, on how much, for how long and how
// it ends.
func announce(w io.Writer, o *Options, p *Prepared, e *catalog.Entry) {
	how := "Ctrl-C stops and recovers"
	if o.Detach {
		how = "detached: kubectl chaos stop " + p.ID + " ends it early"
	}
	lasts := "for " + o.Duration.String()
	if e.OneShot(p.Fault) {
		lasts = "once (one-shot: nothing to undo)"
	}
	fmt.Fprintf(w, "experiment %s: %s on %d target(s) on %d node(s) %s (%s)\n",
		p.ID, p.Fault.Summary(), len(p.Selection.Targets), len(p.Selection.Nodes), lasts, how)
}

// runHelpers runs p through one helper pod per node, and follows what the fault set
// off on each target (a killed container's restart) for the report.
func runHelpers(ctx context.Context, o *Options, p *Prepared, c kubernetes.Interface, e *catalog.Entry, pe *podEvents,
	warm map[string]session.WarmHelper, early *session.Pool) error {
	ev := newEventPrinter(o.IO)
	sctx, stopAll := context.WithCancel(ctx)
	defer stopAll()
	out := newSessionOutput(o, p, ev, stopAll)
	var follows []follower
	for _, t := range p.Selection.Targets {
		if fl, ok := startFollow(ctx, c, e, p.Fault, podOf(p.TargetPods, t), t.Container, t.String()); ok {
			follows = append(follows, fl)
		}
	}
	if !o.Events {
		markEventsOff(p.Pods)
	}
	rep, runErr := runSessions(ctx, sctx, o, p, c, e, warm, early, out, pe)
	out.close()
	pe.report(rep)
	if rep != nil && !o.Detach {
		rep.Followed = runFollows(ctx, out.after(o.IO.ErrOut), follows)
	}
	if rep != nil {
		if rep.Experiment == "" {
			rep.Experiment = p.ID
		}
		if rep.Fault == "" {
			rep.Fault = p.Fault.Summary()
		}
		if o.OnReport != nil {
			o.OnReport(p, rep)
		}
		if err := PrintReport(o.IO, o.Output, rep); err != nil && runErr == nil {
			runErr = err
		}
		if bad := followErrors(rep.Followed); len(bad) > 0 && runErr == nil {
			runErr = exit.FaultError(fmt.Errorf("what the fault set off was not seen: %s", strings.Join(bad, "; ")))
		}
	}
	if runErr != nil {
		var ee *exit.Error
		if !errors.As(runErr, &ee) {
			runErr = exit.APIError(runErr)
		}
	}
	return runErr
}

// traceStart logs (-v) when this binary's package inits began (≈ its exec: run as a
// kubectl plugin, what comes before is kubectl's own start) and when main began (the
// inits done), so make bench-e2e splits "CLI start → helper create sent" (issue 17).
func traceStart() {
	now := time.Now()
	session.Step("cli-init", now.Add(-time.Duration(procstart.SinceInit())))
	if d := procstart.SinceMain(); d >= 0 {
		session.Step("cli-main", now.Add(-time.Duration(d)))
	}
}

// printPicks says, before anything happens, which pods --mode picked (with the seed
// that repeats the pick) and what the kind's Check said about the targets.
func printPicks(o *Options, p *Prepared) {
	w := o.IO.ErrOut
	if m := o.Target.Mode; m != "" && m != "all" {
		var pods []string
		seen := map[string]bool{}
		for _, t := range p.Selection.Targets {
			if name := t.Namespace + "/" + t.Pod; !seen[name] {
				seen[name] = true
				pods = append(pods, name)
			}
		}
		fmt.Fprintf(w, "--mode %s picked %s of %d matching pod(s) (--seed %d repeats the pick)\n",
			m, strings.Join(pods, ", "), p.Selection.Matched, p.Selection.Seed)
	}
	for _, n := range p.Notes {
		fmt.Fprintf(w, "note: %s\n", n)
	}
}

func confirm(io *ui.IOStreams, p *Prepared, o *Options) (bool, error) {
	fmt.Fprintf(io.ErrOut, "Inject %s into %d container(s) on %d node(s) for %s? [y/N] ",
		p.Fault.Summary(), len(p.Selection.Targets), len(p.Selection.Nodes), o.Duration)
	var answer string
	if _, err := fmt.Fscanln(io.In, &answer); err != nil {
		return false, nil
	}
	answer = strings.ToLower(strings.TrimSpace(answer))
	return answer == "y" || answer == "yes", nil
}
