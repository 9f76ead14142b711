package experiment

import (
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
)

// runRecord is what one run of a fault verb leaves for its history entry.
type runRecord struct {
	p      *Prepared
	reason string
}

// noteRun keeps p for the history entry: from here on something was attempted.
func (o *Options) noteRun(p *Prepared) {
	if o.record != nil {
		o.record.p = p
	}
}

// runRecorded is run with its history entry appended afterwards (kubectl chaos
// history); a dry run, and a run refused before anything was attempted, leave none.
func runRecorded(o *Options, run func() error) error {
	start := time.Now()
	rr := &runRecord{}
	o.record = rr
	prev := o.OnReport
	o.OnReport = func(p *Prepared, rep *session.Report) {
		rr.p, rr.reason = p, rep.Reason
		if prev != nil {
			prev(p, rep)
		}
	}
	err := run()
	o.OnReport, o.record = prev, nil
	if rr.p == nil || o.History.Dir == "" {
		return err
	}
	e := history.Entry{ID: rr.p.ID, Kind: history.KindFault, Command: o.commandLine(), StartedAt: start.UTC(), EndedAt: time.Now().UTC(),
		Result: rr.reason, ExitCode: exit.Code(err)}
	if e.Result == "" {
		e.Result = "error"
	}
	if err != nil {
		e.Error = Shorten(err.Error(), 300)
	}
	apiOnly := false
	if en, cerr := catalog.For(rr.p.Fault); cerr == nil {
		apiOnly = en.APIOnly()
	}
	seen := map[string]bool{}
	for _, t := range rr.p.Selection.Targets {
		name := t.String()
		if apiOnly {
			name = t.Namespace + "/" + t.Pod
		}
		if !seen[name] {
			seen[name] = true
			e.Targets = append(e.Targets, name)
		}
	}
	if herr := o.History.Append(e); herr != nil {
		slog.Warn("the run was not added to the local history", "err", herr)
		fmt.Fprintf(o.IO.ErrOut, "warning: %v\n", herr)
	}
	return err
}

// commandLine is the verb's command line as parsed (the history's COMMAND).
func (o *Options) commandLine() string {
	if o.cmd == nil {
		return o.Fault.Summary()
	}
	return history.CommandLine(o.cmd, o.Target.Args)
}

// Shorten cuts s to n bytes on one line.
func Shorten(s string, n int) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > n {
		return s[:n-3] + "..."
	}
	return s
}

// setCommand keeps the verb's command for its history entry.
func (o *Options) setCommand(cmd *cobra.Command) { o.cmd = cmd }
