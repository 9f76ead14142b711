package container

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultProcRoot is /host/proc when the host's /proc is mounted there, else /proc.
func DefaultProcRoot() string {
	if st, err := os.Stat("/host/proc/1"); err == nil && st.IsDir() {
		return "/host/proc"
	}
	return "/proc"
}

// Resolve finds t's container: containerd first, then the /proc scan. When neither
// finds it (the kubelet replaced it after the plan was made), it follows the container
// that replaced it (followSuccessor).
func (r *Resolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	id := t.RuntimeID()
	if !hexID(id) {
		return fault.Target{}, fmt.Errorf("container ID %q of %s: want 12-128 lowercase hex digits (from the pod status)", t.ContainerID, t)
	}
	by := "containerd"
	pid, cerr := r.containerdPID(ctx, id)
	if cerr == nil {
		cerr = r.visible(pid, id)
	}
	if cerr != nil {
		var err error
		pid, err = ScanPID(r.o.ProcRoot, id)
		if err != nil {
			err = fmt.Errorf("finding container %s of %s: containerd: %v; /proc scan: %w", short(id), t, cerr, err)
			if r.o.SuccessorWait < 0 {
				return fault.Target{}, err
			}
			ft, serr := r.followSuccessor(ctx, t, id)
			if serr != nil {
				return fault.Target{}, fmt.Errorf("%w; its successor: %w", err, serr)
			}
			return ft, nil
		}
		by = "/proc scan"
	}
	ft, err := r.describe(t, pid, id)
	ft.ResolvedBy = by
	return ft, err
}

// visible trusts containerd's pid only if it is visible and really in container id here
// (the agent must run with hostPID).
func (r *Resolver) visible(pid int, id string) error {
	if b, err := os.ReadFile(filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "cgroup")); err != nil || !bytes.Contains(b, []byte(id)) {
		return fmt.Errorf("containerd says pid %d, not visible as that container under %s", pid, r.o.ProcRoot)
	}
	return nil
}

// successorPoll is how often containerd is asked again while no successor runs (the
// kubelet notices an exit within its 1 s relist).
const successorPoll = 300 * time.Millisecond

// followSuccessor finds the running container that replaced container id in t's pod
// (pickSuccessor), through containerd only: the /proc scan sees cgroup paths, which name
// the pod UID and the container ID but not the container's name, so it cannot tell a
// successor from a sibling container of the pod. With no successor running yet (the
// kubelet has not restarted it, or backs off a crash loop) it asks again until the
// resolver's SuccessorWait or its Until, whichever comes first, or until ctx ends.
// The successor's PID passes the same check as the planned container's (visible and in
// that container's cgroup), and the target it returns names the successor's ID, which
// the injectors check against the cgroups they touch.
func (r *Resolver) followSuccessor(ctx context.Context, t plan.Target, id string) (fault.Target, error) {
	wait := r.o.SuccessorWait
	if !r.o.Until.IsZero() {
		wait = min(wait, time.Until(r.o.Until))
	}
	start := time.Now()
	for {
		p, cands, err := r.candidates(ctx, t, id)
		if err != nil {
			return fault.Target{}, fmt.Errorf("containerd: %w (the /proc scan cannot tell which container of the pod replaced it)", err)
		}
		c, err := pickSuccessor(t, id, p, r.o.NotBefore, cands)
		if err == nil {
			if err = r.visible(c.PID, c.ID); err == nil {
				err = r.settle(ctx, c, start.Add(wait))
			}
			if err == nil {
				nt := t
				nt.ContainerID = strings.TrimSuffix(t.ContainerID, id) + c.ID
				ft, err := r.describe(nt, c.PID, c.ID)
				ft.ResolvedBy = "containerd, as the successor of restarted container " + short(id)
				return ft, err
			}
			err = errNoSuccessor{err.Error()} // it may have exited since: ask again (a newer one)
		}
		var none errNoSuccessor
		if !errors.As(err, &none) {
			return fault.Target{}, err
		}
		if time.Since(start)+successorPoll > wait {
			return fault.Target{}, fmt.Errorf("%w; waited %v", err, time.Since(start).Round(time.Millisecond))
		}
		select {
		case <-ctx.Done():
			return fault.Target{}, fmt.Errorf("%w; stopped waiting: %w", err, ctx.Err())
		case <-time.After(successorPoll):
		}
	}
}

