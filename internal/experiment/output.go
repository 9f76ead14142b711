package experiment

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// DryRun is the machine form (-o json|yaml) of --dry-run: everything that would be
// created, and how each thing is removed.
type DryRun struct {
	DryRun     bool          `json:"dryRun"`
	Experiment string        `json:"experiment"`
	Owner      string        `json:"owner"`
	Fault      plan.Fault    `json:"fault"`
	Summary    string        `json:"summary"`
	Duration   plan.Duration `json:"duration"`
	CreatedAt  time.Time     `json:"createdAt"`
	Deadline   time.Time     `json:"deadline"`
	Detached   bool          `json:"detached"`
	Mode       string        `json:"mode"`
	Seed       int64         `json:"seed"`
	// Matched is how many running pods matched before --mode picked.
	Matched int `json:"matched"`
	// Filters are the client-side filters (--node, --node-selector, --annotation) and
	// how many pods they kept.
	Filters []string      `json:"filters,omitempty"`
	Targets []plan.Target `json:"targets"`
	// HelperNamespace is created (Pod Security "privileged") if it does not exist.
	HelperNamespace string         `json:"helperNamespace"`
	Helpers         []DryRunHelper `json:"helpers"`
	Objects         []plan.Object  `json:"objects"`
	ObjectsScope    string         `json:"objectsScope"`
	// Details are the kind's own header lines (e.g. a partition's resolved peers).
	Details  []catalog.Detail `json:"details,omitempty"`
	Teardown []string         `json:"teardown"`
	// APIOnly: the Kubernetes API alone makes this fault; Helpers is empty and Objects
	// are the API requests (Kind "api-call") and how each is undone.
	APIOnly bool `json:"apiOnly,omitempty"`
	// OneShot: the fault is complete once applied (a delete, a signal); Duration only
	// bounds the helper pods, nothing waits for it.
	OneShot bool `json:"oneShot,omitempty"`
	// NoDetach is why --detach is refused for this fault ("" when it is not).
	NoDetach string `json:"noDetach,omitempty"`
	// Notes are what the kind found out about these targets (the facts to know).
	Notes []string `json:"notes,omitempty"`
}

// DryRunHelper is the helper pod for one node, exactly as it would be created.
type DryRunHelper struct {
	Node string      `json:"node"`
	Pod  *corev1.Pod `json:"pod"`
	Plan *plan.Plan  `json:"plan"`
}

// oneShotTeardown replaces teardown's first line for a one-shot fault.
const oneShotTeardown = "the fault is done once (the agent exits right after it; a restarted agent never repeats it); nothing is held, so nothing waits for --duration, which only bounds the helper pod"

var teardown = []string{
	"the agent removes every object above when --duration ends, on Ctrl-C/SIGTERM of this command, when this terminal goes away (stdin EOF, unless --detach), on `kubectl chaos stop ID`, or when its helper pod is deleted",
	"objects are journaled under " + plan.DefaultJournalDir + " on the node before they are created; a restarted agent, the next agent on that node, or the sweep pod `kubectl chaos gc` starts (on the nodes of the helper pods it finds; `gc --all-nodes` or `--node NAME` once the helper is gone) removes them from the journal",
	"the helper pod is deleted after recovery; activeDeadlineSeconds bounds it even if the CLI is killed",
}

// NewDryRun assembles the dry-run document.
func NewDryRun(p *Prepared, o *Options) *DryRun {
	d := &DryRun{
		DryRun:          true,
		Experiment:      p.ID,
		Owner:           p.Owner,
		Fault:           p.Fault,
		Summary:         p.Fault.Summary(),
		Duration:        plan.Duration(o.Duration),
		CreatedAt:       p.CreatedAt,
		Deadline:        p.Deadline,
		Detached:        o.Detach,
		Mode:            o.Target.Mode,
		Seed:            p.Selection.Seed,
		Matched:         p.Selection.Matched,
		Filters:         p.Selection.Filters,
		Targets:         p.Selection.Targets,
		HelperNamespace: o.HelperNamespace,
		Objects:         []plan.Object{},
		Teardown:        teardown,
		Notes:           p.Notes,
	}
	if d.Mode == "" {
		d.Mode = "all"
	}
	for i, pod := range p.Pods {
		d.Helpers = append(d.Helpers, DryRunHelper{Node: p.Plans[i].Node, Pod: pod, Plan: p.Plans[i]})
	}
	if e, err := catalog.For(p.Fault); err == nil {
		d.Objects = append(d.Objects, e.Describe(p.Fault)...)
		d.ObjectsScope = e.Scope()
		d.Details = e.Details(p.Fault)
		d.OneShot, d.NoDetach = e.OneShot(p.Fault), e.NoDetach(p.Fault)
		if d.OneShot {
			d.Teardown = append([]string{oneShotTeardown}, teardown[1:]...)
		}
		if e.APIOnly() {
			apiDryRun(d)
		}
	}
	return d
}

