package container

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func pauseTarget(cg *testCgroup, pid int) fault.Target {
	return fault.Target{Target: plan.Target{Namespace: "default", Pod: "p", Container: "app",
		ContainerID: "containerd://" + cg.ID}, PID: pid, Experiment: "chaos-podkill"}
}

func newJournal(t *testing.T, tgt fault.Target) *journal.Journal {
	t.Helper()
	j, err := journal.Create(t.TempDir(), journal.Meta{Experiment: "chaos-podkill", Deadline: time.Now().Add(time.Minute)}, tgt.Target)
	if err != nil {
		t.Fatal(err)
	}
	return j
}

// freezeAndCheck applies the pause fault to a ticking process and proves, from the
// process's own clock, that it ran before, did not run at all while frozen, and runs
// again after undo(). It returns the freeze and thaw latencies.
func freezeAndCheck(t *testing.T, version int, undo func(a fault.Active, j *journal.Journal) error) (freeze, thaw time.Duration) {
	t.Helper()
	cg := newTestCgroup(t, version)
	tk := startTicker(t, cg)
	time.Sleep(200 * time.Millisecond)
	base := tk.between(mono()-int64(200*time.Millisecond), mono())
	if base < 10 {
		t.Fatalf("baseline: %d ticks in 200ms from a process ticking every 2ms", base)
	}

	tgt := pauseTarget(cg, tk.pid())
	j := newJournal(t, tgt)
	p := &pauser{procRoot: "/proc", cgroupRoot: cg.CgroupRoot}
	start := mono()
	a, err := p.Apply(context.Background(), tgt, j)
	frozenAt := mono()
	if err != nil {
		t.Fatal(err)
	}
	if got := a.Objects()[0].Spec; !strings.Contains(got, cg.Dir) || !strings.Contains(got, "1 process(es) frozen") {
		t.Errorf("object %q: want the cgroup and 1 frozen process", got)
	}
	if e := j.Entries(); len(e) != 1 || e[0].Type != EntryFreeze {
		t.Fatalf("journal %+v, want one %s entry", e, EntryFreeze)
	}
	if on, _ := cg.freezer().Frozen(); !on {
		t.Fatal("the kernel does not report the cgroup frozen")
	}
	time.Sleep(500 * time.Millisecond)

	thawStart := mono()
	if err := undo(a, j); err != nil {
		t.Fatal(err)
	}
	first := tk.waitTick(t, thawStart, 5*time.Second)
	if n := tk.between(frozenAt, thawStart); n != 0 {
		t.Fatalf("%d ticks stamped while the cgroup was frozen (%s)", n, ms(thawStart-frozenAt))
	}
	last := tk.lastBefore(frozenAt)
	if last < start-int64(200*time.Millisecond) {
		t.Fatalf("no tick in the 200ms before the freeze")
	}
	if on, _ := cg.freezer().Requested(); on {
		t.Fatal("the cgroup is still frozen after recovery")
	}
	if _, err := os.Stat(j.Path()); err == nil && undo == nil {
		t.Fatal("journal left")
	}
	t.Logf("TABLE|cgroup v%d pause|freeze %s, thaw→running %s|silent %s (baseline %d ticks/200ms)",
		version, ms(frozenAt-start), ms(first-thawStart), ms(thawStart-frozenAt), base)
	return time.Duration(frozenAt - start), time.Duration(first - thawStart)
}

// TestPause freezes a real process in a test cgroup (v1 freezer and cgroup2) and
// thaws it through the fault's Recover.
func TestPause(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			freezeAndCheck(t, v, func(a fault.Active, j *journal.Journal) error {
				objs, err := a.Recover(context.Background())
				if err != nil {
					return err
				}
				if len(objs) != 1 || !strings.Contains(objs[0].Spec, "thawed") {
					return fmt.Errorf("recovered %+v", objs)
				}
				if again, err := a.Recover(context.Background()); err != nil || len(again) != 0 {
					return fmt.Errorf("second Recover: %v %v", again, err)
				}
				return j.Done()
			})
		})
	}
}

