package container

import (
	"strings"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/container/kill"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/container/pause"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// parse runs verb with args and returns the experiment options handed to runF.
func parse(t *testing.T, verb string, args []string) (*experiment.Options, error) {
	t.Helper()
	var got *experiment.Options
	var newCmd func(f *factory.Factory) *cobra.Command
	switch verb {
	case "pause":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return pause.NewCmdPause(f, func(o *pause.Options) error { got = o.Experiment; return nil })
		}
	case "kill":
		newCmd = func(f *factory.Factory) *cobra.Command {
			return kill.NewCmdKill(f, func(o *kill.Options) error { got = o.Experiment; return nil })
		}
	}
	err := cmdtest.Execute(newCmd, args...)
	return got, err
}

func TestVerbs(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want plan.Container
	}{
		{"pause", []string{"deploy/web", "-c", "app", "--duration", "30s"}, plan.Container{Action: "pause"}},
		{"kill", []string{"deploy/web"}, plan.Container{Action: "kill", Signal: "KILL"}},
		{"kill", []string{"pod/x", "--signal", "sigterm"}, plan.Container{Action: "kill", Signal: "TERM"}},
		{"kill", []string{"pod/x", "--signal", "usr1"}, plan.Container{Action: "kill", Signal: "USR1"}},
	}
	for _, tt := range tests {
		t.Run(tt.verb+" "+strings.Join(tt.args, " "), func(t *testing.T) {
			o, err := parse(t, tt.verb, tt.args)
			if err != nil {
				t.Fatal(err)
			}
			if o.Fault.Kind != plan.KindContainer || o.Fault.Action != tt.verb || *o.Fault.Container != tt.want {
				t.Errorf("fault %+v %+v, want %+v", o.Fault, o.Fault.Container, tt.want)
			}
		})
	}
	o, _ := parse(t, "pause", []string{"pod/x", "-c", "side", "--duration", "45s"})
	if o.Target.Container != "side" || o.Duration != 45*time.Second {
		t.Errorf("pause -c/--duration: %+v", o)
	}
}

func TestVerbRefusals(t *testing.T) {
	tests := []struct {
		verb string
		args []string
		want string
	}{
		{"kill", []string{"pod/x", "--signal", "BOGUS"}, "--signal"},
		{"kill", []string{"pod/x", "--signal", "STOP"}, "container pause"},
		{"kill", []string{"pod/x", "--signal", ""}, "--signal"},
		{"pause", []string{"pod/x", "--duration", "0s"}, "--duration"},
		{"pause", []string{"--duration", "10s"}, "no target"},
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
