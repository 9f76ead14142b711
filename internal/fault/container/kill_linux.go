package container

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	ctr "github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// exitWait bounds how long the agent watches the signalled process for its exit.
const exitWait = 10 * time.Second

// killer signals the target container's main process once.
type killer struct {
	name     string // "KILL"
	sig      int
	procRoot string
	// signal sends through the runtime (tests replace it); nil = containerd.
	signal func(ctx context.Context, t fault.Target, sig syscall.Signal) error
	// exitWait bounds the watch for the process's exit; 0 = exitWait.
	exitWait time.Duration
}

// OneShot: the fault is done when the signal is sent.
func (k *killer) OneShot() bool { return true }

// Apply sends the signal (containerd's task API first, kill(2) on the host PID if
// that fails) and watches the process, through a pidfd taken before the signal, for
// up to exitWait: the report says whether it exited, and why not when it did not.
func (k *killer) Apply(ctx context.Context, t fault.Target, rec fault.Recorder) (fault.Active, error) {
	if t.PID <= 1 {
		return nil, fmt.Errorf("refusing to signal pid %d for %s", t.PID, t.Target)
	}
	pidfd, err := unix.PidfdOpen(t.PID, 0)
	if err != nil {
		return nil, fmt.Errorf("opening pid %d of %s: %w", t.PID, t.Target, err)
	}
	defer unix.Close(pidfd)
	var notes []string
	if n := k.droppedNote(t.PID); n != "" {
		notes = append(notes, n)
	}
	via := "containerd"
	send := k.signal
	if send == nil {
		send = containerdSignal
	}
	if err := send(ctx, t, syscall.Signal(k.sig)); err != nil {
		via = "kill(2) on the host PID"
		notes = append(notes, fmt.Sprintf("containerd could not signal the task (%v): sent with kill(2) on pid %d", err, t.PID))
		if err := unix.PidfdSendSignal(pidfd, unix.Signal(k.sig), nil, 0); err != nil {
			return nil, fmt.Errorf("sending SIG%s to pid %d of %s: %w", k.name, t.PID, t.Target, err)
		}
	}
	sent := time.Now()
	obj := SignalObject(k.name, t.PID, via)
	wait := cmp.Or(k.exitWait, exitWait)
	exited, err := waitExit(ctx, pidfd, wait)
	switch {
	case err != nil:
		obj.Spec += fmt.Sprintf("; watching for its exit failed: %v", err)
	case exited:
		obj.Spec += fmt.Sprintf("; the process exited %s later", time.Since(sent).Round(time.Millisecond))
		notes = append(notes, fmt.Sprintf("SIG%s sent via %s: pid %d exited %s later", k.name, via, t.PID, time.Since(sent).Round(time.Millisecond)))
	default:
		obj.Spec += fmt.Sprintf("; the process still runs %s later", wait)
		if len(notes) == 0 || !strings.Contains(notes[0], "drops") {
			notes = append(notes, fmt.Sprintf("pid %d did not exit within %s of SIG%s: it handles or ignores the signal", t.PID, wait, k.name))
		}
	}
	return &killed{obj: obj, notes: notes}, nil
}

// droppedNote says when the kernel will drop the signal: the process is the init of
// its PID namespace (the container's PID 1) and has no handler for it. Only SIGKILL
// and SIGSTOP reach such a process from outside its namespace regardless.
func (k *killer) droppedNote(pid int) string {
	if k.sig == int(syscall.SIGKILL) {
		return ""
	}
	b, err := os.ReadFile(filepath.Join(k.procRoot, strconv.Itoa(pid), "status"))
	if err != nil {
		return ""
	}
	init, caught := false, uint64(0)
	for _, l := range strings.Split(string(b), "\n") {
		key, val, _ := strings.Cut(l, ":")
		f := strings.Fields(val)
		switch key {
		case "NSpid":
			init = len(f) > 1 && f[len(f)-1] == "1"
		case "SigCgt":
			if len(f) == 1 {
				caught, _ = strconv.ParseUint(f[0], 16, 64)
			}
		}
	}
	if !init || caught&(1<<(k.sig-1)) != 0 {
		return ""
	}
	return fmt.Sprintf("pid %d is PID 1 of the container and has no handler for SIG%s: the kernel drops the signal, the container keeps running (use --signal KILL)", pid, k.name)
}

// waitExit waits until the process behind pidfd exits, for at most d.
func waitExit(ctx context.Context, pidfd int, d time.Duration) (bool, error) {
	deadline := time.Now().Add(d)
	for {
		left := time.Until(deadline)
		if left <= 0 {
			return false, nil
		}
		step := min(left, 200*time.Millisecond)
		fds := []unix.PollFd{{Fd: int32(pidfd), Events: unix.POLLIN}}
		n, err := unix.Poll(fds, int(step.Milliseconds())+1)
		if err != nil && !errors.Is(err, unix.EINTR) {
			return false, err
		}
		if n > 0 {
			return true, nil
		}
		if ctx.Err() != nil {
			return false, ctx.Err()
		}
	}
}

// containerdSignal signals the container's task through containerd.
func containerdSignal(ctx context.Context, t fault.Target, sig syscall.Signal) error {
	return ctr.Signal(ctx, ctr.Options{Endpoint: t.Runtime.Endpoint, Namespace: t.Runtime.Namespace}, t.RuntimeID(), sig)
}

type killed struct {
	obj   plan.Object
	notes []string
}

func (a *killed) Objects() []plan.Object { return []plan.Object{a.obj} }
func (a *killed) Notes() []string        { return a.notes }

// Recover: a signal has nothing to undo.
func (a *killed) Recover(context.Context) ([]plan.Object, error) { return nil, nil }

func selfPID() int { return os.Getpid() }
