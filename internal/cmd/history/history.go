// Package history is `kubectl chaos history`: the runs this user made from this
// machine (fault verbs and scenario runs) with their results, from the local history
// file (internal/history).
package history

import (
	"fmt"
	"strings"
	"time"

	"github.com/MakeNowJust/heredoc"
	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// DefaultLimit is how many runs history prints without --limit.
const DefaultLimit = 20

// maxCommand is the widest COMMAND a table row shows (-o json has it whole).
const maxCommand = 60

// Options of history.
type Options struct {
	IO       *ui.IOStreams
	StateDir func() string
	Output   string
	Limit    int
}

// NewCmdHistory returns the command; runF replaces the run (tests).
func NewCmdHistory(f *factory.Factory, runF func(*Options) error) *cobra.Command {
	opts := &Options{IO: f.IOStreams, StateDir: f.StateDir}
	cmd := &cobra.Command{
		Use:   "history",
		Short: "List past runs made from this machine (fault verbs and kubectl chaos run) with their results",
		Long: heredoc.Docf(`
			List the runs made from this machine, newest last: fault verbs and scenario runs
			(each firing of run --schedule or --repeat), with when they started, how long they
			took, the command, the targets and the result with the exit code.

			The history is a local file, %s in the state directory: $%s, else
			$XDG_STATE_HOME/kubectl-chaos, else ~/.local/state/kubectl-chaos. One JSON line per
			run; past %d MiB the file is rotated to %s.1, so at most about twice that is kept.
			Dry runs are not recorded.
		`, history.FileName, history.EnvStateDir, history.MaxBytes>>20, history.FileName),
		Example: cmdutil.Examples(`
			kubectl chaos history
			kubectl chaos history --limit 5 -o json
		`),
		Args:    cobra.NoArgs,
		GroupID: cmdutil.GroupExperiments,
		RunE: func(cmd *cobra.Command, args []string) error {
			if err := opts.Validate(); err != nil {
				return err
			}
			if runF != nil {
				return runF(opts)
			}
			return opts.Run()
		},
	}
	cmd.Flags().StringVarP(&opts.Output, "output", "o", "", "Output format: json or yaml (default human)")
	cmd.Flags().IntVar(&opts.Limit, "limit", DefaultLimit, "Show the last N runs (0: all that are kept)")
	_ = cmd.RegisterFlagCompletionFunc("output", cobra.FixedCompletions([]string{"json", "yaml"}, cobra.ShellCompDirectiveNoFileComp))
	return cmd
}

// Validate checks the flags.
func (o *Options) Validate() error {
	if err := ui.ValidateFormat(o.Output); err != nil {
		return exit.UsageError(err)
	}
	if o.Limit < 0 {
		return exit.Usagef("--limit must be 0 (all) or more, got %d", o.Limit)
	}
	return nil
}

// Run prints the history.
func (o *Options) Run() error {
	dir := o.StateDir()
	if dir == "" {
		return exit.Usagef("no state directory: set $%s (or $HOME)", history.EnvStateDir)
	}
	store := history.Store{Dir: dir}
	entries, bad, err := store.Read(o.Limit)
	if err != nil {
		return exit.UsageError(err)
	}
	if bad > 0 {
		fmt.Fprintf(o.IO.ErrOut, "warning: %d unreadable line(s) in %s skipped\n", bad, store.Path())
	}
	if entries == nil {
		entries = []history.Entry{}
	}
	if o.Output != ui.FormatHuman {
		return ui.Print(o.IO.Out, o.Output, entries)
	}
	if len(entries) == 0 {
		fmt.Fprintf(o.IO.ErrOut, "no runs recorded yet (%s)\n", store.Path())
		return nil
	}
	st := ui.NewStyles(o.IO.Out, o.IO.ColorEnabled())
	t := ui.NewTable(st, "ID", "STARTED", "DURATION", "COMMAND", "TARGETS", "RESULT")
	for _, e := range entries {
		t.Row(e.ID, e.StartedAt.Local().Format(time.DateTime), e.Duration().Round(time.Second).String(),
			short(e.Command, maxCommand), targets(e.Targets), result(st, e))
	}
	return t.Render(o.IO.Out)
}

func short(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-3] + "..."
}

// targets is the first target and how many more.
func targets(ts []string) string {
	switch len(ts) {
	case 0:
		return "-"
	case 1:
		return ts[0]
	}
	return fmt.Sprintf("%s +%d", ts[0], len(ts)-1)
}

// result is the result word with its exit code, colored.
func result(st *ui.Styles, e history.Entry) string {
	s := fmt.Sprintf("%s (exit %d)", e.Result, e.ExitCode)
	if e.Firing > 0 {
		s = fmt.Sprintf("#%d %s", e.Firing, s)
	}
	switch {
	case e.ExitCode == exit.OK:
		return st.Green(s)
	case e.ExitCode == exit.Interrupted || strings.HasPrefix(e.Result, "skipped"):
		return st.Yellow(s)
	}
	return st.Red(s)
}
