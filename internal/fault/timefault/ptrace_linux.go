package timefault

import (
	"encoding/binary"
	"errors"
	"fmt"
	"runtime"
	"strconv"
	"time"

	"golang.org/x/sys/unix"
)

// A Linux tracer is a thread, not a process: every ptrace request for a tracee must
// come from the thread that seized it. onTracerThread runs fn on a fresh OS thread that
// is never returned to Go's pool: it exits with fn's goroutine, and the kernel then
// detaches every tracee fn left attached (on an error path, a panic or a timeout while
// a thread would not stop), resuming each where it was.
func onTracerThread[T any](fn func() (T, error)) (T, error) {
	type result struct {
		v   T
		err error
	}
	ch := make(chan result, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread dies with this goroutine
		var r result
		defer func() {
			if p := recover(); p != nil {
				r.err = fmt.Errorf("timefault: panic on the tracer thread: %v", p)
			}
			ch <- r
		}()
		r.v, r.err = fn()
	}()
	r := <-ch
	return r.v, r.err
}

// stopTimeout bounds how long a thread may take to stop after PTRACE_INTERRUPT (a
// runnable thread on a loaded node must first be scheduled; one in uninterruptible
// sleep does not stop until it wakes).
const stopTimeout = 5 * time.Second

// thread is one seized thread of a stopped process.
type thread struct {
	tid int
	// sig is a signal the thread was about to receive when it stopped
	// (signal-delivery-stop); it is handed back on detach.
	sig int
}

// stopped is a process whose threads are all seized and stopped by this tracer thread.
type stopped struct {
	pid     int
	threads map[int]*thread
	at      time.Time
}

// errTraced: another tracer (a debugger, strace, another chaos tool) holds the process.
type errTraced struct{ tracer int }

func (e errTraced) Error() string {
	return fmt.Sprintf("already traced by pid %d (%s)", e.tracer, commOf(e.tracer))
}

// errNoStop: a thread did not stop in time, or (churn) new threads kept appearing
// faster than they were stopped. Either may pass: the process is tried again later.
type errNoStop struct {
	tid   int
	state byte
	churn bool
}

func (e errNoStop) Error() string {
	if e.churn {
		return fmt.Sprintf("new threads kept appearing for %s while its threads were being stopped", stopTimeout)
	}
	return fmt.Sprintf("thread %d did not stop within %s (state %c)", e.tid, stopTimeout, e.state)
}

func commOf(pid int) string {
	if st, err := statOf(pid); err == nil {
		return st.comm
	}
	return "?"
}

// stopAll seizes and interrupts every thread of pid, until no new thread appears (a
// stopped thread creates none). Must run on the tracer thread. On error the threads
// seized so far stay attached: the caller's tracer thread exit releases them.
func stopAll(pid int) (*stopped, error) {
	s := &stopped{pid: pid, threads: map[int]*thread{}, at: time.Now()}
	deadline := s.at.Add(stopTimeout)
	for {
		if time.Now().After(deadline) {
			return s, errNoStop{tid: pid, churn: true}
		}
		tids, err := tasks(pid)
		if err != nil {
			return s, err
		}
		var fresh []int
		for _, tid := range tids {
			if _, ok := s.threads[tid]; ok {
				continue
			}
			st, err := readStat(procPath(pid, "task", strconv.Itoa(tid), "stat"))
			if err != nil || st.state == 'Z' || st.state == 'X' {
				continue // exited, or a zombie leader: it runs nothing
			}
			if err := unix.PtraceSeize(tid); err != nil {
				if errors.Is(err, unix.ESRCH) {
					continue
				}
				if errors.Is(err, unix.EPERM) {
					if tr := tracerOf(pid); tr != 0 {
						return s, errTraced{tr}
					}
					return s, fmt.Errorf("ptrace refused (EPERM) on thread %d: the agent needs CAP_SYS_PTRACE, and kernel.yama.ptrace_scope must be below 3", tid)
				}
				return s, fmt.Errorf("seizing thread %d: %w", tid, err)
			}
			s.threads[tid] = &thread{tid: tid}
			if err := unix.PtraceInterrupt(tid); err != nil && !errors.Is(err, unix.ESRCH) {
				return s, fmt.Errorf("interrupting thread %d: %w", tid, err)
			}
			fresh = append(fresh, tid)
		}
		if len(fresh) == 0 {
			break
		}
		for _, tid := range fresh {
			if err := s.waitStop(s.threads[tid], deadline); err != nil {
				return s, err
			}
		}
	}
	if len(s.threads) == 0 {
		return s, errGone
	}
	return s, nil
}