// settle waits until the successor's process has run for SuccessorSettle, counted from
// its start time on the node (so a successor that has run that long already costs no
// wait), and checks that the same process still runs in the successor's cgroup then. The
// wait ends early at ctx's end or at until (the bound of the whole lookup): the successor
// is then taken if it still runs. An error means it is gone (or no longer checkable).
func (r *Resolver) settle(ctx context.Context, c candidate, until time.Time) error {
	if r.o.SuccessorSettle < 0 {
		return nil
	}
	age, started, err := procAge(r.o.ProcRoot, c.PID)
	if err != nil {
		return fmt.Errorf("successor %s: %w", short(c.ID), err)
	}
	need := r.o.SuccessorSettle - age
	if need <= 0 {
		return nil
	}
	if left := time.Until(until); need > left {
		need = max(left, 0)
	}
	t := time.NewTimer(need)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("successor %s had run %v of the %v it must: %w", short(c.ID), age.Round(time.Millisecond), r.o.SuccessorSettle, ctx.Err())
	case <-t.C:
	}
	_, now, err := procAge(r.o.ProcRoot, c.PID)
	if err == nil && now != started {
		err = fmt.Errorf("pid %d is another process now", c.PID)
	}
	if err == nil {
		err = r.visible(c.PID, c.ID)
	}
	if err != nil {
		return fmt.Errorf("successor %s exited within %v of its start, passed over (crash loop?): %v", short(c.ID), r.o.SuccessorSettle, err)
	}
	return nil
}

// procAge returns how long pid has run and its start time (clock ticks after boot,
// /proc/<pid>/stat field 22), from procRoot's stat and uptime. A zombie is not running.
func procAge(procRoot string, pid int) (time.Duration, uint64, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, 0, fmt.Errorf("process %d: %w", pid, err)
	}
	i := bytes.LastIndexByte(b, ')')
	f := strings.Fields(string(b[i+1:])) // f[0] is field 3, the state
	if i < 0 || len(f) < 20 {
		return 0, 0, fmt.Errorf("process %d: unreadable stat %.80q", pid, b)
	}
	if f[0] == "Z" || f[0] == "X" {
		return 0, 0, fmt.Errorf("process %d has exited", pid)
	}
	started, err := strconv.ParseUint(f[19], 10, 64)
	if err != nil {
		return 0, 0, fmt.Errorf("process %d: start time %q: %w", pid, f[19], err)
	}
	u, err := os.ReadFile(filepath.Join(procRoot, "uptime"))
	if err != nil {
		return 0, 0, err
	}
	up, err := strconv.ParseFloat(strings.Fields(string(u) + " x")[0], 64)
	if err != nil {
		return 0, 0, fmt.Errorf("%s/uptime: %w", procRoot, err)
	}
	// USER_HZ, the unit of stat's times, is 100 on every Linux ABI.
	age := time.Duration(up*float64(time.Second)) - time.Duration(started)*time.Second/100
	return max(age, 0), started, nil
}

func (r *Resolver) describe(t plan.Target, pid int, id string) (fault.Target, error) {
	ft := fault.Target{Target: t, PID: pid}
	ft.NetnsPath = filepath.Join(r.o.ProcRoot, strconv.Itoa(pid), "ns", "net")
	ino, err := Inode(ft.NetnsPath)
	if err != nil {
		return fault.Target{}, fmt.Errorf("reading the network namespace of %s (pid %d): %w", t, pid, err)
	}
	ft.NetnsInode = ino
	ft.Cgroups, ft.CgroupPath = r.cgroupsOf(pid, id)
	return ft, nil
}

// Inode returns the inode of the namespace file at path (stat follows the nsfs link).
func Inode(path string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(path, &st); err != nil {
		return 0, fmt.Errorf("stat %s: %w", path, err)
	}
	return st.Ino, nil
}

// ScanPID returns the lowest PID under procRoot whose /proc/<pid>/cgroup names the
// container id (cgroupfs "…/<id>", systemd "cri-containerd-<id>.scope", "crio-<id>.scope";
// cgroup v1 and v2).
func ScanPID(procRoot, id string) (int, error) {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return 0, fmt.Errorf("listing processes in %s: %w", procRoot, err)
	}
	pids := make([]int, 0, len(ents))
	for _, de := range ents {
		if pid, err := strconv.Atoi(de.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	needle := []byte(id)
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue // gone, or not ours to read
		}
		if bytes.Contains(b, needle) {
			return pid, nil
		}
	}
	return 0, fmt.Errorf("no process under %s is in a cgroup of container %s (is the container running, and does the agent run with hostPID?)", procRoot, short(id))
}
