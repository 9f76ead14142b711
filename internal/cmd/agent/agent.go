// Package agent is the hidden `kubectl chaos agent` command run by helper pods.
package agent

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	goruntime "runtime"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/hostmount"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/procstart"

	// Fault kinds register themselves (network and io do so in their Linux files).
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/container"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/dns"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/http"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/iofault"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress"
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/timefault"
)

// Options of the agent command.
type Options struct {
	PlanFile       string
	TerminationLog string
	JournalDir     string
	ProcRoot       string
	SweepOnly      bool
	// Probe only reports what works on this node (kubectl chaos doctor); RuntimeSocket
	// is the socket it looks for first.
	Probe         bool
	RuntimeSocket string

	Stdin  io.Reader
	Stdout io.Writer
	Stderr io.Writer
	// Getenv reads the environment (tests).
	Getenv func(string) string
}

// NewCmd returns the hidden agent command.
func NewCmd() *cobra.Command {
	o := &Options{}
	cmd := &cobra.Command{
		Use:   "agent",
		Short: "Run the in-cluster agent (used by helper pods)",
		Long: `Run the agent that helper pods start on each target node. It reads its plan from
$` + plan.EnvVar + ` (or --plan-file), applies the fault, writes JSON events on stdout,
and recovers when stdin closes (unless detached), on "stop", SIGTERM or the deadline.
Exit status is non-zero only when something may be left behind (the pod then restarts
and the next agent recovers from the journal).`,
		Hidden:        true,
		Args:          cobra.NoArgs,
		SilenceUsage:  true,
		SilenceErrors: false,
		RunE: func(cmd *cobra.Command, args []string) error {
			o.Stdin, o.Stdout, o.Stderr = cmd.InOrStdin(), cmd.OutOrStdout(), cmd.ErrOrStderr()
			o.Getenv = os.Getenv
			ctx, stop := signal.NotifyContext(cmd.Context(), syscall.SIGTERM, os.Interrupt)
			defer stop()
			return Run(ctx, o)
		},
	}
	f := cmd.Flags()
	f.StringVar(&o.PlanFile, "plan-file", "", "read the plan from this file instead of $"+plan.EnvVar)
	f.StringVar(&o.TerminationLog, "termination-log", "/dev/termination-log", "where the final result goes (\"\" = nowhere)")
	f.StringVar(&o.JournalDir, "journal-dir", "", "journal directory (default: the plan's, else "+plan.DefaultJournalDir+")")
	f.StringVar(&o.ProcRoot, "proc-root", "", "the host's /proc (default /host/proc if present, else /proc)")
	f.BoolVar(&o.SweepOnly, "sweep-only", false, "only recover journals of dead or expired experiments, then exit")
	f.BoolVar(&o.Probe, "probe", false, "only report what works on this node (JSON; kubectl chaos doctor), then exit; runs standalone as root")
	f.StringVar(&o.RuntimeSocket, "runtime-socket", "", "with --probe: the container runtime socket to look for first")
	return cmd
}

// Run runs the agent (or only the sweep).
func Run(ctx context.Context, o *Options) error {
	if goruntime.GOOS != "linux" {
		return exit.Usagef("the agent runs on Linux only (it is what helper pods run on Kubernetes nodes)")
	}
	if o.Getenv == nil {
		o.Getenv = os.Getenv
	}
	// A helper pod has no volumes: the node paths it needs are mounted here, from the
	// node's root, before anything looks for them (internal/hostmount). A node path
	// that is missing or of the wrong type ends the agent as a hostPath volume's type
	// check stopped the pod: nothing was applied.
	if v := o.Getenv(hostmount.EnvVar); v != "" {
		ms, err := hostmount.Decode(v)
		var node int
		if err == nil {
			node, err = hostmount.NodeProcess()
		}
		if err == nil {
			err = hostmount.Apply(node, ms)
		}
		if err != nil {
			return exit.UsageError(fmt.Errorf("helper pod: %w", err))
		}
	}
	if o.SweepOnly {
		return sweep(ctx, o)
	}
	if o.Probe {
		return probe(o)
	}
	p, err := readPlan(o)
	if err != nil {
		return exit.UsageError(err)
	}
	// Give back the executable's pages that package inits touched, and again those of
	// the inject path once injected: then the agent only waits (issue 5: RSS).
	dropExecPages()
	stdout := newPageDropper(o.Stdout)
	defer stdout.stop()
	var stdin io.Reader
	if !p.Detached {
		stdin = o.Stdin
	}
	_, err = agent.Run(ctx, agent.Options{
		Plan:           p,
		Stdin:          stdin,
		Stdout:         stdout,
		TerminationLog: o.TerminationLog,
		JournalDir:     o.JournalDir,
		PodUID:         o.Getenv(journal.EnvPodUID),
		ProcRoot:       o.ProcRoot,
		ProcessStart:   processStart(),
		InitStart:      time.Now().Add(-time.Duration(procstart.SinceInit())),
	})
	switch {
	case err == nil:
		return nil
	case errors.Is(err, agent.ErrRecover):
		// Non-zero: restartPolicy OnFailure restarts us and the journal is recovered.
		return exit.FaultError(err)
	case errors.Is(err, agent.ErrPlan):
		return exit.UsageError(err)
	default:
		// Not applied, but nothing left behind: the result says so; a restart would
		// only fail again.
		fmt.Fprintln(o.Stderr, "kubectl-chaos agent:", err)
		return nil
	}
}

func readPlan(o *Options) (*plan.Plan, error) {
	var s string
	if o.PlanFile != "" {
		b, err := os.ReadFile(o.PlanFile)
		if err != nil {
			return nil, fmt.Errorf("--plan-file: %w", err)
		}
		s = string(b)
	} else if s = o.Getenv(plan.EnvVar); s == "" {
		return nil, fmt.Errorf("no plan: set $%s or --plan-file", plan.EnvVar)
	}
	return plan.Decode(s)
}
