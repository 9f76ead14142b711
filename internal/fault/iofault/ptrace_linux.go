package iofault

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// stopTimeout bounds the wait for one thread to stop: a thread inside an uninterruptible
// call (a request to another FUSE server, a hung NFS read) is given up on, and the
// process keeps its descriptors.
const stopTimeout = 5 * time.Second

// errGone: the thread or process exited while we worked on it.
var errGone = errors.New("exited")

// stopped is a process whose threads are all stopped under ptrace. Every ptrace call,
// from stopAll to detach, must come from the same locked OS thread (the tracer).
type stopped struct {
	pid  int
	tids []int
	// pending holds, per thread, a signal that arrived while we held it; it is
	// delivered when the thread is let go.
	pending map[int]int
	since   time.Time
}

// stopAll seizes every thread of pid and stops it (PTRACE_SEIZE + PTRACE_INTERRUPT: no
// signal is sent, nothing the process can see). Threads created meanwhile are caught by
// listing the tasks again until no new one appears.
func stopAll(pid int) (*stopped, error) {
	s := &stopped{pid: pid, pending: map[int]int{}, since: time.Now()}
	seen := map[int]bool{}
	for round := 0; ; round++ {
		tids, err := tasks(pid)
		if err != nil {
			s.detach()
			return nil, err
		}
		var fresh []int
		for _, tid := range tids {
			if seen[tid] {
				continue
			}
			seen[tid] = true
			err := unix.PtraceSeize(tid)
			if err == nil {
				err = unix.PtraceInterrupt(tid)
			}
			switch {
			case errors.Is(err, unix.ESRCH):
				continue // exited meanwhile
			case err != nil:
				s.detach()
				return nil, fmt.Errorf("ptrace seize of thread %d: %w", tid, err)
			}
			s.tids = append(s.tids, tid)
			fresh = append(fresh, tid)
		}
		// Interrupted all at once, they stop in parallel; now collect each stop.
		for _, tid := range fresh {
			err := s.waitStop(tid)
			if errors.Is(err, errGone) || errors.Is(err, unix.ESRCH) {
				s.forget(tid)
				continue
			}
			if err != nil {
				s.detach()
				return nil, err
			}
		}
		added := len(fresh) > 0
		if !added {
			break
		}
		if round > 50 {
			s.detach()
			return nil, fmt.Errorf("threads of pid %d keep appearing faster than they can be stopped", pid)
		}
	}
	if len(s.tids) == 0 {
		return nil, fmt.Errorf("pid %d: %w", pid, errGone)
	}
	return s, nil
}

func (s *stopped) forget(tid int) {
	s.tids = slices.DeleteFunc(s.tids, func(t int) bool { return t == tid })
}

// waitStop waits for the stop our interrupt asked for. A signal that arrives first is
// passed on (the thread handles it, then stops for us).
func (s *stopped) waitStop(tid int) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		ws, err := waitThread(tid, deadline)
		if err != nil {
			return err
		}
		if ptraceEvent(ws) == unix.PTRACE_EVENT_STOP {
			return nil
		}
		if err := unix.PtraceCont(tid, int(ws.StopSignal())); err != nil {
			return fmt.Errorf("passing signal %v on to thread %d: %w", ws.StopSignal(), tid, err)
		}
	}
}

// step single-steps tid (one instruction: our injected syscall) and waits for the trap.
// A signal that arrives meanwhile is kept for the detach.
func (s *stopped) step(tid int) error {
	deadline := time.Now().Add(stopTimeout)
	for {
		if err := unix.PtraceSingleStep(tid); err != nil {
			return fmt.Errorf("single-stepping thread %d: %w", tid, err)
		}
		ws, err := waitThread(tid, deadline)
		if err != nil {
			return err
		}
		if sig := ws.StopSignal(); sig != unix.SIGTRAP && ptraceEvent(ws) == 0 {
			s.pending[tid] = int(sig)
			continue
		}
		return nil
	}
}

