package scenario

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// PrintPlan prints the whole scenario as it would run, every fault step with the
// exact dry run of its verb (targets, helper pods, kernel objects and their removal).
// A fault whose targets do not exist yet (the replacement of a pod an earlier step
// killed) is shown with its selector: it is resolved when the step runs. Only reads.
func PrintPlan(ctx context.Context, streams *ui.IOStreams, s *Scenario, c kubernetes.Interface) error {
	w := streams.Out
	fmt.Fprintf(w, "scenario %s (%s", s.Name, s.File)
	if s.Source != Kind {
		fmt.Fprintf(w, ", imported from Chaos Mesh %s", s.Source)
	}
	fmt.Fprintf(w, "): at most %s; DRY RUN, nothing is created\n", s.Duration)
	if s.Schedule != "" {
		fmt.Fprintf(w, "  Chaos Mesh Schedule %q: each firing runs the steps below (kubectl chaos run keeps to this cron unless --schedule or --repeat is given)\n", s.Schedule)
	}
	if s.Description != "" {
		fmt.Fprintf(w, "  %s\n", strings.TrimSpace(s.Description))
	}
	for k, v := range s.Parameters {
		fmt.Fprintf(w, "  parameter %s = %q\n", k, v)
	}
	for _, p := range s.Probes {
		fmt.Fprintf(w, "probe %s: %s, %s\n", p.Title(), strings.Join(p.When, "+"), probeHow(p))
	}
	hu := &helperUse{nodes: map[string][]string{}}
	if err := printSteps(ctx, streams, w, s.Steps, 0, c, hu); err != nil {
		return err
	}
	hu.print(w, s)
	hu.warm.print(w)
	return nil
}

// helperUse gathers, over a dry run, which steps the run's helpers serve on which node.
type helperUse struct {
	key   string
	nodes map[string][]string // node -> the steps its helper serves
	order []string            // nodes in the order a step first needs them
	own   []string            // fault steps that make helpers of their own
	later []string            // fault steps whose nodes are known only when they run
	warm  warmUse             // the nodes' warm helpers the steps would use instead
}

// add notes a fault step: on the run's helpers (the first step that needs helpers
// sets their fields), or on its own; p is nil when its targets are resolved later.
func (hu *helperUse) add(step string, o *experiment.Options, p *experiment.Prepared, warm map[string]session.WarmHelper) {
	key, ok := poolKey(o)
	switch {
	case !ok:
		return // API only: no helper
	case hu.key == "":
		hu.key = key
	case key != hu.key:
		hu.own = append(hu.own, step)
		return
	}
	if p == nil {
		hu.later = append(hu.later, step)
		return
	}
	hu.warm.add(step, warm)
	for _, pl := range p.Plans {
		if _, ok := warm[pl.Node]; ok {
			continue
		}
		if _, seen := hu.nodes[pl.Node]; !seen {
			hu.order = append(hu.order, pl.Node)
		}
		hu.nodes[pl.Node] = append(hu.nodes[pl.Node], step)
	}
}

// print says which helper serves which steps (the verbs' dry runs above show the pod
// a verb alone would create).
func (hu *helperUse) print(w io.Writer, s *Scenario) {
	if hu.key == "" || len(hu.order)+len(hu.later)+len(hu.own) == 0 {
		return
	}
	fmt.Fprintf(w, "helpers of the run: one pod per node, created when a step first needs it, kept for the whole run (deadline %s + %s), each step's plan sent over its stdin:\n",
		s.Duration, poolGrace)
	for _, n := range hu.order {
		fmt.Fprintf(w, "  node %s: serves %s\n", n, strings.Join(hu.nodes[n], ", "))
	}
	if len(hu.later) > 0 {
		fmt.Fprintf(w, "  on the nodes of their targets when they run: %s\n", strings.Join(hu.later, ", "))
	}
	if len(hu.own) > 0 {
		fmt.Fprintf(w, "  on helpers of their own (other helper-namespace, image, image-pull-policy or runtime-socket): %s\n", strings.Join(hu.own, ", "))
	}
}