// PrintDryRun prints the plan: machine form for -o json|yaml, human otherwise.
func PrintDryRun(io *ui.IOStreams, format string, p *Prepared, o *Options) error {
	d := NewDryRun(p, o)
	if format != ui.FormatHuman {
		return ui.Print(io.Out, format, d)
	}
	return printDryRunHuman(io, d)
}

func printDryRunHuman(io *ui.IOStreams, d *DryRun) error {
	st := ui.NewStyles(io.Out, io.ColorEnabled())
	w := io.Out
	fmt.Fprintf(w, "%s nothing will be created.\n\n", st.Yellow("Dry run:"))
	fmt.Fprintf(w, "%s  %s\n", st.Bold("Experiment:"), d.Experiment)
	fmt.Fprintf(w, "%s       %s\n", st.Bold("Owner:"), d.Owner)
	fmt.Fprintf(w, "%s       %s\n", st.Bold("Fault:"), d.Summary)
	if d.OneShot {
		fmt.Fprintf(w, "%s    one-shot: done once, nothing is held or undone\n", st.Bold("Duration:"))
	} else {
		fmt.Fprintf(w, "%s    %s (deadline %s)\n", st.Bold("Duration:"), d.Duration.D(), d.Deadline.Format(time.RFC3339))
	}
	fmt.Fprintf(w, "%s   %s; %d running pod(s) matched, mode %s, seed %d\n", st.Bold("Selection:"),
		plural(len(d.Targets), "target container"), d.Matched, d.Mode, d.Seed)
	for _, f := range d.Filters {
		fmt.Fprintf(w, "%s      %s\n", st.Bold("Filter:"), f)
	}
	for _, dt := range d.Details {
		fmt.Fprintf(w, "%s%s %s\n", st.Bold(dt.Name+":"), strings.Repeat(" ", max(1, 11-len(dt.Name))), dt.Value)
	}
	if d.Detached {
		fmt.Fprintf(w, "%s    detached (stop with `kubectl chaos stop %s`)\n", st.Bold("Session:"), d.Experiment)
	}

	fmt.Fprintf(w, "\n%s\n", st.Bold(fmt.Sprintf("Targets (%s on %s):", plural(len(d.Targets), "container"), plural(len(d.Helpers), "node"))))
	t := ui.NewTable(st, "NAMESPACE", "POD", "CONTAINER", "NODE", "CONTAINER ID").Indent("  ")
	for _, tg := range d.Targets {
		t.Row(tg.Namespace, tg.Pod, tg.Container, tg.Node, shortID(tg.ContainerID))
	}
	if err := t.Render(w); err != nil {
		return err
	}

	objects := "Kernel objects"
	if d.APIOnly {
		objects = "API calls"
		fmt.Fprintf(w, "\n%s none: the Kubernetes API alone makes this change\n", st.Bold("Helper pods:"))
	} else {
		fmt.Fprintf(w, "\n%s\n", st.Bold(fmt.Sprintf("Helper pods (namespace %s, created with Pod Security \"privileged\" if missing):", d.HelperNamespace)))
	}
	for _, h := range d.Helpers {
		DescribeHelper(w, h)
	}

	fmt.Fprintf(w, "\n%s\n", st.Bold(fmt.Sprintf("%s (%s):", objects, d.ObjectsScope)))
	if len(d.Objects) == 0 {
		fmt.Fprintln(w, "  (none)")
	}
	for i, ob := range d.Objects {
		where := ob.Kind
		if ob.Interface != "" {
			where += " on " + ob.Interface
		}
		fmt.Fprintf(w, "  %d. %s: %s\n", i+1, where, ob.Spec)
		fmt.Fprintf(w, "     removed by: %s\n", ob.Remove)
		if ob.Condition != "" {
			fmt.Fprintf(w, "     only %s\n", ob.Condition)
		}
	}

	fmt.Fprintf(w, "\n%s\n", st.Bold("How it ends:"))
	for _, l := range d.Teardown {
		fmt.Fprintf(w, "  - %s\n", l)
	}
	if len(d.Notes) > 0 {
		fmt.Fprintf(w, "\n%s\n", st.Bold("Notes on these targets:"))
		for _, n := range d.Notes {
			fmt.Fprintf(w, "  - %s\n", n)
		}
	}
	return nil
}

