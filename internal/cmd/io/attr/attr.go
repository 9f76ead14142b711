// Package attr is `kubectl chaos io attr`.
package attr

import (
	"fmt"
	"strconv"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/io/ioverb"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Options of io attr.
type Options = ioverb.Options

// NewCmdAttr returns the command; runF replaces the run (tests).
func NewCmdAttr(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	var perm, mtime string
	var size uint64
	var uid, gid uint32
	return ioverb.NewCmd(f, ioverb.Verb{
		Name:  "attr",
		Use:   "--path DIR [--perm MODE] [--size N] [--mtime T] [--uid N] [--gid N]",
		Short: "Report other attributes (mode, owner, size, time) for the files of a pod under a directory",
		Long: `
			Mount a passthrough FUSE file system over --path inside each target container's
			mount namespace that reports the given attributes for the files and directories
			under it (not --path itself). The kernel enforces the reported mode and owner:
			with --perm 000 a non-root process is refused (root in the container is not).
			Reads stop at the reported --size.
		`,
		Example: `
			# the config files become unreadable for the (non-root) app
			kubectl chaos io attr deploy/web --path /etc/app --perm 000 --file-glob '*.yaml'

			# files look a year old and owned by someone else
			kubectl chaos io attr pod/x --path /data --mtime 2025-01-01T00:00:00Z --uid 12345 --gid 12345
		`,
		Flags: func(fl *pflag.FlagSet) {
			fl.StringVar(&perm, "perm", "", "Permission bits to report, octal, e.g. 000 or 0444")
			fl.Uint64Var(&size, "size", 0, "Size in bytes to report")
			fl.StringVar(&mtime, "mtime", "", "Modification time to report: RFC 3339 (2025-01-01T00:00:00Z) or Unix seconds")
			fl.Uint32Var(&uid, "uid", 0, "Owner user id to report")
			fl.Uint32Var(&gid, "gid", 0, "Owner group id to report")
		},
		Set: func(cmd *cobra.Command, s *plan.IO) error {
			a := &plan.IOAttr{}
			fl := cmd.Flags()
			if fl.Changed("perm") {
				p, err := strconv.ParseUint(perm, 8, 32)
				if err != nil {
					return fmt.Errorf("--perm %q is not an octal mode (e.g. 000, 0644)", perm)
				}
				v := uint32(p)
				a.Perm = &v
			}
			if fl.Changed("size") {
				a.Size = &size
			}
			if fl.Changed("mtime") {
				t, err := parseTime(mtime)
				if err != nil {
					return err
				}
				a.Mtime = &t
			}
			if fl.Changed("uid") {
				a.UID = &uid
			}
			if fl.Changed("gid") {
				a.GID = &gid
			}
			s.Attr = a
			return nil
		},
	}, runF)
}

func parseTime(s string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t.UTC(), nil
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return time.Unix(n, 0).UTC(), nil
	}
	return time.Time{}, fmt.Errorf("--mtime %q is neither an RFC 3339 time (2025-01-01T00:00:00Z) nor Unix seconds", s)
}
