package pod

import (
	"strings"
	"testing"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/pod/failure"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/pod/kill"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func parse(t *testing.T, verb string, args []string) (*experiment.Options, error) {
	t.Helper()
	var got *experiment.Options
	var newCmd func(f *factory.Factory) *cobra.Command
	switch verb {
	case "kill":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return kill.NewCmdKill(f, func(o *kill.Options) error { got = o.Experiment; return nil })
		}
	case "failure":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return failure.NewCmdFailure(f, func(o *failure.Options) error { got = o.Experiment; return nil })
		}
	}
	err := cmdtest.Execute(newCmd, args...)
	return got, err
}

func TestVerbs(t *testing.T) {
	seven := int64(7)
	tests := []struct {
		verb string
		args []string
		want plan.Pod
	}{
		{"kill", []string{"deploy/web"}, plan.Pod{Action: "kill"}},
		{"kill", []string{"deploy/web", "--mode", "one", "--seed", "3", "--wait"}, plan.Pod{Action: "kill", Wait: true}},
		{"kill", []string{"pod/x", "--grace-period", "7"}, plan.Pod{Action: "kill", GracePeriodSeconds: &seven}},
		{"kill", []string{"pod/x", "--force"}, plan.Pod{Action: "kill", Force: true}},
		{"failure", []string{"deploy/web", "--duration", "30s"}, plan.Pod{Action: "failure"}},
		{"failure", []string{"deploy/web", "--pause-image", "registry.k8s.io/pause:3.10"}, plan.Pod{Action: "failure", PauseImage: "registry.k8s.io/pause:3.10"}},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			got := o.Fault.Pod
			if o.Fault.Kind != plan.KindPod || o.Fault.Action != tt.verb || got.Action != tt.want.Action || got.Force != tt.want.Force ||
				got.Wait != tt.want.Wait || got.PauseImage != tt.want.PauseImage ||
				(got.GracePeriodSeconds == nil) != (tt.want.GracePeriodSeconds == nil) ||
				(got.GracePeriodSeconds != nil && *got.GracePeriodSeconds != *tt.want.GracePeriodSeconds) {
				t.Errorf("fault %+v %+v, want %+v", o.Fault, got, tt.want)
			}
		})
	}
}

func TestVerbRefusals(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want string
	}{
		{"kill", []string{"pod/x", "--grace-period", "0"}, "--grace-period must be between 1 and 3600 seconds (0 is --force)"},
		{"kill", []string{"pod/x", "--grace-period", "5", "--force"}, "--grace-period and --force exclude each other"},
		{"kill", []string{"pod/x", "--grace-period", "soon"}, "grace-period"},
		{"failure", []string{"pod/x", "--pause-image", "a b"}, "--pause-image"},
		{"failure", []string{"pod/x", "--duration", "0s"}, "--duration"},
		{"failure", []string{"--duration", "10s"}, "no target"},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			_, err := parse(t, tt.verb, tt.args)
			if err == nil || exit.Code(err) != exit.Usage || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("error %v (code %d), want a usage error naming %s", err, exit.Code(err), tt.want)
			}
		})
	}
}
