// Package cmdutil is the skeleton every command shares: the help groups of the root
// command, the kubectl-style example formatting, and the RunE of a fault verb.
package cmdutil

import (
	"context"
	"strings"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
)

// GroupFaults and GroupExperiments are the help groups of the root command.
const (
	GroupFaults      = "faults"
	GroupExperiments = "experiments"
)

// FaultRunE is the RunE of a fault verb: build the fault from the verb's flags (an error
// there is a usage error), validate the common options, then hand over to runF (tests)
// or run the experiment.
func FaultRunE(exp *experiment.Options, build func() error, run func(ctx context.Context) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		exp.Target.Args = args
		exp.DurationSet = cmd.Flags().Changed("duration")
		if err := build(); err != nil {
			return exit.UsageError(err)
		}
		if err := exp.Validate(); err != nil {
			return err
		}
		return run(cmd.Context())
	}
}

// Examples dedents a raw example block and indents it by two spaces, as kubectl prints
// examples.
func Examples(s string) string {
	lines := strings.Split(strings.TrimRight(heredoc.Doc(s), "\n"), "\n")
	for i, l := range lines {
		if l != "" {
			lines[i] = "  " + l
		}
	}
	return strings.Join(lines, "\n")
}

// FaultGroup is a fault command group (`kubectl chaos network`, `stress`, …): it only
// holds its verbs and prints its help when run alone.
func FaultGroup(use, short string, verbs ...*cobra.Command) *cobra.Command {
	cmd := &cobra.Command{
		Use:     use,
		Short:   short,
		GroupID: GroupFaults,
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
	cmd.AddCommand(verbs...)
	return cmd
}
