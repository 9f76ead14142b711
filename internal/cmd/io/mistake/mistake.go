// Package mistake is `kubectl chaos io mistake`.
package mistake

import (
	"fmt"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/ioverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/iofault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of io mistake.
type Options = ioverb.Options

// NewCmdMistake returns the command; runF replaces the run (tests).
func NewCmdMistake(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	var maxBytes int
	return ioverb.NewCmd(f, ioverb.Verb{
		Name:  "mistake",
		Use:   "--path DIR --percent P",
		Short: "Return or write wrong data in a percentage of a pod's reads and writes under a directory",
		Long: `
			Mount a passthrough FUSE file system over --path inside each target container's
			mount namespace and, in --percent of the matching reads and writes, replace a run
			of 1 to --max-bytes bytes with different random bytes: what the container reads
			(the file stays intact), or what reaches the file.
		`,
		Example: `
			# 1% of the reads of the data files come back with up to 4 wrong bytes
			kubectl chaos io mistake deploy/db --path /data --percent 1 --methods read --file-glob '*.dat'
		`,
		MethodsHelp:     "read and/or write (default: both)",
		PercentHelp:     "Percentage of the matching reads and writes changed, in (0, 100] (required)",
		PercentRequired: true,
		Flags: func(fl *pflag.FlagSet) {
			fl.IntVar(&maxBytes, "max-bytes", iofault.DefaultMistakeBytes, fmt.Sprintf("Most bytes changed in one call, in [1, %d]", iofault.MaxMistakeBytes))
		},
		Set: func(cmd *cobra.Command, s *plan.IO) error {
			s.Mistake = &plan.IOMistake{MaxBytes: maxBytes}
			return nil
		},
	}, runF)
}