func probeHow(p *Probe) string {
	how := fmt.Sprintf("timeout %s", p.Timeout)
	if p.Has("during") {
		how += fmt.Sprintf(", every %s while the steps run", p.Interval)
	}
	if p.AbortOn {
		how += ", abortOn: a failure stops the scenario and recovers everything"
	}
	return how
}

func printSteps(ctx context.Context, streams *ui.IOStreams, w io.Writer, steps []*Step, depth int, c kubernetes.Interface, hu *helperUse) error {
	pad := strings.Repeat("  ", depth)
	for _, st := range steps {
		fmt.Fprintf(w, "%sstep %s: %s (%s)\n", pad, st.Field, st.Title(), st.Type())
		switch {
		case st.Parallel != nil:
			fmt.Fprintf(w, "%s  these %d steps run at the same time; the group ends when all have\n", pad, len(st.Parallel))
			if err := printSteps(ctx, streams, w, st.Parallel, depth+1, c, hu); err != nil {
				return err
			}
		case st.Serial != nil:
			if err := printSteps(ctx, streams, w, st.Serial, depth+1, c, hu); err != nil {
				return err
			}
		case st.Fault != nil:
			if err := printFault(ctx, streams, w, pad+"  ", st.Field+" "+st.Title(), st.Fault, c, hu); err != nil {
				return fmt.Errorf("%s: %w", st.Field, err)
			}
		case st.Command != nil:
			fmt.Fprintf(w, "%s  runs %s (timeout %s), wants exit %d\n", pad, st.Command.Text(), st.Command.Timeout, st.Command.ExitCode)
		case st.Probe != nil:
			fmt.Fprintf(w, "%s  %s\n", pad, probeHow(st.Probe))
		}
	}
	return nil
}

func printFault(ctx context.Context, streams *ui.IOStreams, w io.Writer, pad, step string, fs *FaultStep, c kubernetes.Interface, hu *helperUse) error {
	o := *fs.Options
	o.DryRun = true
	sub := *streams
	sub.Out = &prefixer{w: w, pad: pad, bol: true}
	o.IO = &sub
	p, err := o.Prepare(ctx, c)
	if err != nil {
		var ee *exit.Error
		if msg := err.Error(); errors.As(err, &ee) && ee.Code == exit.Usage &&
			(strings.Contains(msg, "no running pod matches") || strings.Contains(msg, "matched 0 running pods")) {
			fmt.Fprintf(w, "%s%s on %s in namespace %s: no running pod matches now (%s); resolved when the step runs\n",
				pad, fs.Verb, targetText(fs, &o), o.Target.Namespace, msg)
			hu.add(step, &o, nil, nil)
			return nil
		}
		return err
	}
	warm := o.WarmPlan(ctx, c, p)
	hu.add(step, &o, p, warm)
	if err := experiment.PrintDryRun(&sub, "", p, &o); err != nil {
		return err
	}
	for _, pl := range p.Plans {
		if wh, ok := warm[pl.Node]; ok {
			fmt.Fprintf(sub.Out, "node %s: would use warm helper %s/%s (until %s) instead of the run's helper (warm: false on the step, or run --warm=false, keeps the run's)\n",
				pl.Node, wh.Pod.Namespace, wh.Pod.Name, wh.Pod.Annotations[plan.AnnotationDeadline])
		}
	}
	return nil
}

func targetText(fs *FaultStep, o *experiment.Options) string {
	parts := append([]string{}, fs.Targets...)
	if o.Target.LabelSelector != "" {
		parts = append(parts, "-l "+o.Target.LabelSelector)
	}
	if o.Target.FieldSelector != "" {
		parts = append(parts, "--field-selector "+o.Target.FieldSelector)
	}
	return strings.Join(parts, " ")
}

// prefixer indents every line by pad; parallel steps share it.
type prefixer struct {
	mu  sync.Mutex
	w   io.Writer
	pad string
	bol bool
}

func (p *prefixer) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []byte
	for _, c := range b {
		if p.bol && c != '\n' {
			out = append(out, p.pad...)
		}
		out = append(out, c)
		p.bol = c == '\n'
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
