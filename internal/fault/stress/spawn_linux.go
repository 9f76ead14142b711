package stress

import (
	"bufio"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress/worker"
)

// hostThread is one OS thread that lives as long as the agent. Stressors are started
// from it: Go's parent-death signal fires when the *thread* that started the child
// exits, and a pooled thread may be torn down any time (a goroutine that locked it and
// switched its namespaces exits). It is in the node's cgroup namespace, so it reads
// every cgroup path as the node does and may move a process anywhere in the tree.
type hostThread struct {
	reqs chan func()
	mu   sync.Mutex
	err  error // why the thread cannot be used
}

var host = sync.OnceValue(func() *hostThread {
	h := &hostThread{reqs: make(chan func())}
	ready := make(chan struct{})
	go func() {
		runtime.LockOSThread() // never unlocked, and this goroutine never returns
		_, err := container.EnterHostCgroupNS("/proc")
		h.fail(err)
		close(ready)
		for f := range h.reqs {
			f()
		}
	}()
	<-ready
	return h
})

// fail marks the thread unusable for the reason err (nil: no change).
func (h *hostThread) fail(err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.err == nil {
		h.err = err
	}
}

// do runs fn on the host thread.
func (h *hostThread) do(fn func() error) error {
	h.mu.Lock()
	err := h.err
	h.mu.Unlock()
	if err != nil {
		return err
	}
	done := make(chan error, 1)
	h.reqs <- func() { done <- fn() }
	return <-done
}

// stressor is one started stressor process, the agent being its parent.
type stressor struct {
	pid     int
	start   uint64 // start time, clock ticks after boot
	inPidNS bool   // started in the target's PID namespace
	cmd     *exec.Cmd
	ctrl    *os.File // write end of the control pipe: Release, and EOF when we are gone

	held      atomic.Uint64
	holding   atomic.Bool   // it said "done": the whole size is allocated
	allocated chan struct{} // closed on "done" or when its output ends (it exited)
	exited    chan struct{} // closed once reaped
	mu        sync.Mutex
	messages  []string // "error" lines and anything else it printed
	state     *os.ProcessState
	endedAt   time.Time
	killedUs  atomic.Bool
}

// executable is what a stressor runs: this binary, by its path when that is still the
// file we run (so `ps`/`top` show its name), else through /proc/self/exe.
func executable() string {
	exe, err := os.Executable()
	if err != nil {
		return "/proc/self/exe"
	}
	var a, b syscall.Stat_t
	if syscall.Stat(exe, &a) != nil || syscall.Stat("/proc/self/exe", &b) != nil || a.Dev != b.Dev || a.Ino != b.Ino {
		return "/proc/self/exe"
	}
	return exe
}

// argv0 names the stressor in `ps` and `top`: the agent's own argv[0] when that is the
// tool (/kubectl-chaos in the image), else the tool's name, so the residue checks,
// which look for it, see every stressor.
func argv0() string {
	if filepath.Base(os.Args[0]) == worker.Argv0 {
		return os.Args[0]
	}
	return worker.Argv0
}

// spawn starts a parked stressor for job, in the PID namespace at pidns if it can ("" =
// ours). Nothing it does is charged anywhere until release.
func spawn(job worker.Job, pidns string) (*stressor, error) {
	ctrlR, ctrlW, err := os.Pipe()
	if err != nil {
		return nil, fmt.Errorf("control pipe: %w", err)
	}
	outR, outW, err := os.Pipe()
	if err != nil {
		ctrlR.Close()
		ctrlW.Close()
		return nil, fmt.Errorf("status pipe: %w", err)
	}
	s := &stressor{ctrl: ctrlW, allocated: make(chan struct{}), exited: make(chan struct{})}
	s.cmd = &exec.Cmd{
		Path: executable(),
		Args: append([]string{argv0()}, worker.Args(job.Kind, job.Workers, job.Amount)...),
		Env: []string{worker.EnvMarker + "=1", "GOMAXPROCS=" + strconv.Itoa(job.Workers+2),
			"GOTRACEBACK=single", "PATH=/"},
		Stdout:     outW,
		Stderr:     outW,
		ExtraFiles: []*os.File{ctrlR}, // fd 3 = worker.ControlFD
	}
	err = host().do(func() error {
		var err error
		s.inPidNS, err = startIn(s.cmd, pidns)
		return err
	})
	ctrlR.Close()
	outW.Close()
	if err != nil {
		ctrlW.Close()
		outR.Close()
		return nil, err
	}
	s.pid = s.cmd.Process.Pid
	go s.read(outR)
	go s.reap()
	if s.start, _, err = procStart(s.pid); err != nil {
		s.kill()
		return nil, fmt.Errorf("reading the start time of stressor pid %d: %w", s.pid, err)
	}
	return s, nil
}

