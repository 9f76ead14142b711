// Package fault is `kubectl chaos io fault`.
package fault

import (
	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/ioverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of io fault.
type Options = ioverb.Options

// NewCmdFault returns the command; runF replaces the run (tests).
func NewCmdFault(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	var errno string
	return ioverb.NewCmd(f, ioverb.Verb{
		Name:  "fault",
		Use:   "--path DIR --errno NAME --percent P",
		Short: "Fail a percentage of the file system calls a pod makes under a directory",
		Long: `
			Mount a passthrough FUSE file system over --path inside each target container's
			mount namespace and fail --percent of the matching calls with --errno (EIO, ENOSPC,
			EACCES, EROFS, …). Calls that are not failed pass through to the original
			directory. Descriptors the container already holds under --path are moved onto
			the mount and back on recovery.
			Methods: ` + ioverb.MethodList + `.
		`,
		Example: `
			# EIO on 10% of the reads and writes under /data
			kubectl chaos io fault deploy/db --path /data --errno EIO --percent 10 --methods read,write

			# a full disk for the WAL only
			kubectl chaos io fault pod/pg-0 --path /var/lib/postgresql --errno ENOSPC --percent 100 --methods write,create --file-glob 'pg_wal/*'
		`,
		MethodsHelp:     "File system calls to fail, comma-separated (default: all of them)",
		PercentHelp:     "Percentage of the matching calls failed, in (0, 100] (required)",
		PercentRequired: true,
		Flags: func(fl *pflag.FlagSet) {
			fl.StringVar(&errno, "errno", "EIO", "Error the failed calls return: EIO, ENOSPC, EACCES, EROFS, EPERM, ENOENT, EDQUOT, …")
		},
		Set: func(cmd *cobra.Command, s *plan.IO) error {
			s.Fault = &plan.IOFault{Errno: errno}
			return nil
		},
	}, runF)
}
