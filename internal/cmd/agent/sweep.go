package agent

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// sweep recovers the journals of experiments whose agent is gone (what `kubectl chaos
// gc` starts on a node). Each swept journal is one JSON line on stdout (the pod log, for
// people); the whole outcome is a plan.SweepResult in the termination message, which gc
// reads from the pod's status: that needs no more RBAC than watching the pod, where the
// log would need pods/log.
func sweep(ctx context.Context, o *Options) error {
	dir := o.JournalDir
	if dir == "" {
		dir = plan.DefaultJournalDir
	}
	swept, err := journal.SweepWith(context.WithoutCancel(ctx), journal.SweepOptions{Dir: dir, Now: time.Now(), ProcRoot: o.ProcRoot})
	enc := json.NewEncoder(o.Stdout)
	res := &plan.SweepResult{Node: o.Getenv(helperpod.EnvNodeName), Swept: []plan.SweptJournal{}}
	for _, s := range swept {
		_ = enc.Encode(s)
		res.Swept = append(res.Swept, plan.SweptJournal{
			Experiment: s.Experiment, Reason: s.Reason, Files: len(s.Files), Removed: s.Removed, Error: s.Error,
		})
	}
	if err != nil {
		err = fmt.Errorf("sweeping %s: %w", dir, err)
		res.Error = err.Error()
	}
	if o.TerminationLog != "" {
		if werr := os.WriteFile(o.TerminationLog, EncodeSweepResult(res), 0o644); werr != nil && err == nil {
			err = fmt.Errorf("writing the sweep result to %s: %w", o.TerminationLog, werr)
		}
	}
	if err != nil {
		return exit.FaultError(err)
	}
	return nil
}

// EncodeSweepResult returns res as compact JSON of at most agent.MaxResultBytes: first
// without the objects' removal texts and namespaces (the report says what was removed,
// not how), then with objects cut (counted in Omitted), then with errors shortened.
func EncodeSweepResult(res *plan.SweepResult) []byte {
	b, _ := json.Marshal(res)
	if len(b) <= agent.MaxResultBytes {
		return b
	}
	c := *res
	c.Swept = make([]plan.SweptJournal, len(res.Swept))
	for i, s := range res.Swept {
		c.Swept[i] = s
		c.Swept[i].Removed = make([]plan.Object, len(s.Removed))
		for j, ob := range s.Removed {
			c.Swept[i].Removed[j] = plan.Object{Kind: ob.Kind, Interface: ob.Interface, Spec: ob.Spec}
		}
	}
	// Drop objects from the end, keeping at least the journals and their errors.
	for {
		if b, _ = json.Marshal(&c); len(b) <= agent.MaxResultBytes {
			return b
		}
		i := len(c.Swept) - 1
		for i >= 0 && len(c.Swept[i].Removed) == 0 {
			i--
		}
		if i < 0 {
			break
		}
		s := &c.Swept[i]
		s.Removed = s.Removed[:len(s.Removed)-1]
		s.Omitted++
	}
	c.Error = shorten(c.Error, 200)
	for i := range c.Swept {
		c.Swept[i].Error = shorten(c.Swept[i].Error, 120)
	}
	for len(c.Swept) > 0 {
		if b, _ = json.Marshal(&c); len(b) <= agent.MaxResultBytes {
			return b
		}
		c.Swept = c.Swept[:len(c.Swept)-1]
		c.Error = shorten(fmt.Sprintf("%d swept journal(s) omitted from this message, see the pod log; %s", len(res.Swept)-len(c.Swept), res.Error), 200)
	}
	b, _ = json.Marshal(&c)
	return b
}

func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	r := []rune(s)
	for len(string(r)) > n-len("…") {
		r = r[:len(r)-1]
	}
	return string(r) + "…"
}
