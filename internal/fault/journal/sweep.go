package journal

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Sweep reasons.
const (
	SweepDeadline   = "deadline-passed"
	SweepHelperGone = "helper-gone"
)

// SweepOptions tune SweepWith.
type SweepOptions struct {
	// Dir is the journal root, e.g. /run/kubectl-chaos.
	Dir string
	// Now is the current time.
	Now time.Time
	// ProcRoot is the host's /proc (we run with hostPID); default DefaultProcRoot().
	ProcRoot string
}

// Swept is what the sweep did with one experiment.
type Swept struct {
	Experiment string        `json:"experiment"`
	Reason     string        `json:"reason"`
	Files      []string      `json:"files"`
	Removed    []plan.Object `json:"removed,omitempty"`
	Error      string        `json:"error,omitempty"`
}

// Sweep recovers the journals of other experiments whose agent is gone for good: the
// experiment's lock is free (no live agent) and either its deadline has passed or its
// helper pod has no process left on this host. It returns what it did; the error joins
// the failures.
func Sweep(ctx context.Context, dir string, now time.Time) ([]Swept, error) {
	return SweepWith(ctx, SweepOptions{Dir: dir, Now: now})
}

// SweepWith is Sweep with options.
func SweepWith(ctx context.Context, o SweepOptions) ([]Swept, error) {
	if o.ProcRoot == "" {
		o.ProcRoot = DefaultProcRoot()
	}
	ents, err := os.ReadDir(o.Dir)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, nil
		}
		return nil, fmt.Errorf("sweeping journals in %s: %w", o.Dir, err)
	}
	var out []Swept
	var errs []error
	for _, de := range ents {
		if !de.IsDir() || strings.HasPrefix(de.Name(), ".") {
			continue
		}
		s, err := sweepOne(ctx, o, de.Name())
		if err != nil {
			errs = append(errs, err)
		}
		if s != nil {
			out = append(out, *s)
		}
	}
	return out, errors.Join(errs...)
}

func sweepOne(ctx context.Context, o SweepOptions, experiment string) (*Swept, error) {
	l, err := TryLock(o.Dir, experiment)
	if err != nil {
		if errors.Is(err, ErrLocked) {
			return nil, nil // its agent is alive
		}
		return nil, err
	}
	defer l.Release()
	files, err := List(o.Dir, experiment)
	if err != nil || len(files) == 0 {
		return nil, err // Release removes the empty directory
	}
	reason := ""
	for _, p := range files {
		f, err := Read(p)
		if err != nil {
			// An unreadable journal cannot be recovered; leave it for a human.
			return nil, err
		}
		if !f.Deadline.IsZero() && o.Now.After(f.Deadline) {
			reason = SweepDeadline
			break
		}
		if f.HelperPodUID != "" && !PodAlive(o.ProcRoot, f.HelperPodUID) {
			reason = SweepHelperGone
			break
		}
	}
	if reason == "" {
		return nil, nil
	}
	s := &Swept{Experiment: experiment, Reason: reason, Files: files}
	var errs []error
	for _, p := range files {
		removed, err := Recover(ctx, p)
		s.Removed = append(s.Removed, removed...)
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		s.Error = err.Error()
		return s, err
	}
	return s, nil
}

// DefaultProcRoot is /host/proc when the host's /proc is mounted there, else /proc.
func DefaultProcRoot() string {
	if st, err := os.Stat("/host/proc/1"); err == nil && st.IsDir() {
		return "/host/proc"
	}
	return "/proc"
}

// PodAlive reports whether any process under procRoot runs in a cgroup of pod uid
// (kubelet names pod cgroups "pod<uid>", with '_' for '-' under the systemd driver).
func PodAlive(procRoot, uid string) bool {
	if uid == "" {
		return true
	}
	a := "pod" + uid
	b := "pod" + strings.ReplaceAll(uid, "-", "_")
	found := false
	ScanProc(procRoot, func(pid int, cgroup []byte) bool {
		s := string(cgroup)
		if strings.Contains(s, a) || strings.Contains(s, b) {
			found = true
			return false
		}
		return true
	})
	return found
}

// ScanProc calls fn with the /proc/<pid>/cgroup content of each process under procRoot,
// in increasing PID order, until fn returns false. Vanished processes are skipped.
func ScanProc(procRoot string, fn func(pid int, cgroup []byte) bool) error {
	ents, err := os.ReadDir(procRoot)
	if err != nil {
		return fmt.Errorf("listing processes in %s: %w", procRoot, err)
	}
	pids := make([]int, 0, len(ents))
	for _, de := range ents {
		if pid, err := strconv.Atoi(de.Name()); err == nil && pid > 0 {
			pids = append(pids, pid)
		}
	}
	sort.Ints(pids)
	for _, pid := range pids {
		b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "cgroup"))
		if err != nil {
			continue
		}
		if !fn(pid, b) {
			return nil
		}
	}
	return nil
}
