package timefault

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"slices"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// EntryType is the journal entry of one patched process.
const EntryType = "time-vdso-patch"

func init() {
	fault.Register(plan.KindTime, func(f plan.Fault) (fault.Injector, error) {
		if f.Time == nil {
			return nil, errors.New("time fault without its spec")
		}
		if err := Validate(f.Time); err != nil {
			return nil, err
		}
		return &Injector{Spec: *f.Time}, nil
	})
	journal.RegisterRecoverer(EntryType, recoverEntry)
}

// Injector shifts the clocks of every process of a target container.
type Injector struct {
	Spec plan.TimeShift
}

func shiftOf(s *plan.TimeShift) shift {
	return shift{syms: Symbols(s), off: splitOffset(s.Offset.D()), mask: clocksOf(s).mask}
}

// Apply patches every process of t's container and, with a rescan interval, keeps
// patching the ones that start later until Recover.
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	if err := Validate(&in.Spec); err != nil {
		return nil, err
	}
	if !archSupported {
		return nil, fmt.Errorf("time faults rewrite x86-64 code in the vDSO; node %s is %s: not supported there", t.Node, runtime.GOARCH)
	}
	if ptraceScope() == 3 {
		return nil, errors.New("kernel.yama.ptrace_scope is 3 on this node: no process may be traced (only a reboot lowers it), so its clock cannot be shifted")
	}
	id := t.RuntimeID()
	if id == "" {
		return nil, fmt.Errorf("target %s has no container ID", t.Target)
	}
	a := &active{
		spec: in.Spec, sh: shiftOf(&in.Spec), containerID: id, rec: rec,
		known: map[procKey]*procState{}, stop: make(chan struct{}), done: make(chan struct{}),
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	a.scan()
	if len(a.patched) == 0 {
		return nil, fmt.Errorf("no process of %s could be shifted: %s", t.Target, a.skippedSummary())
	}
	if r := in.Spec.Rescan.D(); r > 0 {
		go a.loop(r)
	} else {
		close(a.done)
	}
	return a, nil
}

// procKey names a process for good: a reused PID has another start time.
type procKey struct {
	pid   int
	start uint64
}

// procState is what the fault did with one process.
type procState struct {
	rec     *patchRecord // patched (by us, or inherited by fork)
	skipped string
	retry   bool // the reason may go away: try again at the next rescan
	tries   int
}

// Bounds of one target's fault.
const (
	// maxTries bounds the attempts on a process skipped for a reason that may go away
	// (a debugger attached, a thread that would not stop).
	maxTries = 3
	// maxProcesses bounds the processes shifted in one container: each is a journal
	// entry, and the journal is rewritten whole at each.
	maxProcesses = 512
)

type active struct {
	spec        plan.TimeShift
	sh          shift
	containerID string
	rec         fault.Recorder

	mu      sync.Mutex
	known   map[procKey]*procState
	patched []procKey // in patch order
	notes   []string
	report  func(string)
	scans   int
	ended   bool // said that no process of the container is left

	stop, done chan struct{}
	once       sync.Once
}

// loop rescans every interval until Recover.
func (a *active) loop(interval time.Duration) {
	defer close(a.done)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-a.stop:
			return
		case <-t.C:
			a.scan()
		}
	}
}

// scan patches the container's processes the fault has not handled yet.
func (a *active) scan() {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.scans++
	pids := containerProcs(a.containerID)
	if len(pids) == 0 && len(a.patched) > 0 && !a.ended {
		// The container restarted (a new container, with another ID, in the same pod) or
		// was removed: its processes, and the patches with them, are gone.
		a.ended = true
		a.say(fmt.Sprintf("no process of container %.12s is left (it restarted or was removed): the time shift ended with it on this target and is not applied to a new container", a.containerID))
	}
	for _, pid := range pids {
		select {
		case <-a.stop:
			return
		default:
		}
		st, err := statOf(pid)
		if err != nil {
			continue
		}
		key := procKey{pid, st.start}
		if ps := a.known[key]; ps != nil && (!ps.retry || ps.tries >= maxTries) {
			continue
		}
		a.handle(key, st)
	}
}

