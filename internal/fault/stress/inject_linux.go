package stress

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress/worker"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func init() {
	fault.Register(plan.KindStress, func(f plan.Fault) (fault.Injector, error) {
		if err := Validate(f.Stress); err != nil {
			return nil, err
		}
		return &Injector{S: *f.Stress}, nil
	})
	journal.RegisterRecoverer(EntryProcess, recoverProcess)
}

// Bounds of the agent's waits.
const (
	// stopTimeout bounds the wait for a killed stressor to be reaped.
	stopTimeout = 10 * time.Second
	// allocBase + allocPerGiB × size bound the wait for a memory stressor to hold its
	// size before the fault is reported injected with what it holds so far.
	allocBase   = 30 * time.Second
	allocPerGiB = 10 * time.Second
)

// Injector applies one stress fault.
type Injector struct {
	S plan.Stress
}

// Apply starts the stressor parked, journals it, moves it into t's cgroups and releases
// it; for memory it waits until the size is held (or the kernel stopped it).
func (in *Injector) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	s := &in.S
	if err := Validate(s); err != nil {
		return nil, err
	}
	cgs, err := targetCgroups(t)
	if err != nil {
		return nil, err
	}
	a := &active{spec: s, cgs: cgs, started: time.Now()}
	job := worker.Job{Kind: worker.KindCPU, Workers: Workers(s)}
	if s.CPU != nil {
		if a.bound, err = bounding(cgs, "cpu"); err != nil {
			return nil, err
		}
		job.Amount = uint64(s.CPU.Load)
		a.planCPU()
	} else {
		if a.bound, err = bounding(cgs, "memory"); err != nil {
			return nil, err
		}
		job.Kind = worker.KindMemory
		if err := a.planMemory(t); err != nil {
			return nil, err
		}
		job.Amount = a.bytes
	}
	pidns := targetPidNS(t)
	st, err := spawn(job, pidns)
	if err != nil {
		return nil, err
	}
	a.st = st
	if err := a.place(t, rec, pidns); err != nil {
		st.stop(stopTimeout)
		return nil, err
	}
	a.released = time.Since(a.started)
	if job.Kind == worker.KindMemory {
		a.waitHeld(ctx)
	}
	return a, nil
}

// place journals the parked stressor, gives it the container's OOM score, moves it into
// the container's cgroups and releases it.
func (a *active) place(t fault.Target, rec fault.Recorder, pidns string) error {
	st := a.st
	d, _ := json.Marshal(procData{PID: st.pid, StartTime: st.start, BootID: bootID()})
	obj := ProcessObject(a.spec, a.bytes, fmt.Sprintf("pid %d in the container's cgroups", st.pid))
	// Parked, it has done nothing yet: the entry is written before it touches the target.
	if err := rec.Record(journal.Entry{Type: EntryProcess, Data: d, Object: obj}); err != nil {
		return fmt.Errorf("journaling stressor pid %d: %w", st.pid, err)
	}
	a.copyOOMScore(t)
	var skipped []string
	err := host().do(func() error {
		var err error
		skipped, err = moveInto(st.pid, a.cgs)
		return err
	})
	if err != nil {
		return err
	}
	if len(skipped) > 0 {
		a.note("stressor not moved into the %s hierarchies (not mounted in the helper)", strings.Join(skipped, ", "))
	}
	if pidns != "" && !st.inPidNS {
		a.note("the stressor runs in the node's PID namespace: the container's could not be entered (%s)", pidns)
	}
	return st.release()
}

