// Package run is `kubectl chaos run FILE`: a game-day scenario (or a Chaos Mesh
// experiment) of faults, waits, probes and commands, run through the same engine as the
// fault verbs.
package run

import (
	"context"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
	"github.com/kubectl-chaos/kubectl-chaos/internal/schedule"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Options of run.
type Options struct {
	IO         *ui.IOStreams
	KubeClient func() (kubernetes.Interface, error)
	Namespace  func() (string, error)
	// NewRoot builds a fresh command tree: each fault step is built by its own verb.
	NewRoot func() *cobra.Command
	// StateDir holds the history and the scenario locks ("" : neither).
	StateDir func() string
	// Clock paces --schedule and --repeat (tests use a fake).
	Clock schedule.Clock

	File    string
	DryRun  bool
	Set     []string
	Reports []string
	Yes     bool
	Events  bool
	// Warm: fault steps use the owner's warm helpers on their nodes (--warm).
	Warm bool

	Schedule string
	Until    string
	Repeat   int
	Interval time.Duration
	// RepeatSet: --repeat was given (0 is then refused, not taken as "once").
	RepeatSet bool

	cmd *cobra.Command
}

// NewCmdRun returns the command; newRoot builds a fresh command tree (the fault verbs
// each step is built with); runF replaces the run (tests).
func NewCmdRun(f *factory.Factory, newRoot func() *cobra.Command, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, KubeClient: f.KubeClient, Namespace: f.Namespace, NewRoot: newRoot,
		StateDir: f.StateDir, Clock: schedule.RealClock{}}
	cmd := &cobra.Command{
		Use:   "run FILE",
		Short: "Run a game-day scenario (or a Chaos Mesh experiment) from a file",
		Long: heredoc.Doc(`
			Run a scenario file (apiVersion kubectl-chaos/v1, kind Scenario): fault steps (any
			fault verb, its flags as fields), waits, probes and commands, serially and in
			parallel, with probes before (steady state), during and after the steps. A probe
			with abortOn stops the scenario and recovers everything; so do a failed step,
			spec.duration and Ctrl-C. The exit code says whether the hypothesis held (0) or
			not (4); see docs/scenarios.md.

			The fault steps share one helper pod per node, created when a step first needs
			the node and kept, with the whole run's deadline, until the steps are over: each
			step goes to it over the attach stream, and the agent removes the step's fault at
			the step's own duration.

			Chaos Mesh files (NetworkChaos, PodChaos, StressChaos, IOChaos, TimeChaos,
			DNSChaos, HTTPChaos, Schedule, Workflow) are imported onto the same steps; a
			field we do not support is refused by name.

			The whole file is validated before anything is created; a refusal names the file,
			line and field. --dry-run prints the whole plan, every fault's kernel objects.

			--schedule CRON (or a Chaos Mesh Schedule's own cron) runs the scenario at each
			firing until --until or Ctrl-C; --repeat N --interval D runs it N times, D apart.
			One run at a time: a firing due while the previous run is still going is skipped
			(said on stderr), and a second kubectl chaos run of the same file on this machine
			is refused while one runs. Each firing goes to kubectl chaos history; the exit
			code is the worst of the firings'. See docs/history-events-schedule.md.
		`),
		Example: cmdutil.Examples(`
			# Show the plan, with every helper pod and kernel object, and create nothing
			kubectl chaos run scenarios/pod-kill-readiness.yaml --dry-run

			# Run it with a parameter, writing reports for CI
			kubectl chaos run scenarios/latency-between-services.yaml --set latency=300ms --report junit.xml --report report.json

			# A game day: every 30 minutes until 18:00, or 5 times 10 minutes apart
			kubectl chaos run scenarios/pod-kill-readiness.yaml --schedule '*/30 * * * *' --until 2026-12-02T18:00:00Z
			kubectl chaos run scenarios/pod-kill-readiness.yaml --repeat 5 --interval 10m
		`),
		GroupID: cmdutil.GroupExperiments,
		Args:    cobra.ExactArgs(1),
		ValidArgsFunction: func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
			return []string{"yaml", "yml"}, cobra.ShellCompDirectiveFilterFileExt
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.File, opts.cmd = args[0], cmd
			opts.RepeatSet = cmd.Flags().Changed("repeat")
			if _, err := opts.scheduleSpec(nil); err != nil {
				return exit.UsageError(err)
			}
			if runF != nil {
				return runF(opts)
			}
			return opts.Run(cmd.Context())
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.DryRun, "dry-run", false, "Print the whole plan (every step, helper pod and kernel object) and create nothing")
	fl.StringArrayVar(&opts.Set, "set", nil, "Set a parameter of the scenario: --set key=value (repeatable)")
	fl.StringArrayVar(&opts.Reports, "report", nil, "Write a report: FILE.xml (JUnit) or FILE.json (repeatable)")
	fl.BoolVarP(&opts.Yes, "yes", "y", false, "Do not ask for confirmation")
	fl.BoolVar(&opts.Warm, "warm", true, "Fault steps use your warm helpers (kubectl chaos warm) on the nodes that have one, the run's helpers elsewhere; --warm=false keeps every step on the run's helpers (a step's own warm: false does too)")
	fl.BoolVar(&opts.Events, "events", true, "Write Kubernetes Events (ChaosInjected, ChaosRecovered, ChaosFailed) on every fault step's target pods")
	fl.StringVar(&opts.Schedule, "schedule", "", "Run at each firing of this cron schedule: MIN HOUR DAY MONTH WEEKDAY (an optional leading SECONDS field), @hourly or @every 30m")
	fl.StringVar(&opts.Until, "until", "", "With --schedule or --repeat: no firing after this time (RFC 3339, or a duration from now like 8h)")
	fl.IntVar(&opts.Repeat, "repeat", 0, fmt.Sprintf("Run the scenario N times (1 to %d), --interval apart", schedule.MaxRepeat))
	fl.DurationVar(&opts.Interval, "interval", 0, "With --repeat: time from one run's start to the next's (more than 0)")
	return cmd
}

