package shift

import (
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func webPod() *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web-1", Namespace: "default", Labels: map[string]string{"app": "web"}, UID: "uid-web-1"},
		Spec:       corev1.PodSpec{NodeName: "node-a", Containers: []corev1.Container{{Name: "app", Image: "nginx"}}},
		Status: corev1.PodStatus{
			Phase: corev1.PodRunning, PodIP: "10.0.0.1", PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "app", ContainerID: "containerd://" + strings.Repeat("a", 64),
				Ready: true, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}}}},
		},
	}
}

// TestDryRun: the plan lists the symbols patched in every process, says what only the
// node knows (the PIDs), warns about a monotonic shift, and creates nothing.
func TestDryRun(t *testing.T) {
	for _, tt := range []struct {
		args      []string
		want, not []string
	}{
		{[]string{"pod/web-1", "--offset", "-10m", "--dry-run"},
			[]string{"time shift -10m0s (CLOCK_REALTIME)", "Clocks:", "time.Now()", "Processes:", "known only on the node",
				"patched or skipped and why", "rescan every 1s", "clock_gettime (and __vdso_clock_gettime)", "gettimeofday (and __vdso_gettimeofday)",
				"time (and __vdso_time)", "adds -10m0s to CLOCK_REALTIME", "removed by: the 8 bytes at the function's entry are written back",
				"only on x86_64 nodes", "Not covered:", "clock syscalls themselves", "hostPID", "privileged"},
			[]string{"Warning:"}},
		{[]string{"pod/web-1", "--offset", "2h", "--clocks", "CLOCK_MONOTONIC", "--rescan", "0", "--dry-run"},
			[]string{"time shift +2h0m0s (CLOCK_MONOTONIC)", "Warning:", "CLOCK_MONOTONIC shifted", "stalls", "no rescan", "adds +2h0m0s to CLOCK_MONOTONIC"},
			[]string{"gettimeofday (and", "3. vdso-patch"}},
	} {
		t.Run(strings.Join(tt.args, " "), func(t *testing.T) {
			c := fake.NewClientset(webPod())
			io, _, out, _ := ui.Test()
			f := factory.NewFake(io, c, time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC), nil)
			cmd := NewCmdShift(f, nil)
			cmd.SetArgs(tt.args)
			cmd.SilenceErrors, cmd.SilenceUsage = true, true
			if err := cmd.Execute(); err != nil {
				t.Fatal(err)
			}
			for _, a := range c.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" && v != "watch" {
					t.Errorf("dry-run made a %s of %s", v, a.GetResource().Resource)
				}
			}
			for _, w := range tt.want {
				if !strings.Contains(out.String(), w) {
					t.Errorf("dry-run lacks %q:\n%s", w, out.String())
				}
			}
			for _, w := range tt.not {
				if strings.Contains(out.String(), w) {
					t.Errorf("dry-run has %q:\n%s", w, out.String())
				}
			}
		})
	}
}
