//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/container"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
)

// deployLimited creates a one-pod Deployment of the echo server with CPU and memory
// limits (requests equal, so the pod is Guaranteed) and returns the pod's name.
func deployLimited(t *testing.T, ns, name, cpu, memory string) string {
	t.Helper()
	deployEchoWith(t, ns, name, 1, fmt.Sprintf(`        resources:
          limits: {cpu: "%[1]s", memory: "%[2]s"}
          requests: {cpu: "%[1]s", memory: "%[2]s"}
`, cpu, memory))
	return podNames(t, ns, "app="+name)[0]
}

// podCgroups finds the pod's container on this machine (the node) and its cgroups, as
// the node sees them: what the test measures the fault by, from outside it.
func podCgroups(t *testing.T, ns, pod string) []fault.Cgroup {
	t.Helper()
	id := kubectl(t, "-n", ns, "get", "pod", pod, "-o", "jsonpath={.status.containerStatuses[0].containerID}")
	_, id, _ = strings.Cut(strings.TrimSpace(id), "://")
	pid, err := container.ScanPID("/proc", id)
	if err != nil {
		t.Fatal(err)
	}
	var cgs []fault.Cgroup
	if err := container.OnHostCgroupNS("/proc", func() error {
		cgs, err = container.Cgroups("/proc", pid)
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return cgs
}

func cgroupCPU(t *testing.T, cgs []fault.Cgroup) time.Duration {
	d, err := container.CPUUsage(cgs)
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func cgroupMemory(t *testing.T, cgs []fault.Cgroup) int64 {
	c, _ := container.ControllerCgroup(cgs, "memory")
	n, err := container.MemoryUsage(c)
	if err != nil {
		t.Fatal(err)
	}
	return int64(n)
}

// cpuRateOf is the container's CPU use over d, in CPUs, from its cgroup's accounting.
func cpuRateOf(t *testing.T, cgs []fault.Cgroup, d time.Duration) float64 {
	u0, t0 := cgroupCPU(t, cgs), time.Now()
	time.Sleep(d)
	return float64(cgroupCPU(t, cgs)-u0) / float64(time.Since(t0))
}

// stressorsIn lists the processes in the container's cgroup whose command line is a
// stressor's.
func stressorsIn(t *testing.T, cgs []fault.Cgroup) []string {
	c, _ := container.ControllerCgroup(cgs, "cpu")
	b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	procs := strings.Fields(string(b))
	var out []string
	for _, p := range procs {
		b, _ := os.ReadFile("/proc/" + p + "/cmdline")
		if strings.Contains(string(b), "stress-worker") {
			out = append(out, p+": "+strings.ReplaceAll(string(b), "\x00", " "))
		}
	}
	return out
}

// CPU stress through the plugin: the load shows in the target container's own cgroup
// accounting on the node, and goes with Ctrl-C.
func TestStressCPU(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	pod := deployLimited(t, ns, "burn", "1", "128Mi")
	cgs := podCgroups(t, ns, pod)
	before := residue(t)
	base := cpuRateOf(t, cgs, 3*time.Second)

	s := startChaos(t, "stress", "cpu", "deploy/burn", "-n", ns, "--workers", "2", "--load", "30", "--duration", "3m")
	active := s.WaitOutput("injected", 90*time.Second)
	t.Logf("stressor injected %v after the command started", active)
	if p := stressorsIn(t, cgs); len(p) != 1 {
		t.Errorf("stressors in the container's cgroup: %q, want one", p)
	}
	time.Sleep(time.Second)
	got := cpuRateOf(t, cgs, 6*time.Second) - base
	t.Logf("TABLE|e2e stress cpu 2×30%% (limit 1 CPU)|asked 0.60|measured %.3f CPU from the pod's cgroup (baseline %.4f)", got, base)
	if math.Abs(got-0.6) > 0.06 {
		t.Errorf("the pod's cgroup used %.3f CPU, want 0.60 ± 10%%", got)
	}

	sig := s.Signal(syscall.SIGINT)
	code := s.Wait(60 * time.Second)
	t.Logf("CLI exited %d %v after Ctrl-C", code, s.exited.Sub(sig).Round(time.Millisecond))
	if code != 130 {
		t.Errorf("exit code after Ctrl-C = %d, want 130\n%s", code, s.Output())
	}
	if out := s.Output(); !strings.Contains(out, "of CPU in") || !strings.Contains(out, "killed and checked gone") {
		t.Errorf("the recovered event does not report the CPU the stressor used:\n%s", out)
	}
	if p := stressorsIn(t, cgs); len(p) != 0 {
		t.Errorf("stressors left in the container's cgroup: %q", p)
	}
	if after := cpuRateOf(t, cgs, 2*time.Second); after > base+0.05 {
		t.Errorf("the pod still uses %.3f CPU after the stop (baseline %.4f)", after, base)
	}
	t.Logf("helper pods gone %v after the CLI exited", waitNoHelpers(t, 30*time.Second))
	waitResidue(t, before, 30*time.Second)
}

// Memory stress through the plugin: a percentage of the pod's limit, held in the pod's
// own memory cgroup, released at the end.
func TestStressMemory(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	ns := namespace(t)
	pod := deployLimited(t, ns, "hog", "500m", "256Mi")
	cgs := podCgroups(t, ns, pod)
	before := residue(t)
	base := cgroupMemory(t, cgs)

	s := startChaos(t, "stress", "memory", "deploy/hog", "-n", ns, "--size", "50%", "--duration", "3m")
	s.WaitOutput("injected", 90*time.Second)
	used := cgroupMemory(t, cgs) - base
	const want = 128 << 20
	t.Logf("TABLE|e2e stress memory 50%% of 256Mi|asked 128Mi|pod's cgroup +%.1f MiB (baseline %.1f MiB)", float64(used)/(1<<20), float64(base)/(1<<20))
	if math.Abs(float64(used-want)) > 0.05*want {
		t.Errorf("the pod's memory cgroup grew by %.1f MiB, want 128 MiB ± 5%%", float64(used)/(1<<20))
	}
	if out := s.Output(); !strings.Contains(out, "holding 128Mi of 128Mi") || !strings.Contains(out, "of default") && !strings.Contains(out, "memory limit 256Mi = 128Mi") {
		t.Errorf("the CLI does not report the size held and how it was computed:\n%s", out)
	}

	s.Signal(syscall.SIGINT)
	if code := s.Wait(60 * time.Second); code != 130 {
		t.Errorf("exit code after Ctrl-C = %d, want 130\n%s", code, s.Output())
	}
	if after := cgroupMemory(t, cgs); after > base+want/20 {
		t.Errorf("the pod's memory cgroup holds %.1f MiB after the stop (baseline %.1f MiB)", float64(after)/(1<<20), float64(base)/(1<<20))
	}
	if p := stressorsIn(t, cgs); len(p) != 0 {
		t.Errorf("stressors left in the container's cgroup: %q", p)
	}
	waitNoHelpers(t, 30*time.Second)
	waitResidue(t, before, 30*time.Second)
}