// DescribeHelper prints one helper pod in a few human lines (dry runs).
func DescribeHelper(w io.Writer, h DryRunHelper) {
	pod := h.Pod
	if pod == nil {
		fmt.Fprintf(w, "  %s: (no pod)\n", h.Node)
		return
	}
	fmt.Fprintf(w, "  pod/%s on node %s\n", pod.Name, h.Node)
	var feats []string
	if pod.Spec.HostPID {
		feats = append(feats, "hostPID")
	}
	if pod.Spec.HostNetwork {
		feats = append(feats, "hostNetwork")
	}
	for _, c := range pod.Spec.Containers {
		fmt.Fprintf(w, "    container %s: image %s (pull %s)\n", c.Name, c.Image, c.ImagePullPolicy)
		if sc := c.SecurityContext; sc != nil && sc.Privileged != nil && *sc.Privileged {
			feats = append(feats, "privileged")
		}
		if c.Stdin {
			feats = append(feats, "stdin")
		}
		if len(c.Resources.Limits) > 0 {
			var lim []string
			for k, v := range c.Resources.Limits {
				lim = append(lim, k.String()+"="+v.String())
			}
			sort.Strings(lim)
			feats = append(feats, "limits "+strings.Join(lim, ","))
		}
	}
	if pod.Spec.RestartPolicy != "" {
		feats = append(feats, "restartPolicy "+string(pod.Spec.RestartPolicy))
	}
	if ads := pod.Spec.ActiveDeadlineSeconds; ads != nil {
		feats = append(feats, fmt.Sprintf("activeDeadlineSeconds %d", *ads))
	}
	if len(pod.Spec.Tolerations) > 0 {
		feats = append(feats, "tolerates all taints")
	}
	if len(feats) > 0 {
		fmt.Fprintf(w, "    %s\n", strings.Join(feats, ", "))
	}
	mounts := helperpod.HostPaths(pod)
	if len(mounts) > 0 {
		fmt.Fprintf(w, "    host paths: %s\n", strings.Join(mounts, ", "))
	}
	if h.Plan != nil {
		fmt.Fprintf(w, "    plan: %s\n", plural(len(h.Plan.Targets), "target"))
	}
}

func shortID(id string) string {
	if i := strings.Index(id, "://"); i >= 0 {
		id = id[i+3:]
	}
	if len(id) > 13 {
		return id[:13]
	}
	return id
}

func plural(n int, word string) string {
	if n == 1 {
		return fmt.Sprintf("1 %s", word)
	}
	return fmt.Sprintf("%d %ss", n, word)
}

// eventPrinter prints agent events as human lines on stderr.
type eventPrinter struct {
	mu sync.Mutex
	io *ui.IOStreams
	st *ui.Styles
}

func newEventPrinter(io *ui.IOStreams) *eventPrinter {
	return &eventPrinter{io: io, st: ui.NewStyles(io.ErrOut, io.ErrColorEnabled())}
}

