//go:build e2e

package e2e

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
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

// stressorsIn lists the PIDs in the container's cgroup whose command line is a
// stressor's.
func stressorsIn(t *testing.T, cgs []fault.Cgroup) []int {
	c, _ := container.ControllerCgroup(cgs, "cpu")
	b, err := os.ReadFile(filepath.Join(c.Dir, "cgroup.procs"))
	if err != nil {
		t.Fatal(err)
	}
	var out []int
	for _, p := range strings.Fields(string(b)) {
		cmd, _ := os.ReadFile("/proc/" + p + "/cmdline")
		if strings.Contains(string(cmd), "stress-worker") {
			pid, _ := strconv.Atoi(p)
			out = append(out, pid)
		}
	}
	return out
}

// schedRuntime is the time pid's threads have run (/proc/<pid>/task/*/schedstat).
func schedRuntime(pid int) time.Duration {
	tasks, _ := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	var sum time.Duration
	for _, tk := range tasks {
		b, _ := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + tk.Name() + "/schedstat")
		if f := strings.Fields(string(b)); len(f) > 0 {
			n, _ := strconv.ParseInt(f[0], 10, 64)
			sum += time.Duration(n)
		}
	}
	return sum
}

// overloaded says whether this machine has more runnable work than CPUs: then a pod
// gets less CPU than it asks for, whatever runs in it.
func overloaded(t *testing.T) (bool, string) {
	b, err := os.ReadFile("/proc/loadavg")
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b))
	load, _ := strconv.ParseFloat(f[0], 64)
	return load > float64(runtime.NumCPU()), fmt.Sprintf("load average %s on %d CPUs", f[0], runtime.NumCPU())
}

// CPU stress through the plugin: the load shows in the target container's own cgroup
// accounting on the node (charged all of what the stressor ran), and goes with Ctrl-C.
func TestStressCPU(t *testing.T) {
	sc := newScenario(t)
	pod := deployLimited(t, sc.NS, "burn", "1", "128Mi")
	sc.TrackTargets("burn")
	cgs := podCgroups(t, sc.NS, pod)
	base := cpuRateOf(t, cgs, 3*time.Second)
	runFault(sc, faultRun[float64]{
		Args:    []string{"stress", "cpu", "deploy/burn", "--workers", "2", "--load", "30", "--duration", "3m"},
		Measure: func() float64 { return cpuRateOf(t, cgs, time.Second) - base },
		Active:  func(v float64) bool { return v > 0.1 },
		During: func(s *session) {
			pids := stressorsIn(t, cgs)
			if len(pids) != 1 {
				t.Fatalf("stressors in the container's cgroup: %v, want one", pids)
			}
			own0 := schedRuntime(pids[0])
			got := cpuRateOf(t, cgs, 6*time.Second) - base
			own := float64(schedRuntime(pids[0])-own0) / float64(6*time.Second)
			busy, load := overloaded(t)
			t.Logf("TABLE|e2e stress cpu 2×30%% (limit 1 CPU)|asked 0.60|pod's cgroup %.3f CPU (baseline %.4f), the stressor's own %.3f; %s", got, base, own, load)
			// Charged to the pod: its own accounting grew by what the stressor ran.
			if math.Abs(got-own) > 0.1*own || got < 0.1 {
				t.Errorf("the pod's cgroup used %.3f CPU, the stressor %.3f: want them equal ± 10%% and at least 0.1 (the idle pod: %.4f)", got, own, base)
			}
			// The load asked, when the machine can give it (others' builds often take it here).
			if !busy && math.Abs(got-0.6) > 0.06 {
				t.Errorf("the pod's cgroup used %.3f CPU, want 0.60 ± 10%% (%s)", got, load)
			}
		},
		Gone: func(v float64) bool { return v < 0.05 },
		After: func(s *session) {
			if out := s.Output(); !strings.Contains(out, "of CPU in") || !strings.Contains(out, "killed and checked gone") {
				t.Errorf("the recovered event does not report the CPU the stressor used:\n%s", out)
			}
			if p := stressorsIn(t, cgs); len(p) != 0 {
				t.Errorf("stressors left in the container's cgroup: %v", p)
			}
		},
	})
}

// Memory stress through the plugin: a percentage of the pod's limit, held in the pod's
// own memory cgroup, released at the end.
func TestStressMemory(t *testing.T) {
	sc := newScenario(t)
	pod := deployLimited(t, sc.NS, "hog", "500m", "256Mi")
	sc.TrackTargets("hog")
	cgs := podCgroups(t, sc.NS, pod)
	base := cgroupMemory(t, cgs)
	const want = 128 << 20
	runFault(sc, faultRun[int64]{
		Args:    []string{"stress", "memory", "deploy/hog", "--size", "50%", "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() int64 { return cgroupMemory(t, cgs) - base }),
		Active:  func(v int64) bool { return v > want/2 },
		During: func(s *session) {
			s.WaitOutput("injected", 60*time.Second) // the agent reports once the size is held
			used := cgroupMemory(t, cgs) - base
			t.Logf("TABLE|e2e stress memory 50%% of 256Mi|asked 128Mi|pod's cgroup +%.1f MiB (baseline %.1f MiB)", float64(used)/(1<<20), float64(base)/(1<<20))
			// +8 MiB: the stressor process's own runtime is charged to the pod's cgroup too
			// (measured +3…+6.75 MiB in internal/fault/stress's TestMemoryStressMeasured).
			if d := float64(used - want); d < -0.05*want || d > 0.05*want+8<<20 {
				t.Errorf("the pod's memory cgroup grew by %.1f MiB, want 128 MiB -5%% … +5%%+8 MiB", float64(used)/(1<<20))
			}
			if out := s.Output(); !strings.Contains(out, "holding 128Mi of 128Mi") || !strings.Contains(out, "memory limit 256Mi = 128Mi") {
				t.Errorf("the CLI does not say the size held and how it was computed:\n%s", out)
			}
		},
		Gone: func(v int64) bool { return v < want/20 },
		After: func(s *session) {
			if p := stressorsIn(t, cgs); len(p) != 0 {
				t.Errorf("stressors left in the container's cgroup: %v", p)
			}
		},
	})
}