// anyTID is a stopped thread to address requests about the whole process to (the
// leader may be a zombie).
func (s *stopped) anyTID() int {
	if _, ok := s.threads[s.pid]; ok {
		return s.pid
	}
	for tid := range s.threads {
		return tid
	}
	return s.pid
}

// waitStop waits until th reports a ptrace stop, or drops it when it exited.
func (s *stopped) waitStop(th *thread, deadline time.Time) error {
	pause := 10 * time.Microsecond
	for {
		var ws unix.WaitStatus
		wpid, err := unix.Wait4(th.tid, &ws, unix.WALL|unix.WNOHANG, nil)
		switch {
		case errors.Is(err, unix.EINTR):
			continue
		case errors.Is(err, unix.ECHILD):
			delete(s.threads, th.tid) // gone and reaped
			return nil
		case err != nil:
			return fmt.Errorf("waiting for thread %d to stop: %w", th.tid, err)
		case wpid == th.tid && (ws.Exited() || ws.Signaled()):
			delete(s.threads, th.tid)
			return nil
		case wpid == th.tid && ws.Stopped():
			// Event stops (PTRACE_INTERRUPT, group-stop) carry no signal to hand
			// back; a signal-delivery-stop holds the signal the thread was about to
			// receive: it is delivered on detach.
			if int(ws)>>16 != unix.PTRACE_EVENT_STOP {
				th.sig = int(ws.StopSignal())
			}
			return nil
		}
		if time.Now().After(deadline) {
			st, _ := readStat(procPath(s.pid, "task", strconv.Itoa(th.tid), "stat"))
			return errNoStop{tid: th.tid, state: st.state}
		}
		time.Sleep(pause)
		pause = min(2*pause, 500*time.Microsecond)
	}
}

// release detaches every thread, handing back the signals they were stopped for.
func (s *stopped) release() time.Duration {
	for _, th := range s.threads {
		// PTRACE_DETACH's data is the signal to deliver; x/sys's PtraceDetach has none.
		_, _, _ = unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_DETACH, uintptr(th.tid), 0, uintptr(th.sig), 0, 0)
	}
	s.threads = nil
	return time.Since(s.at)
}

// poke writes one 8-byte word at addr of the stopped process: one ptrace request, so
// the word changes at once or not at all.
func (s *stopped) poke(addr uint64, word []byte) error {
	if len(word) != 8 {
		return fmt.Errorf("poke of %d bytes, want 8", len(word))
	}
	w := binary.NativeEndian.Uint64(word)
	_, _, errno := unix.Syscall6(unix.SYS_PTRACE, unix.PTRACE_POKEDATA, uintptr(s.anyTID()), uintptr(addr), uintptr(w), 0, 0)
	if errno != 0 {
		return fmt.Errorf("writing 8 bytes at %#x of pid %d: %w", addr, s.pid, goneErr(errno))
	}
	return nil
}

// pokeRegion writes b (a multiple of 8 bytes) at addr, one word at a time.
func (s *stopped) pokeRegion(addr uint64, b []byte) error {
	for i := 0; i+8 <= len(b); i += 8 {
		if err := s.poke(addr+uint64(i), b[i:i+8]); err != nil {
			return err
		}
	}
	return nil
}