// ParseSet reads --set key=value pairs.
func ParseSet(set []string) (map[string]string, error) {
	out := map[string]string{}
	for _, kv := range set {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--set must be key=value, got %q", kv)
		}
		if _, dup := out[k]; dup {
			return nil, fmt.Errorf("--set %s is given twice", k)
		}
		out[k] = v
	}
	return out, nil
}

// Load reads and validates the file (nothing is created).
func (o *Options) Load(ctx context.Context) (*scenario.Scenario, error) {
	set, err := ParseSet(o.Set)
	if err != nil {
		return nil, exit.UsageError(err)
	}
	for _, r := range o.Reports {
		if err := scenario.ValidateReportPath(r); err != nil {
			return nil, exit.UsageError(err)
		}
	}
	data, err := os.ReadFile(o.File)
	if err != nil {
		return nil, exit.UsageError(fmt.Errorf("reading the scenario: %w", err))
	}
	s, err := scenario.Load(ctx, o.File, data, set, scenario.NewVerbs(o.NewRoot))
	if err == nil && !o.Warm {
		s.NoWarm()
	}
	return s, err
}

// Run validates, then prints the plan or runs the scenario.
func (o *Options) Run(ctx context.Context) error {
	s, err := o.Load(ctx)
	if err != nil {
		return err
	}
	ns := s.Namespace
	if ns == "" {
		if ns, err = o.Namespace(); err != nil {
			return err
		}
	}
	sch, err := o.scheduleSpec(s)
	if err != nil {
		if o.Schedule == "" && s.Schedule != "" {
			return exit.UsageError(&scenario.Error{File: o.File, Line: s.ScheduleLine, Field: "spec.schedule", Msg: err.Error()})
		}
		return exit.UsageError(err)
	}
	if o.DryRun {
		c, err := o.KubeClient()
		if err != nil {
			return err
		}
		if err := scenario.PrintPlan(ctx, o.IO, s, c); err != nil {
			return err
		}
		printFirings(o.IO.Out, sch, o.Clock.Now())
		return nil
	}
	if !o.Yes && o.IO.CanPrompt() {
		fmt.Fprintf(o.IO.ErrOut, "Run scenario %s (%s, %s, at most %s each; try --dry-run first)? [y/N] ", s.Name, o.File, sch.words(), s.Duration)
		var answer string
		if _, err := fmt.Fscanln(o.IO.In, &answer); err != nil || !strings.EqualFold(strings.TrimSpace(answer), "y") && !strings.EqualFold(strings.TrimSpace(answer), "yes") {
			return exit.Usagef("aborted: nothing was created")
		}
	}
	release, err := o.lock()
	if err != nil {
		return err
	}
	defer release()
	if sch.spec.Once() {
		return o.runOnce(ctx, s, ns, 0)
	}
	return o.runScheduled(ctx, s, ns, sch)
}

// runOnce runs the scenario once (one firing of a schedule: firing > 0), writes its
// reports, prints its summary and records it in the history.
func (o *Options) runOnce(ctx context.Context, s *scenario.Scenario, ns string, firing int) error {
	r := &scenario.Runner{IO: o.IO, Checker: &scenario.Checker{Client: o.KubeClient, Namespace: ns}, NoEvents: !o.Events}
	res, runErr := r.Run(ctx, s)
	for _, path := range o.Reports {
		if err := scenario.WriteReport(firingPath(path, firing), res); err != nil && runErr == nil {
			runErr = exit.UsageError(err)
		}
	}
	printSummary(o.IO, res)
	o.record(res, runErr, firing)
	return runErr
}

func printSummary(io *ui.IOStreams, r *scenario.Result) {
	st := ui.NewStyles(io.Out, io.ColorEnabled())
	outcome := r.Outcome
	if outcome == scenario.Passed {
		outcome = st.Green(outcome)
	} else {
		outcome = st.Red(outcome)
	}
	fmt.Fprintf(io.Out, "scenario %s: %s in %s\n", r.Scenario, outcome, r.EndedAt.Sub(r.StartedAt).Round(time.Millisecond))
	if r.Reason != "" {
		fmt.Fprintf(io.Out, "%s\n", r.Reason)
	}
	t := ui.NewTable(st, "STEP", "TYPE", "STATUS", "TOOK", "DETAIL")
	for _, s := range r.Steps {
		detail := s.Error
		if s.Experiment != nil {
			detail = s.Experiment.Experiment + " " + s.Experiment.Reason + " " + detail
		}
		t.Row(s.Field+" "+s.Step, s.Type, s.Status, s.EndedAt.Sub(s.StartedAt).Round(time.Millisecond).String(), strings.TrimSpace(detail))
	}
	_ = t.Render(io.Out)
	failed := 0
	for _, p := range r.Probes {
		if !p.OK {
			failed++
		}
	}
	fmt.Fprintf(io.Out, "probes: %d run, %d failed\n", len(r.Probes), failed)
}