// targetCgroups are t's cgroups as the resolver found them; when it found none, they
// are looked up again so the error says why.
func targetCgroups(t fault.Target) ([]fault.Cgroup, error) {
	if len(t.Cgroups) > 0 {
		return t.Cgroups, namesContainer(t, t.Cgroups)
	}
	if t.PID <= 0 {
		return nil, fmt.Errorf("container %s was not found on this node", t)
	}
	root := procRoot(t)
	var cgs []fault.Cgroup
	err := container.OnHostCgroupNS(root, func() error {
		var err error
		cgs, err = container.Cgroups(root, t.PID)
		return err
	})
	if err == nil && len(cgs) == 0 {
		err = errors.New("it is in no cgroup")
	}
	if err != nil {
		return nil, fmt.Errorf("finding the cgroups of %s (pid %d): %w", t, t.PID, err)
	}
	return cgs, namesContainer(t, cgs)
}

// namesContainer refuses cgroups none of which names the target's container ID: the
// stressor would be charged to whatever the process is in (the node's own slice, the
// agent's cgroup), outside the container the plan names.
func namesContainer(t fault.Target, cgs []fault.Cgroup) error {
	id := t.RuntimeID()
	for _, c := range cgs {
		if id != "" && strings.Contains(c.Path, id) {
			return nil
		}
	}
	return fmt.Errorf("refusing to stress %s: none of the cgroups of pid %d names container %q, so the process is outside the target container", t, t.PID, id)
}

// procRoot is the /proc the resolver used (t.NetnsPath is <procRoot>/<pid>/ns/net).
func procRoot(t fault.Target) string {
	if t.NetnsPath != "" && strings.HasSuffix(t.NetnsPath, "/"+strconv.Itoa(t.PID)+"/ns/net") {
		return filepath.Dir(filepath.Dir(filepath.Dir(t.NetnsPath)))
	}
	return "/proc"
}

// targetPidNS is the path of t's PID namespace, "" when it is the agent's own.
func targetPidNS(t fault.Target) string {
	if t.PID <= 0 {
		return ""
	}
	p := filepath.Join(procRoot(t), strconv.Itoa(t.PID), "ns", "pid")
	theirs, err1 := container.Inode(p)
	ours, err2 := container.Inode("/proc/self/ns/pid")
	if err1 != nil || err2 != nil || theirs == ours {
		return ""
	}
	return p
}

// copyOOMScore gives the stressor the container's oom_score_adj, so an OOM in the
// container's cgroup picks between them as it would between the container's own
// processes (else it keeps the helper's). Lowering needs CAP_SYS_RESOURCE.
func (a *active) copyOOMScore(t fault.Target) {
	theirs, err := os.ReadFile(filepath.Join(procRoot(t), strconv.Itoa(t.PID), "oom_score_adj"))
	if err != nil {
		return
	}
	want := strings.TrimSpace(string(theirs))
	path := "/proc/" + strconv.Itoa(a.st.pid) + "/oom_score_adj"
	if err := os.WriteFile(path, []byte(want), 0); err != nil {
		ours, _ := os.ReadFile(path)
		a.note("the stressor keeps oom_score_adj %s (the container's is %s): %v", strings.TrimSpace(string(ours)), want, err)
	}
}

// planCPU notes how the asked load compares with the container's CPU limit.
func (a *active) planCPU() {
	a.cpuLimit, a.hasCPULimit = container.CPULimit(a.bound)
	asked := float64(a.spec.CPU.Workers*a.spec.CPU.Load) / 100
	if a.hasCPULimit && asked > a.cpuLimit {
		a.note("asked %g CPU of load, the container's CPU limit is %g: the stressor and the container's own processes share it (throttled)", asked, a.cpuLimit)
	}
	a.cpu0, _ = container.CPUUsage(a.cgs)
}