// handle patches one process (or records the patch it inherited) and says so.
func (a *active) handle(key procKey, st procStat) {
	prev := a.known[key]
	if len(a.patched) >= maxProcesses {
		if prev == nil {
			a.known[key] = &procState{skipped: fmt.Sprintf("%d processes of this container are shifted already, the most one fault handles", maxProcesses)}
			a.say(fmt.Sprintf("pid %d (%s): skipped: %s", key.pid, st.comm, a.known[key].skipped))
		}
		return
	}
	if r := a.inherited(key.pid); r != nil {
		a.record(key, r, fmt.Sprintf("pid %d (%s): inherited the patch of pid %d (forked): %s", key.pid, st.comm, r.From, r.symbols()))
		return
	}
	r, err := prepare(key.pid, a.sh)
	if err == nil {
		r.ContainerID = a.containerID
		// Journal before the first byte changes.
		if err = a.rec.Record(entryOf(r)); err == nil {
			var stopped time.Duration
			stopped, err = apply(r, stubCalls(a.sh.syms))
			if err == nil {
				a.record(key, r, fmt.Sprintf("pid %d (%s): shifted %s %s (stopped %s)", key.pid, st.comm,
					r.symbols(), offsetString(a.spec.Offset.D()), stopped.Round(time.Microsecond)))
				return
			}
		}
	}
	if err == errGone {
		a.known[key] = &procState{skipped: "exited"}
		return
	}
	ps := &procState{skipped: err.Error(), retry: transient(err), tries: 1}
	if prev != nil {
		ps.tries = prev.tries + 1
	}
	a.known[key] = ps
	if prev == nil || prev.skipped != ps.skipped {
		a.say(fmt.Sprintf("pid %d (%s): skipped: %s", key.pid, st.comm, ps.skipped))
	}
}

func (a *active) record(key procKey, r *patchRecord, msg string) {
	a.known[key] = &procState{rec: r}
	a.patched = append(a.patched, key)
	a.say(msg)
}

// transient reasons may be gone at the next rescan.
func transient(err error) bool {
	var tr errTraced
	var ns errNoStop
	var bz errBusy
	var sh errShared
	return errors.As(err, &tr) || errors.As(err, &ns) || errors.As(err, &bz) || errors.As(err, &sh) ||
		errors.Is(err, errPatched)
}

// inherited returns the record of a patched process whose patch pid carries (it was
// forked from it, or from one of its children), nil if pid carries none.
func (a *active) inherited(pid int) *patchRecord {
	recs := a.records()
	r := inheritedFrom(pid, recs)
	if r == nil {
		return nil
	}
	st, err := statOf(pid)
	if err != nil {
		return nil
	}
	c := *r
	c.From, c.PID, c.Start, c.Comm = r.PID, pid, st.start, st.comm
	if err := a.rec.Record(entryOf(&c)); err != nil {
		return nil
	}
	return &c
}

// inheritedFrom finds the record whose exact patch pid holds.
func inheritedFrom(pid int, recs []*patchRecord) *patchRecord {
	var base uint64
	for _, r := range recs {
		if r.PID == pid {
			continue
		}
		if base == 0 {
			maps, err := readMaps(pid)
			if err != nil {
				return nil
			}
			vd, err := findVDSO(maps)
			if err != nil {
				return nil
			}
			base = vd.lo
		}
		if r.Base != base {
			continue
		}
		if ps, err := readState(pid, r); err == nil && (len(ps.entries) > 0 || ps.stub) {
			return r
		}
	}
	return nil
}

func (a *active) records() []*patchRecord {
	out := make([]*patchRecord, 0, len(a.patched))
	for _, k := range a.patched {
		out = append(out, a.known[k].rec)
	}
	return out
}

// say keeps a per-process line: for Notes before the agent reads them, through the
// agent's report hook after.
func (a *active) say(msg string) {
	if a.report != nil {
		a.report(msg)
		return
	}
	a.notes = append(a.notes, msg)
}

func (a *active) skippedSummary() string {
	var out []string
	for k, ps := range a.known {
		if ps.rec == nil {
			out = append(out, fmt.Sprintf("pid %d: %s", k.pid, ps.skipped))
		}
	}
	if len(out) == 0 {
		return "the container has no process on this node"
	}
	slices.Sort(out)
	return fmt.Sprint(out)
}

// notesSeen returns (and keeps) the per-process lines so far, for tests.
func (a *active) notesSeen() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.notes...)
}

// halt stops the rescans without restoring anything: what a killed agent leaves.
func (a *active) halt() {
	a.once.Do(func() { close(a.stop) })
	<-a.done
}
