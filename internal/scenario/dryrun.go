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
	return printSteps(ctx, streams, w, s.Steps, 0, c)
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

func printSteps(ctx context.Context, streams *ui.IOStreams, w io.Writer, steps []*Step, depth int, c kubernetes.Interface) error {
	pad := strings.Repeat("  ", depth)
	for _, st := range steps {
		fmt.Fprintf(w, "%sstep %s: %s (%s)\n", pad, st.Field, st.Title(), st.Type())
		switch {
		case st.Parallel != nil:
			fmt.Fprintf(w, "%s  these %d steps run at the same time; the group ends when all have\n", pad, len(st.Parallel))
			if err := printSteps(ctx, streams, w, st.Parallel, depth+1, c); err != nil {
				return err
			}
		case st.Serial != nil:
			if err := printSteps(ctx, streams, w, st.Serial, depth+1, c); err != nil {
				return err
			}
		case st.Fault != nil:
			if err := printFault(ctx, streams, w, pad+"  ", st.Fault, c); err != nil {
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

func printFault(ctx context.Context, streams *ui.IOStreams, w io.Writer, pad string, fs *FaultStep, c kubernetes.Interface) error {
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
			return nil
		}
		return err
	}
	return experiment.PrintDryRun(&sub, "", p, &o)
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