// planMemory sizes the stressor: a percentage of the container's limit, or the bytes
// asked (above the limit: said, and left to the kernel).
func (a *active) planMemory(t fault.Target) error {
	m := a.spec.Memory
	limit, ok, err := container.MemoryLimit(a.bound)
	if err != nil {
		return fmt.Errorf("reading the memory limit of %s (cgroup %s): %w", t, a.bound.Path, err)
	}
	a.limit, a.hasLimit = limit, ok
	page := uint64(os.Getpagesize())
	switch {
	case m.Percent > 0 && !ok:
		return fmt.Errorf("--size %g%%: container %s has no memory limit (its cgroup %s has none), so a percentage means nothing; give a size like 256Mi",
			m.Percent, t, a.bound.Path)
	case m.Percent > 0:
		a.bytes = uint64(float64(limit)*m.Percent/100) / page * page
		a.note("--size %g%% of %s's memory limit %s = %s", m.Percent, t, plan.FormatBytes(limit), plan.FormatBytes(a.bytes))
	default:
		a.bytes = m.Bytes
		if ok && a.bytes > limit {
			a.note("--size %s is above %s's memory limit %s: the kernel's OOM killer acts in the container's cgroup as it would for the container's own processes",
				plan.FormatBytes(a.bytes), t, plan.FormatBytes(limit))
		}
	}
	if a.bytes < page {
		return fmt.Errorf("--size %s of %s is less than a page", m.SizeText(), t)
	}
	a.usage0, _ = container.MemoryUsage(a.bound)
	a.oom0, _ = container.OOMKills(a.bound)
	return nil
}

// waitHeld waits until the memory stressor holds its size, ended, or the bound passed.
func (a *active) waitHeld(ctx context.Context) {
	bound := allocBase + time.Duration(a.bytes>>30)*allocPerGiB
	t := time.NewTimer(bound)
	defer t.Stop()
	select {
	case <-a.st.allocated:
		if !a.st.holding.Load() {
			// Its output ended before it held the size: it died (the OOM killer, say);
			// wait for the reap so the event can say how.
			select {
			case <-a.st.exited:
			case <-time.After(stopTimeout):
			}
		}
	case <-ctx.Done():
	case <-t.C:
	}
	a.heldAfter = time.Since(a.started)
	a.usageHeld, _ = container.MemoryUsage(a.bound)
}

// active is a running stressor on one target.
type active struct {
	spec    *plan.Stress
	cgs     []fault.Cgroup
	bound   fault.Cgroup // the cgroup that accounts and limits the stressed resource
	st      *stressor
	started time.Time

	released, heldAfter time.Duration
	bytes, limit        uint64
	hasLimit            bool
	usage0, usageHeld   uint64
	oom0                uint64
	cpuLimit            float64
	hasCPULimit         bool
	cpu0                time.Duration

	mu    sync.Mutex
	notes []string
	done  []plan.Object
}

func (a *active) note(format string, args ...any) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.notes = append(a.notes, fmt.Sprintf(format, args...))
}

// Notes are what the operator should know about this stressor.
func (a *active) Notes() []string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]string(nil), a.notes...)
}

// Objects is the stressor as it runs now, with what the agent reads back.
func (a *active) Objects() []plan.Object {
	return []plan.Object{ProcessObject(a.spec, a.bytes, a.where())}
}

// where says where the stressor is and what it achieved, for the injected event.
func (a *active) where() string {
	var b strings.Builder
	fmt.Fprintf(&b, "pid %d", a.st.pid)
	if a.st.inPidNS {
		b.WriteString(" in the container's PID namespace")
	}
	fmt.Fprintf(&b, ", cgroup %s (%s), released %s after start", a.bound.Path, a.hierarchies(), roundDur(a.released))
	ended, how := a.st.ended()
	if a.spec.CPU != nil {
		if a.hasCPULimit {
			fmt.Fprintf(&b, ", container CPU limit %g", a.cpuLimit)
		}
		if ended {
			fmt.Fprintf(&b, "; it ended: %s", how)
		}
		return b.String()
	}
	held := a.st.held.Load()
	if ended {
		fmt.Fprintf(&b, "; it ended after holding %s of %s: %s%s", plan.FormatBytes(held), plan.FormatBytes(a.bytes), how, a.oomText())
		return b.String()
	}
	fmt.Fprintf(&b, "; holding %s of %s after %s (container memory %s -> %s", plan.FormatBytes(held), plan.FormatBytes(a.bytes),
		roundDur(a.heldAfter), plan.FormatBytes(a.usage0), plan.FormatBytes(a.usageHeld))
	if a.hasLimit {
		b.WriteString(", limit " + plan.FormatBytes(a.limit))
	}
	b.WriteString(")")
	return b.String()
}

