package stress

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/spf13/cobra"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stress/cpu"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/stress/memory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/hostmount"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// parse runs a verb with args through its runF and returns the fault it built.
func parse(t *testing.T, verb string, args ...string) (*plan.Stress, error) {
	t.Helper()
	io, _, _, _ := ui.Test()
	f := factory.NewFake(io, nil, time.Now(), nil)
	var got *experiment.Options
	var cmd *cobra.Command
	switch verb {
	case "cpu":
		cmd = cpu.NewCmdCPU(f, func(o *cpu.Options) error { got = o.Experiment; return nil })
	case "memory":
		cmd = memory.NewCmdMemory(f, func(o *memory.Options) error { got = o.Experiment; return nil })
	}
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.ErrOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exit.UsageError(err) })
	if err := cmd.Execute(); err != nil {
		return nil, err
	}
	if got.Fault.Kind != plan.KindStress || got.Fault.Action != verb {
		t.Fatalf("fault %+v, want kind stress action %s", got.Fault, verb)
	}
	return got.Fault.Stress, nil
}

func TestVerbFlags(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want plan.Stress
	}{
		{"cpu", []string{"deploy/web"}, plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 100}}},
		{"cpu", []string{"deploy/web", "--workers", "4", "--load", "25"}, plan.Stress{CPU: &plan.CPUStress{Workers: 4, Load: 25}}},
		{"memory", []string{"pod/x", "--size", "256Mi"}, plan.Stress{Memory: &plan.MemoryStress{Bytes: 256 << 20, Workers: 1}}},
		{"memory", []string{"pod/x", "--size", "1.5Gi", "--workers", "3"}, plan.Stress{Memory: &plan.MemoryStress{Bytes: 3 << 29, Workers: 3}}},
		{"memory", []string{"pod/x", "--size", "500M"}, plan.Stress{Memory: &plan.MemoryStress{Bytes: 500e6, Workers: 1}}},
		{"memory", []string{"pod/x", "--size", "50%"}, plan.Stress{Memory: &plan.MemoryStress{Percent: 50, Workers: 1}}},
		{"memory", []string{"pod/x", "--size", "12.5 %"}, plan.Stress{Memory: &plan.MemoryStress{Percent: 12.5, Workers: 1}}},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.verb}, tt.args...), " "), func(t *testing.T) {
			got, err := parse(t, tt.verb, tt.args...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(&tt.want, got); d != "" {
				t.Errorf("spec (-want +got):\n%s", d)
			}
		})
	}
}

// Bad input is a usage error naming the flag and the range, before any client exists.
func TestBadInputRefused(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		msg  string
	}{
		{"cpu", []string{"pod/x", "--load", "0"}, "--load must be between 1 and 100"},
		{"cpu", []string{"pod/x", "--load", "101"}, "--load must be between 1 and 100"},
		{"cpu", []string{"pod/x", "--workers", "0"}, "--workers must be between 1 and 128"},
		{"cpu", []string{"pod/x", "--workers", "129"}, "--workers must be between 1 and 128"},
		{"memory", []string{"pod/x"}, `"size" not set`},
		{"memory", []string{"pod/x", "--size", "lots"}, "want a quantity like 256Mi"},
		{"memory", []string{"pod/x", "--size", "256MB"}, "no B: write 256Mi or 256M"},
		{"memory", []string{"pod/x", "--size", "0"}, "must be more than 0"},
		{"memory", []string{"pod/x", "--size", "-1Gi"}, "must be more than 0"},
		{"memory", []string{"pod/x", "--size", "150%"}, "in (0%, 100%], got 150%"},
		{"memory", []string{"pod/x", "--size", "0%"}, "--size is missing or 0"},
		{"memory", []string{"pod/x", "--size", "-5%"}, "in (0%, 100%], got -5%"},
		{"memory", []string{"pod/x", "--size", "x%"}, "a number followed by %"},
		{"memory", []string{"pod/x", "--size", "512Ki"}, "between 1Mi and 1Ti"},
		{"memory", []string{"pod/x", "--size", "2Ti"}, "between 1Mi and 1Ti"},
		{"memory", []string{"pod/x", "--size", "1Gi", "--workers", "65"}, "--workers must be between 1 and 64"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(append([]string{tt.verb}, tt.args...), " "), func(t *testing.T) {
			_, err := parse(t, tt.verb, tt.args...)
			if exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), tt.msg) {
				t.Fatalf("err = %v (exit %d), want a usage error containing %q", err, exit.Code(err), tt.msg)
			}
		})
	}
}

func webPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", UID: "uid-1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: "10.0.0.1", ContainerStatuses: []corev1.ContainerStatus{{
			Name: "app", ContainerID: "containerd://" + strings.Repeat("a", 64), Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
		}}},
	}
}

// The dry run says what is started and how it is removed, and the helper pod mounts
// the node's cgroup filesystem; nothing is written to the cluster.
func TestDryRun(t *testing.T) {
	for _, args := range [][]string{
		{"cpu", "pod/web-1", "--workers", "2", "--load", "50"},
		{"memory", "pod/web-1", "--size", "50%"},
		{"memory", "pod/web-1", "--size", "2Gi"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			c := fake.NewClientset(webPod())
			io, _, out, errOut := ui.Test()
			cmd := NewCmdStress(factory.NewFake(io, c, time.Now(), nil))
			cmd.SetArgs(append(args, "--dry-run"))
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatalf("%v\n%s", err, errOut)
			}
			human := out.String()
			for _, want := range []string{"stressor (the agent binary re-executed)", "moved into the container's cgroups", "SIGKILL, then checked gone by PID and start time", "parent-death signal"} {
				if !strings.Contains(human, want) {
					t.Errorf("dry run lacks %q:\n%s", want, human)
				}
			}
			switch {
			case args[0] == "cpu" && !strings.Contains(human, "2 × 50% = 1 CPU per container"):
				t.Errorf("cpu dry run does not say the load:\n%s", human)
			case args[2] == "50%" && !strings.Contains(human, "if the container has a memory limit"):
				t.Errorf("percent dry run does not say it needs a limit:\n%s", human)
			case args[2] == "2Gi" && !strings.Contains(human, "OOM killer"):
				t.Errorf("byte-size dry run does not say what happens above the limit:\n%s", human)
			}

			out.Reset()
			cmd = NewCmdStress(factory.NewFake(io, c, time.Now(), nil))
			cmd.SetArgs(append(args, "--dry-run", "-o", "yaml"))
			if err := cmd.ExecuteContext(context.Background()); err != nil {
				t.Fatal(err)
			}
			var d experiment.DryRun
			if err := yaml.Unmarshal(out.Bytes(), &d); err != nil || len(d.Helpers) != 1 {
				t.Fatalf("dry-run yaml: %v, %d helpers", err, len(d.Helpers))
			}
			// The agent mounts the node's paths itself (no volumes: internal/hostmount).
			found := false
			for _, e := range d.Helpers[0].Pod.Spec.Containers[0].Env {
				if e.Name != hostmount.EnvVar {
					continue
				}
				ms, err := hostmount.Decode(e.Value)
				if err != nil {
					t.Fatal(err)
				}
				for _, m := range ms {
					found = found || (m.HostPath == "/sys/fs/cgroup" && m.Path == "/sys/fs/cgroup" && !m.ReadOnly && m.Recursive)
				}
			}
			if !found {
				t.Errorf("the helper pod does not mount the node's /sys/fs/cgroup read-write")
			}
			for _, a := range c.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
					t.Errorf("dry run did a %s of %s", v, a.GetResource().Resource)
				}
			}
		})
	}
}