// detach lets every thread go, with the signals that arrived while we held them.
func (s *stopped) detach() {
	for _, tid := range s.tids {
		_, _, _ = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(tid), 0, uintptr(s.pending[tid]), 0, 0)
	}
	s.tids = nil
}

// waitThread waits for tid to change state, until deadline. It polls (wait4 has no
// timeout, and a thread stuck in an uninterruptible call must not hold us) with a raw
// nanosleep that backs off from 5 µs to 250 µs: this OS thread is locked, and a Go sleep
// would cost a scheduler handoff on every wakeup.
func waitThread(tid int, deadline time.Time) (unix.WaitStatus, error) {
	pause := 5 * time.Microsecond
	for {
		var ws unix.WaitStatus
		got, err := unix.Wait4(tid, &ws, unix.WALL|unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case err != nil:
			return 0, fmt.Errorf("waiting for thread %d: %w", tid, err)
		case got == tid && (ws.Exited() || ws.Signaled()):
			return 0, fmt.Errorf("thread %d: %w", tid, errGone)
		case got == tid && ws.Stopped():
			return ws, nil
		}
		if time.Now().After(deadline) {
			return 0, fmt.Errorf("thread %d did not stop within %s (blocked in an uninterruptible call?)", tid, stopTimeout)
		}
		ts := unix.NsecToTimespec(int64(pause))
		_ = unix.Nanosleep(&ts, nil)
		pause = min(2*pause, 250*time.Microsecond)
	}
}

func ptraceEvent(ws unix.WaitStatus) int { return int(uint32(ws)>>16) & 0xff }

// tasks lists the threads of pid.
func tasks(pid int) ([]int, error) {
	ents, err := os.ReadDir(filepath.Join(procRoot, strconv.Itoa(pid), "task"))
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("pid %d: %w", pid, errGone)
		}
		return nil, err
	}
	var out []int
	for _, e := range ents {
		if tid, err := strconv.Atoi(e.Name()); err == nil {
			out = append(out, tid)
		}
	}
	return out, nil
}

// remote runs system calls in a stopped process, on one of its threads, and puts the
// thread back as it was.
type remote struct {
	s   *stopped
	tid int
	regs
	scratch uintptr // a page of the process's memory we mapped for arguments
}

// newRemote prepares a thread of s for injected calls and maps a scratch page.
func newRemote(s *stopped) (*remote, error) {
	r := &remote{s: s, tid: s.tids[0]}
	if slices.Contains(s.tids, s.pid) {
		r.tid = s.pid
	}
	if err := r.save(); err != nil {
		return nil, err
	}
	addr, err := r.call(unix.SYS_MMAP, 0, 4096, unix.PROT_READ|unix.PROT_WRITE, unix.MAP_PRIVATE|unix.MAP_ANONYMOUS, ^uintptr(0), 0)
	if err != nil {
		r.restore()
		return nil, fmt.Errorf("mapping a scratch page in pid %d: %w", s.pid, err)
	}
	r.scratch = addr
	return r, nil
}

// close unmaps the scratch page and restores the thread's registers.
func (r *remote) close() error {
	var err error
	if r.scratch != 0 {
		_, err = r.call(unix.SYS_MUNMAP, r.scratch, 4096)
		r.scratch = 0
	}
	return errors.Join(err, r.restore())
}

// cstring puts s, NUL-terminated, in the scratch page and returns its address.
func (r *remote) cstring(s string) (uintptr, error) {
	if len(s) >= 4096 {
		return 0, fmt.Errorf("path of %d bytes does not fit a page", len(s))
	}
	if _, err := unix.PtracePokeData(r.tid, r.scratch, append([]byte(s), 0)); err != nil {
		return 0, fmt.Errorf("writing into pid %d: %w", r.s.pid, err)
	}
	return r.scratch, nil
}
