package timefault

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// entryOf is the journal entry of a patch.
func entryOf(r *patchRecord) journal.Entry {
	d, _ := json.Marshal(r)
	return journal.Entry{Type: EntryType, Data: d, Object: objectOf(r)}
}

// objectOf describes one patched process, in the events and the journal.
func objectOf(r *patchRecord) plan.Object {
	spec := fmt.Sprintf("pid %d (%s): %s of the vDSO at %#x jump to a stub at %#x", r.PID, r.Comm, r.symbols(), r.Base, r.Stub.Addr)
	if r.From != 0 {
		spec += fmt.Sprintf(" (inherited from pid %d by fork)", r.From)
	}
	return plan.Object{Kind: ObjectKind, Spec: spec, Remove: removeText}
}

// Objects are the patched processes.
func (a *active) Objects() []plan.Object {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []plan.Object
	for _, r := range a.records() {
		out = append(out, objectOf(r))
	}
	return out
}

// Notes are the per-process lines of the scans so far (patched, or skipped and why),
// and the warning of a monotonic shift.
func (a *active) Notes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	if m := clocksOf(&a.spec).monotonic; len(m) > 0 {
		out = append(out, "warning: "+MonotonicWarning(m))
	}
	return append(out, a.notes...)
}

// SetReport hands the rescans a way to report each process they handle.
func (a *active) SetReport(fn func(string)) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.report = fn
}

// Recover stops the rescans and restores every patched process, then every process
// of the container (or descendant of a patched one) that inherited a patch by fork.
func (a *active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.halt()
	a.recovered.Store(true)
	a.mu.Lock()
	defer a.mu.Unlock()
	recs := a.records()
	var objs []plan.Object
	var errs []error
	for i := len(recs) - 1; i >= 0; i-- {
		if err := ctx.Err(); err != nil {
			return objs, err
		}
		r := recs[i]
		res, err := restore(r.PID, r.Start, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring pid %d (%s): %w", r.PID, r.Comm, err))
			continue
		}
		objs = append(objs, restoredObject(r, res))
	}
	more, err := restoreInherited(recs, a.containerID)
	objs = append(objs, more...)
	errs = append(errs, err)
	if err := errors.Join(errs...); err != nil {
		return objs, err
	}
	a.patched = nil
	return objs, nil
}

func restoredObject(r *patchRecord, res restored) plan.Object {
	o := objectOf(r)
	if res.wrote {
		o.Spec += fmt.Sprintf("; restored (stopped %s)", res.stopped.Round(time.Microsecond))
	}
	if res.note != "" {
		o.Spec += "; " + res.note
	}
	return o
}

// restoreInherited restores the processes that carry one of recs' patches without
// being one of recs: children forked while their parent was patched (in the
// container's cgroup, or descendants of a patched process).
func restoreInherited(recs []*patchRecord, containerID string) ([]plan.Object, error) {
	own := map[int]bool{}
	var cands []int
	for _, r := range recs {
		own[r.PID] = true
	}
	add := func(pids []int) {
		for _, p := range pids {
			if !own[p] {
				own[p] = true
				cands = append(cands, p)
			}
		}
	}
	if containerID != "" {
		add(containerProcs(containerID))
	}
	for _, r := range recs {
		if st, err := statOf(r.PID); err == nil && st.start == r.Start {
			add(descendants(r.PID))
		}
	}
	var objs []plan.Object
	var errs []error
	for _, pid := range cands {
		r := inheritedFrom(pid, recs)
		if r == nil {
			continue
		}
		res, err := restore(pid, 0, r)
		if err != nil {
			errs = append(errs, fmt.Errorf("restoring pid %d (forked from pid %d): %w", pid, r.PID, err))
			continue
		}
		c := *r
		c.PID, c.From, c.Comm = pid, r.PID, commOf(pid)
		objs = append(objs, restoredObject(&c, res))
	}
	return objs, errors.Join(errs...)
}

// recoverEntry restores one journaled process from the journal alone (restarted agent,
// sweep, gc), and the forked children that kept its patch.
func recoverEntry(ctx context.Context, e journal.Entry) error {
	var r patchRecord
	if err := json.Unmarshal(e.Data, &r); err != nil {
		return fmt.Errorf("time fault: bad journal record: %w", err)
	}
	if r.PID <= 0 || len(r.Entries) == 0 {
		return fmt.Errorf("time fault: journal record without a pid or entries")
	}
	for _, w := range r.Entries {
		if len(w.Orig) != entryLen || len(w.New) != entryLen {
			return fmt.Errorf("time fault: journal record of pid %d: %s entry is not 8 bytes", r.PID, w.Symbol)
		}
	}
	if len(r.Stub.Orig) != len(r.Stub.New) || len(r.Stub.New)%8 != 0 {
		return fmt.Errorf("time fault: journal record of pid %d: bad stub region", r.PID)
	}
	_, err := restore(r.PID, r.Start, &r)
	_, ierr := restoreInherited([]*patchRecord{&r}, r.ContainerID)
	return errors.Join(err, ierr)
}
