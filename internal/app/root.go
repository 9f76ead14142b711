// Package app assembles the kubectl-chaos command tree: the root command with the
// kubeconfig flags, configuration (flags > KUBECTL_CHAOS_* env > config file >
// defaults), logging, and every subcommand.
package app

import (
	"context"
	"fmt"
	"strings"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	agentcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/complete"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/completion"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/container"
	doctorcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/doctor"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/gc"
	historycmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/history"
	httpcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/http"
	iocmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/ls"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/network"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/noop"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/noopapi"
	podcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/pod"
	rbaccmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/rbac"
	runcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/run"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/status"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stop"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stress"
	timecmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/time"
	versioncmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/version"
	warmcmd "github.com/kubectl-chaos/kubectl-chaos/internal/cmd/warm"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Execute runs the command line args with the process's streams and returns the error
// for main to print and map to an exit code.
func Execute(ctx context.Context, args []string) error {
	f := factory.New(ui.System())
	root := NewRootCmd(f)
	root.SetArgs(args)
	return executeRoot(ctx, root)
}

// NewRootCmd returns the root command over f.
func NewRootCmd(f *factory.Factory) *cobra.Command {
	var verbosity int
	root := &cobra.Command{
		Use:   "kubectl-chaos",
		Short: "Chaos engineering for Kubernetes pods, as a kubectl plugin",
		Long: heredoc.Doc(`
			kubectl chaos injects faults into running pods and removes them when you are done.

			Nothing is installed in the cluster beforehand: for each node with targets, a
			short-lived privileged helper pod runs this same binary as an agent, which enters
			the target's namespaces, applies the fault, and rolls it back on Ctrl-C, when the
			terminal goes away, when --duration ends, or on "kubectl chaos stop".
			Try any fault with --dry-run first: it prints the exact plan and creates nothing.
		`),
		Example: cmdutil.Examples(`
			kubectl chaos network delay deploy/web --latency 100ms --dry-run
			kubectl chaos network loss -l app=web --percent 20 --duration 2m
			kubectl chaos ls
		`),
		Annotations:       map[string]string{cobra.CommandDisplayNameAnnotation: "kubectl chaos"},
		SilenceUsage:      true,
		SilenceErrors:     true,
		Args:              cobra.NoArgs,
		ValidArgsFunction: cobra.NoFileCompletions,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
		PersistentPreRunE: func(cmd *cobra.Command, args []string) error {
			setupLogging(f.IOStreams.ErrOut, verbosity)
			return ApplyConfig(cmd, LoadConfig())
		},
	}
	root.CompletionOptions.DisableDefaultCmd = true
	root.SetIn(f.IOStreams.In)
	root.SetOut(f.IOStreams.Out)
	root.SetErr(f.IOStreams.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error {
		return exit.UsageError(fmt.Errorf("%w (see %s --help)", explainFlagError(c, err), c.CommandPath()))
	})

	pf := root.PersistentFlags()
	if f.ConfigFlags != nil {
		f.ConfigFlags.AddFlags(pf)
	}
	pf.CountVarP(&verbosity, "verbose", "v", "More logs on stderr (-v info, -vv debug, also from client-go)")
	_ = root.RegisterFlagCompletionFunc("namespace", complete.Namespaces(f))
	_ = root.RegisterFlagCompletionFunc("context", complete.Contexts(f))
	normalizeFlags(pf)

	root.AddGroup(
		&cobra.Group{ID: cmdutil.GroupFaults, Title: "Fault commands:"},
		&cobra.Group{ID: cmdutil.GroupExperiments, Title: "Experiment commands:"},
	)
	root.AddCommand(
		network.NewCmdNetwork(f),
		timecmd.NewCmdTime(f),
		httpcmd.NewCmdHTTP(f),
		podcmd.NewCmdPod(f),
		container.NewCmdContainer(f),
		stress.NewCmdStress(f),
		iocmd.NewCmdIO(f),
		noop.NewCmdNoop(f, nil),
		noopapi.NewCmdNoopAPI(f, nil),
		ls.NewCmdLs(f, nil),
		status.NewCmdStatus(f, nil),
		stop.NewCmdStop(f, nil),
		gc.NewCmdGC(f, nil),
		warmcmd.NewCmdWarm(f, nil),
		historycmd.NewCmdHistory(f, nil),
		rbaccmd.NewCmdRBAC(f, nil),
		doctorcmd.NewCmdDoctor(f, nil),
		runcmd.NewCmdRun(f, func() *cobra.Command { return NewRootCmd(f) }, nil),
		versioncmd.NewCmdVersion(f, nil),
		completion.NewCmdCompletion(f),
		agentcmd.NewCmd(),
	)
	return root
}

// normalizeFlags accepts the underscore spellings kubectl users sometimes type.
func normalizeFlags(fs *pflag.FlagSet) {
	fs.SetNormalizeFunc(func(f *pflag.FlagSet, name string) pflag.NormalizedName {
		return pflag.NormalizedName(strings.ReplaceAll(name, "_", "-"))
	})
}
