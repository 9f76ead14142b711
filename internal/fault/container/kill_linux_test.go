package container

import (
	"context"
	"errors"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// sleeper starts `sleep 60` (no signal handlers), in its own PID namespace when
// pidns is set (there it is PID 1, as a container's main process is).
func sleeper(t *testing.T, pidns bool) *exec.Cmd {
	t.Helper()
	cmd := exec.Command("sleep", "60")
	if pidns {
		cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { cmd.Wait(); close(done) }()
	t.Cleanup(func() { cmd.Process.Kill(); <-done })
	// Wait until sleep has exec'd (its comm is "sleep"), so the signal hits sleep.
	for range 500 {
		if b, _ := exec.Command("cat", "/proc/"+itoa(cmd.Process.Pid)+"/comm").Output(); strings.TrimSpace(string(b)) == "sleep" {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	return cmd
}

func itoa(n int) string { return strconv.Itoa(n) }

func killTarget(pid int) fault.Target {
	return fault.Target{Target: plan.Target{Namespace: "default", Pod: "p", Container: "app",
		ContainerID: "containerd://" + strings.Repeat("ab", 32)}, PID: pid}
}

func alive(pid int) bool { return syscall.Kill(pid, 0) == nil && !zombie(pid) }

func zombie(pid int) bool {
	b, err := exec.Command("cat", "/proc/"+itoa(pid)+"/stat").Output()
	if err != nil {
		return true
	}
	s := string(b)
	i := strings.LastIndex(s, ")")
	return i < 0 || len(s) < i+3 || s[i+2] == 'Z'
}

// TestKillSignals sends real signals to real processes: through the runtime when it
// answers, through kill(2) when it does not, and says when the kernel drops a TERM
// to a PID 1 without a handler.
func TestKillSignals(t *testing.T) {
	nstest.RequireRoot(t)
	viaRuntime := func(ctx context.Context, tgt fault.Target, sig syscall.Signal) error {
		return syscall.Kill(tgt.PID, sig) // stands in for containerd's task kill
	}
	noRuntime := func(context.Context, fault.Target, syscall.Signal) error {
		return errors.New("no containerd socket")
	}
	tests := []struct {
		name     string
		sig      string
		pidns    bool
		send     func(context.Context, fault.Target, syscall.Signal) error
		exits    bool
		via      string
		noteWant string
	}{
		{"KILL via runtime", "KILL", false, viaRuntime, true, "via containerd", ""},
		{"TERM fallback", "TERM", false, noRuntime, true, "via kill(2)", "containerd could not signal"},
		{"KILL to PID 1", "KILL", true, noRuntime, true, "via kill(2)", ""},
		{"TERM to PID 1 without handler", "TERM", true, viaRuntime, false, "via containerd", "kernel drops the signal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := sleeper(t, tt.pidns)
			inj, err := newInjector(plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: plan.ContainerKill, Signal: tt.sig}})
			if err != nil {
				t.Fatal(err)
			}
			k := inj.(*killer)
			k.procRoot, k.signal, k.exitWait = "/proc", tt.send, 1500*time.Millisecond
			if !k.OneShot() {
				t.Fatal("kill is not one-shot")
			}
			start := time.Now()
			a, err := k.Apply(context.Background(), killTarget(p.Process.Pid), nil)
			if err != nil {
				t.Fatal(err)
			}
			el := time.Since(start)
			spec := a.Objects()[0].Spec
			notes := strings.Join(a.(fault.Notes).Notes(), "; ")
			if !strings.Contains(spec, tt.via) || !strings.Contains(spec, "SIG"+tt.sig) {
				t.Errorf("object %q: want SIG%s %s", spec, tt.sig, tt.via)
			}
			if tt.noteWant != "" && !strings.Contains(notes, tt.noteWant) {
				t.Errorf("notes %q: want %q", notes, tt.noteWant)
			}
			if got := alive(p.Process.Pid); got == tt.exits {
				t.Fatalf("process alive=%v after SIG%s, want exited=%v (object %q)", got, tt.sig, tt.exits, spec)
			}
			if tt.exits != strings.Contains(spec, "exited") {
				t.Errorf("object %q does not say what happened to the process", spec)
			}
			if objs, err := a.Recover(context.Background()); err != nil || objs != nil {
				t.Errorf("Recover of a signal: %v %v", objs, err)
			}
			t.Logf("%s: %s in %s; notes: %s", tt.name, spec, el.Round(time.Millisecond), notes)
		})
	}
}

func TestKillRefusesPIDs(t *testing.T) {
	k := &killer{name: "KILL", sig: 9, procRoot: "/proc"}
	for _, pid := range []int{0, 1} {
		if _, err := k.Apply(context.Background(), killTarget(pid), nil); err == nil {
			t.Errorf("pid %d accepted", pid)
		}
	}
}
