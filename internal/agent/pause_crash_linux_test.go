package agent

// kill -9 of the agent while it holds a container frozen (container pause): no kernel
// object owns a freeze, so the cgroup stays frozen until the journal is recovered, by
// the restarted agent or by the next agent's sweep.

import (
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/nsutil/nstest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// frozen reads the stand-in container's cgroup2 freeze state.
func frozen(t *testing.T, c *nstest.Container) bool {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.CgroupDir, "cgroup.events"))
	if err != nil {
		t.Fatalf("reading the freeze state of %s: %v", c.CgroupDir, err)
	}
	return strings.Contains(string(b), "frozen 1")
}

// pauseAndKill freezes a stand-in container through the real agent binary and kills
// the agent with SIGKILL.
func pauseAndKill(t *testing.T) (c *nstest.Container, p *plan.Plan, dir, jpath string, before []string) {
	nstest.RequireRoot(t)
	agentbin.Path(t) // before the plan: the build may take minutes on a loaded machine
	c = nstest.NewContainer(t)
	if _, err := os.Stat(filepath.Join(c.CgroupDir, "cgroup.freeze")); err != nil {
		t.Skipf("stand-in cgroup %s is not a cgroup2 one (the v1 freezer is tested in internal/fault/container)", c.CgroupDir)
	}
	dir = t.TempDir()
	p, _ = crashPlan(t, c, "pause-"+nstest.RandomHex(4))
	p.Fault = plan.Fault{Kind: plan.KindContainer, Action: plan.ContainerPause, Container: &plan.Container{Action: plan.ContainerPause}}
	jpath = journal.PathFor(dir, p.Experiment, p.Targets[0])
	before = residue(t, c.ID[:8], dir)
	a := startAgent(t, p, []string{"POD_UID=" + c.PodUID}, "--journal-dir", dir, "--termination-log", "")
	io.WriteString(a.stdin, plan.StdinHeartbeat+"\n")
	inj := a.waitEvent(t, plan.EventInjected)
	if !frozen(t, c) {
		t.Fatalf("injected %+v but the cgroup is not frozen", inj.Objects)
	}
	a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.done
	time.Sleep(200 * time.Millisecond)
	if !frozen(t, c) {
		t.Fatal("the freeze vanished with the agent: then nothing needs the journal (update the docs)")
	}
	t.Logf("kill -9 of the agent: the container stays frozen until its journal is recovered")
	return c, p, dir, jpath, before
}

func checkThawed(t *testing.T, c *nstest.Container, dir string, before []string, since time.Time) {
	t.Helper()
	pollGone(t, "freeze after recovery", func() []string {
		if frozen(t, c) {
			return []string{"frozen " + c.CgroupDir}
		}
		return nil
	})
	t.Logf("thawed %s after the recovering agent started", time.Since(since).Round(time.Millisecond))
	if ents, _ := os.ReadDir(dir); len(ents) != 0 {
		t.Fatalf("journal dir not empty: %v", ents)
	}
	if after := residue(t, c.ID[:8], dir); !slices.Equal(before, after) {
		t.Fatalf("residue differs\nbefore: %q\nafter:  %q", before, after)
	}
}

// TestCrashPauseRestartThaws: the restarted agent thaws the container from the journal.
func TestCrashPauseRestartThaws(t *testing.T) {
	c, p, dir, _, before := pauseAndKill(t)
	start := time.Now()
	a := startAgent(t, p, []string{"POD_UID=" + c.PodUID}, "--journal-dir", dir, "--termination-log", "")
	a.waitEvent(t, plan.EventRecovered)
	a.stdin.Close()
	if code, _ := a.wait(t); code != 0 {
		t.Fatalf("restarted agent exit %d; stderr:\n%s", code, a.stderr.String())
	}
	checkThawed(t, c, dir, before, start)
}

// TestCrashPauseSweepThaws: the next agent's sweep thaws it once the helper is gone.
func TestCrashPauseSweepThaws(t *testing.T) {
	c, _, dir, jpath, before := pauseAndKill(t)
	f, err := journal.Read(jpath)
	if err != nil {
		t.Fatal(err)
	}
	f.HelperPodUID = "00000000-dead-dead-dead-000000000000"
	b, _ := json.Marshal(f)
	if err := os.WriteFile(jpath, b, 0o600); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	out, err := exec.Command(agentbin.Path(t), "agent", "--sweep-only", "--journal-dir", dir, "--proc-root", "/proc").Output()
	if err != nil {
		t.Fatalf("sweep: %v %s", err, out)
	}
	var sw journal.Swept
	if err := json.Unmarshal(out, &sw); err != nil || len(sw.Removed) != 1 || sw.Removed[0].Kind != "cgroup-freeze" {
		t.Fatalf("sweep output %s (%v)", out, err)
	}
	checkThawed(t, c, dir, before, start)
}