// TestPauseRecoveredFromJournal: the agent died with the container frozen; recovery
// from the journal file alone (what a restarted agent, the next agent's sweep or gc
// runs) thaws it.
func TestPauseRecoveredFromJournal(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			freezeAndCheck(t, v, func(_ fault.Active, j *journal.Journal) error {
				removed, err := journal.Recover(context.Background(), j.Path())
				if err != nil {
					return err
				}
				if len(removed) != 1 || removed[0].Kind != "cgroup-freeze" {
					return fmt.Errorf("journal recovery removed %+v", removed)
				}
				if _, err := os.Stat(j.Path()); !os.IsNotExist(err) {
					return fmt.Errorf("journal file still there after recovery: %v", err)
				}
				return nil
			})
		})
	}
}

// TestPauseRefusesFrozenCgroup: a cgroup someone else froze is left alone (thawing it
// at the end would undo their freeze), and nothing is journaled.
func TestPauseRefusesFrozenCgroup(t *testing.T) {
	for _, v := range []int{1, 2} {
		t.Run(fmt.Sprintf("v%d", v), func(t *testing.T) {
			cg := newTestCgroup(t, v)
			tk := startTicker(t, cg)
			if err := cg.freezer().Set(true); err != nil {
				t.Fatal(err)
			}
			if err := waitState(context.Background(), cg.freezer(), true, 5*time.Second); err != nil {
				t.Fatal(err)
			}
			tgt := pauseTarget(cg, tk.pid())
			j := newJournal(t, tgt)
			_, err := (&pauser{procRoot: "/proc", cgroupRoot: cg.CgroupRoot}).Apply(context.Background(), tgt, j)
			if err == nil || !strings.Contains(err.Error(), "already frozen") {
				t.Fatalf("Apply on a frozen cgroup: %v", err)
			}
			if len(j.Entries()) != 0 {
				t.Fatalf("journaled %+v for a refused freeze", j.Entries())
			}
			if on, _ := cg.freezer().Frozen(); !on {
				t.Fatal("the other freeze was undone")
			}
		})
	}
}

// TestThawGoneCgroup: recovering the freeze of a container that is gone is success.
func TestThawGoneCgroup(t *testing.T) {
	for _, v := range []int{1, 2} {
		d := filepath.Join(t.TempDir(), "gone")
		data := fmt.Sprintf(`{"version":%d,"dir":%q}`, v, d)
		if err := recoverFreeze(context.Background(), journal.Entry{Type: EntryFreeze, Data: []byte(data)}); err != nil {
			t.Errorf("v%d: %v", v, err)
		}
	}
	if err := recoverFreeze(context.Background(), journal.Entry{Type: EntryFreeze, Data: []byte(`{"version":3}`)}); err == nil {
		t.Error("a journal entry without a cgroup was accepted")
	}
}

// TestFindFreezerPrivateCgroupNamespace: on cgroup v2 nodes the helper runs in its own
// cgroup namespace and sees other containers' paths relative to its root
// ("/../<id>"); FindFreezer must still find the host path.
func TestFindFreezerPrivateCgroupNamespace(t *testing.T) {
	target := newTestCgroup(t, 2)
	tk := startTicker(t, target)
	helper := newTestCgroup(t, 2)
	fd, err := syscall.Open(helper.Dir, syscall.O_RDONLY|syscall.O_DIRECTORY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), roleEnv+"="+roleFind, fmt.Sprintf("KC_FIND_PID=%d", tk.pid()), "KC_FIND_ID="+target.ID)
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWCGROUP, UseCgroupFD: true, CgroupFD: fd}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child in a private cgroup namespace: %v\n%s", err, out)
	}
	lines := strings.SplitN(string(out), "\n", 3)
	if len(lines) < 3 {
		t.Fatalf("child said %q", out)
	}
	if !strings.Contains(lines[2], "/..") {
		t.Fatalf("the child's own view of the target's cgroup is %q: not a private namespace, the test proves nothing", lines[2])
	}
	if want := fmt.Sprintf("2 %s", target.Dir); lines[0] != want {
		t.Fatalf("FindFreezer in a private cgroup namespace = %q (err %s), want %q", lines[0], lines[1], want)
	}
	t.Logf("child sees %q, FindFreezer found %s", strings.TrimSpace(lines[2]), target.Dir)
}