// Print is safe for concurrent use (one goroutine per helper).
func (p *eventPrinter) Print(e plan.Event) {
	if e.Type == plan.EventHeartbeat || e.Type == plan.EventCounters {
		return // counters: live.Lines prints them every few seconds
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	fmt.Fprintln(p.io.ErrOut, FormatEvent(e, p.st))
}

// FormatEvent is one human line for an agent event.
func FormatEvent(e plan.Event, st *ui.Styles) string {
	if st == nil {
		st = ui.NewStyles(io.Discard, false)
	}
	ts := e.Time
	if ts.IsZero() {
		ts = time.Now()
	}
	typ := e.Type
	switch e.Type {
	case plan.EventInjected, plan.EventRecovered:
		typ = st.Green(typ)
	case plan.EventError:
		typ = st.Red(typ)
	case plan.EventNote:
		typ = st.Yellow(typ)
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s %s %s", st.Faint(ts.Local().Format("15:04:05")), e.Node, typ)
	if e.Target != "" {
		fmt.Fprintf(&b, " %s", e.Target)
	}
	if e.Message != "" {
		fmt.Fprintf(&b, ": %s", e.Message)
	}
	if e.Error != "" {
		fmt.Fprintf(&b, ": %s", e.Error)
	}
	if e.Reason != "" {
		fmt.Fprintf(&b, " (reason %s)", e.Reason)
	}
	if len(e.Objects) > 0 {
		fmt.Fprintf(&b, " [%s]", plural(len(e.Objects), "object"))
	}
	if e.Elapsed > 0 {
		fmt.Fprintf(&b, " in %s", e.Elapsed.D())
	}
	if e.Restart > 0 {
		fmt.Fprintf(&b, " (restart %d)", e.Restart)
	}
	// What was created or removed, with what the agent read back (a stressor's held
	// memory, the CPU it used): the facts that show a fault really acted.
	if e.Type == plan.EventInjected || e.Type == plan.EventRecovered {
		for _, o := range e.Objects {
			if o.Spec != "" {
				fmt.Fprintf(&b, "\n    %s: %s", o.Kind, o.Spec)
			}
		}
	}
	return b.String()
}

// PrintReport prints the final report: machine form for -o json|yaml on stdout, a
// human table otherwise.
func PrintReport(io *ui.IOStreams, format string, r *session.Report) error {
	if format != ui.FormatHuman {
		return ui.Print(io.Out, format, r)
	}
	st := ui.NewStyles(io.Out, io.ColorEnabled())
	reason := r.Reason
	switch reason {
	case "completed", "detached":
		reason = st.Green(reason)
	case "failed":
		reason = st.Red(reason)
	case "interrupted":
		reason = st.Yellow(reason)
	}
	fmt.Fprintf(io.Out, "experiment %s: %s (%s)\n", r.Experiment, reason, r.Fault)
	if r.Reason == "detached" {
		fmt.Fprintf(io.Out, "follow it with `kubectl chaos status %s`, end it with `kubectl chaos stop %s`\n", r.Experiment, r.Experiment)
	}
	t := ui.NewTable(st, "NODE", "TARGET", "INJECTED", "RECOVERED", "INJECT", "RECOVER", "ERROR")
	for _, n := range r.Nodes {
		inj, rec := durOrDash(n.InjectLatency), durOrDash(n.RecoverLatency)
		if n.Result == nil || len(n.Result.Targets) == 0 {
			t.Row(n.Node, "-", "-", "-", inj, rec, oneLine(n.Error))
			continue
		}
		for _, tr := range n.Result.Targets {
			msg := tr.Error
			if msg == "" {
				msg = n.Error
			}
			t.Row(n.Node, tr.Target, yesNo(st, tr.Injected), yesNo(st, tr.Recovered), inj, rec, oneLine(msg))
		}
	}
	if t.Len() > 0 {
		if err := t.Render(io.Out); err != nil {
			return err
		}
	}
	for _, f := range r.Followed {
		if f.Error != "" {
			fmt.Fprintf(io.Out, "%s %s: %s\n", st.Red("not seen"), f.Target, f.Error)
			continue
		}
		fmt.Fprintf(io.Out, "followed %s: %s\n", f.Target, f.Message)
	}
	return nil
}

func durOrDash(d plan.Duration) string {
	if d <= 0 {
		return "-"
	}
	return d.D().Round(time.Microsecond).String()
}

func yesNo(st *ui.Styles, b bool) string {
	if b {
		return "yes"
	}
	return st.Red("no")
}

func oneLine(s string) string {
	if s == "" {
		return "-"
	}
	return strings.ReplaceAll(s, "\n", " ")
}