// startIn starts cmd on the host thread, in the PID namespace at pidns when it can be
// entered (setns only sets the namespace of this thread's future children); it says
// whether it was.
func startIn(cmd *exec.Cmd, pidns string) (bool, error) {
	in := false
	if pidns != "" {
		if f, err := os.Open(pidns); err == nil {
			in = unix.Setns(int(f.Fd()), unix.CLONE_NEWPID) == nil
			f.Close()
		}
	}
	err := cmd.Start()
	if in {
		// Back to our own namespace for the next child; the thread is useless otherwise.
		if rerr := setnsOwnPid(); rerr != nil {
			host().fail(fmt.Errorf("the stressor thread could not return to its PID namespace: %w", rerr))
		}
	}
	if err != nil {
		return in, fmt.Errorf("starting the stressor %s: %w", cmd.Path, err)
	}
	return in, nil
}

func setnsOwnPid() error {
	f, err := os.Open("/proc/thread-self/ns/pid") // the active namespace, never changed
	if err != nil {
		return err
	}
	defer f.Close()
	return unix.Setns(int(f.Fd()), unix.CLONE_NEWPID)
}

// release lets the parked stressor start its work.
func (s *stressor) release() error {
	if _, err := s.ctrl.Write([]byte{worker.Release}); err != nil {
		return fmt.Errorf("releasing stressor pid %d: %w", s.pid, err)
	}
	return nil
}

// read follows the stressor's status lines until it exits.
func (s *stressor) read(r *os.File) {
	defer r.Close()
	var once sync.Once
	allocated := func() { once.Do(func() { close(s.allocated) }) }
	defer allocated()
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		kind, rest, _ := strings.Cut(sc.Text(), " ")
		switch kind {
		case worker.StatusHeld, worker.StatusDone:
			if n, err := strconv.ParseUint(rest, 10, 64); err == nil {
				s.held.Store(n)
			}
			if kind == worker.StatusDone {
				s.holding.Store(true)
				allocated()
			}
		default:
			s.mu.Lock()
			if len(s.messages) < 20 {
				s.messages = append(s.messages, sc.Text())
			}
			s.mu.Unlock()
		}
	}
}

func (s *stressor) reap() {
	st, _ := s.cmd.Process.Wait()
	s.mu.Lock()
	s.state, s.endedAt = st, time.Now()
	s.mu.Unlock()
	close(s.exited)
}

// kill sends SIGKILL (the process cannot be another one: it is our unreaped child).
func (s *stressor) kill() {
	s.killedUs.Store(true)
	_ = syscall.Kill(s.pid, syscall.SIGKILL)
}

// stop kills the stressor, waits until it is reaped, closes the control pipe and checks
// that no process with its PID and start time is left.
func (s *stressor) stop(timeout time.Duration) error {
	select {
	case <-s.exited:
	default:
		s.kill()
	}
	select {
	case <-s.exited:
	case <-time.After(timeout):
		return fmt.Errorf("stressor pid %d still running %s after SIGKILL", s.pid, timeout)
	}
	s.ctrl.Close()
	if alive(s.pid, s.start) {
		return fmt.Errorf("stressor pid %d still listed after it was reaped", s.pid)
	}
	return nil
}

// ended says whether the stressor is gone, and how (for a death we did not cause).
func (s *stressor) ended() (bool, string) {
	select {
	case <-s.exited:
	default:
		return false, ""
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	how := "exited"
	if s.state != nil {
		how = s.state.String() // "signal: killed", "exit status 2"
	}
	if len(s.messages) > 0 {
		how += " (" + strings.Join(s.messages, "; ") + ")"
	}
	return true, how
}
