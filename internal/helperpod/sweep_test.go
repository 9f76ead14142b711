package helperpod

import (
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/hostmount"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// A kind with a host mount of its own (as stress and io will have), so the golden sweep
// pod shows that a sweep mounts every kind's paths: it may recover any kind's journal.
func init() {
	catalog.Register(catalog.Kind[*plan.Noop]{
		Name:       plan.KindNoop,
		Validate:   func(*plan.Noop) error { return nil },
		Describe:   func(*plan.Noop) []plan.Object { return nil },
		HostMounts: []catalog.HostMount{{Name: "dev-fuse", Path: "/dev/fuse", Type: corev1.HostPathCharDev}},
	})
}

func sweepOptions() SweepOptions {
	return SweepOptions{
		ID: "chaos-gc-7f3k2abc", Node: "worker-1", Owner: "alice@kind-dev", Created: created,
		Image: "ghcr.io/kubectl-chaos/kubectl-chaos:v0.1.0", RuntimeSocket: DefaultRuntimeSocket,
	}
}

func TestSweepGolden(t *testing.T) {
	pod, err := BuildSweep(sweepOptions())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "sweep", pod)

	s := pod.Spec
	c := s.Containers[0]
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s is wrong", what)
		}
	}
	// The fields that matter, asserted so an -update cannot hide a regression.
	check("name", pod.Name == "chaos-gc-7f3k2abc-worker-1")
	check("nodeName + all taints", s.NodeName == "worker-1" && len(s.Tolerations) == 1 && s.Tolerations[0].Operator == corev1.TolerationOpExists)
	check("hostPID, privileged, no token", s.HostPID && *c.SecurityContext.Privileged && !*s.AutomountServiceAccountToken)
	check("restartPolicy Never", s.RestartPolicy == corev1.RestartPolicyNever)
	check("activeDeadlineSeconds 90", *s.ActiveDeadlineSeconds == 90)
	check("command", cmp.Equal(c.Command, []string{"/kubectl-chaos", "agent", "--sweep-only"}) && cmp.Equal(c.Args, []string{"--journal-dir", "/run/kubectl-chaos"}))
	check("no stdin", !c.Stdin && !c.StdinOnce && !c.TTY)
	check("no plan", len(c.Env) == 5 && c.Env[0].Name == EnvPodName && c.Env[4].Name == hostmount.EnvVar)
	check("result in the termination message, log tail on error", c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError)
	check("labels ls and gc find", pod.Labels[plan.LabelManagedBy] == plan.ManagedByValue && pod.Labels[plan.LabelExperiment] == "chaos-gc-7f3k2abc")
	check("deadline annotation", pod.Annotations[plan.AnnotationDeadline] == "2026-11-27T08:01:30Z")
	check("fault annotation", pod.Annotations[plan.AnnotationFault] == SweepFault)
	check("no volumes (the agent mounts the host paths)", len(s.Volumes) == 0 && len(c.VolumeMounts) == 0)
	paths := HostPaths(pod)
	check("host paths: journal, /proc, runtime, every kind's mounts", strings.Join(paths, ",") == "/run/kubectl-chaos,/proc,/run/containerd,/dev/fuse")
}

func TestSweepErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*SweepOptions)
		want string
	}{
		{"no id", func(o *SweepOptions) { o.ID = "" }, "ID is empty"},
		{"no node", func(o *SweepOptions) { o.Node = "" }, "node is empty"},
		{"no time", func(o *SweepOptions) { o.Created = time.Time{} }, "creation time"},
		{"no image", func(o *SweepOptions) { o.Image = "" }, "--image is empty"},
		{"bad namespace", func(o *SweepOptions) { o.Namespace = "Bad_NS" }, `--helper-namespace "Bad_NS"`},
		{"relative socket", func(o *SweepOptions) { o.RuntimeSocket = "containerd.sock" }, "not an absolute path"},
		{"relative journal", func(o *SweepOptions) { o.JournalDir = "run" }, "journal directory"},
		{"negative deadline", func(o *SweepOptions) { o.Deadline = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := sweepOptions()
			tt.mod(&o)
			if _, err := BuildSweep(o); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("BuildSweep error %v, want one containing %q", err, tt.want)
			}
		})
	}
}
