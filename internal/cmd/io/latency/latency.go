// Package latency is `kubectl chaos io latency`.
package latency

import (
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/ioverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of io latency.
type Options = ioverb.Options

// NewCmdLatency returns the command; runF replaces the run (tests).
func NewCmdLatency(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	var delay, jitter time.Duration
	return ioverb.NewCmd(f, ioverb.Verb{
		Name:  "latency",
		Use:   "--path DIR --delay DURATION",
		Short: "Delay the file system calls a pod makes under a directory",
		Long: `
			Mount a passthrough FUSE file system over --path inside each target container's
			mount namespace (backed by the original directory, so every write still reaches
			it) and delay the matching calls by --delay ± --jitter. Descriptors the container
			already holds under --path are moved onto the mount and back on recovery.
			Methods: ` + ioverb.MethodList + `.
		`,
		Example: `
			# 100ms more on every read and write under /data of deploy/db, for 2 minutes
			kubectl chaos io latency deploy/db --path /data --delay 100ms --methods read,write --duration 2m

			# 1s ± 500ms on half of the fsyncs of the SQLite files, show the plan first
			kubectl chaos io latency pod/app --path /var/lib/app --delay 1s --jitter 500ms --methods fsync --file-glob '*.db' --percent 50 --dry-run
		`,
		MethodsHelp:    "File system calls to delay, comma-separated (default: all of them)",
		PercentHelp:    "Percentage of the matching calls delayed, in (0, 100]",
		PercentDefault: 100,
		Flags: func(fl *pflag.FlagSet) {
			fl.DurationVar(&delay, "delay", 0, "Added latency per call, e.g. 100ms (required, at most 1h)")
			fl.DurationVar(&jitter, "jitter", 0, "Uniform variation of the delay, ± this much (at most --delay)")
		},
		Set: func(cmd *cobra.Command, s *plan.IO) error {
			s.Latency = &plan.IOLatency{Delay: plan.Duration(delay), Jitter: plan.Duration(jitter)}
			return nil
		},
	}, runF)
}