func (a *active) hierarchies() string {
	var hs []string
	for _, c := range a.cgs {
		if c.Dir != "" {
			hs = append(hs, container.HierarchyName(c))
		}
	}
	return strings.Join(hs, ", ")
}

// oomText says whether the container's cgroup saw OOM kills since the stressor started.
func (a *active) oomText() string {
	n, err := container.OOMKills(a.bound)
	if err != nil || n <= a.oom0 {
		return ""
	}
	return fmt.Sprintf(" (the kernel's OOM killer acted in the container's cgroup: oom_kill %d -> %d)", a.oom0, n)
}

// SetReport (fault.Reporter): the session hears at once when the stressor ends before
// it does. The kernel kills every process of a PID namespace whose init dies, so a
// restart of the target container (its main process died: a new container, same pod)
// or its removal ends the stressor with it; so can the OOM killer. The fault is not
// started again in the new container: the note says it ended on this target, and
// Recover reports how (docs/agent.md, "Stress faults").
func (a *active) SetReport(fn func(string)) {
	go func() {
		<-a.st.exited
		if a.st.killedUs.Load() {
			return // Recover's own kill
		}
		_, how := a.st.ended()
		fn(fmt.Sprintf("the stressor (pid %d) ended before the session did: %s%s; the stress no longer runs on this target "+
			"(its container restarted or was removed, which kills the stressor with it) and is not started again",
			a.st.pid, how, a.oomText()))
	}()
}

// Recover kills the stressor, checks it is gone and reports what it did.
func (a *active) Recover(ctx context.Context) ([]plan.Object, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done != nil {
		return a.done, nil
	}
	ran := time.Since(a.started) - a.released
	used, _ := cpuTime(a.st.pid)
	cg, cgErr := container.CPUUsage(a.cgs)
	ended, how := a.st.ended()
	if _, state, err := procStart(a.st.pid); !ended && err == nil && state == 'Z' {
		// Dead already, not yet reaped: let the reaper say how it died.
		select {
		case <-a.st.exited:
			ended, how = a.st.ended()
		case <-time.After(stopTimeout):
		}
	}
	if err := a.st.stop(stopTimeout); err != nil {
		return nil, err
	}
	if ended || used == 0 {
		if st := a.st.state; st != nil {
			used = st.UserTime() + st.SystemTime()
		}
	}
	var what string
	switch {
	case ended:
		what = fmt.Sprintf("pid %d had already ended: %s%s", a.st.pid, how, a.oomText())
	case a.spec.CPU != nil:
		asked := float64(a.spec.CPU.Workers*a.spec.CPU.Load) / 100
		what = fmt.Sprintf("pid %d used %s of CPU in %s = %.2f CPU (asked %g)", a.st.pid, roundDur(used), roundDur(ran),
			used.Seconds()/max(ran.Seconds(), 1e-9), asked)
		if cgErr == nil && cg > a.cpu0 {
			what += fmt.Sprintf("; the container's cgroup used %.2f CPU meanwhile", (cg-a.cpu0).Seconds()/max(time.Since(a.started).Seconds(), 1e-9))
		}
	default:
		what = fmt.Sprintf("pid %d held %s until stopped", a.st.pid, plan.FormatBytes(a.st.held.Load()))
	}
	a.done = []plan.Object{ProcessObject(a.spec, a.bytes, what+"; killed and checked gone")}
	return a.done, nil
}

func roundDur(d time.Duration) time.Duration {
	switch {
	case d > 10*time.Second:
		return d.Round(100 * time.Millisecond)
	case d > time.Second:
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Microsecond)
}
