package container

import (
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestValidate(t *testing.T) {
	tests := []struct {
		spec    plan.Container
		wantErr string
	}{
		{plan.Container{Action: "pause"}, ""},
		{plan.Container{Action: "kill", Signal: "KILL"}, ""},
		{plan.Container{Action: "kill", Signal: "sigterm"}, ""},
		{plan.Container{Action: "kill", Signal: "usr1"}, ""},
		{plan.Container{Action: "kill"}, `--signal "": unknown signal; accepted: HUP, INT, QUIT, ABRT, KILL, USR1, USR2, ALRM, TERM`},
		{plan.Container{Action: "kill", Signal: "BOGUS"}, `--signal "BOGUS": unknown signal`},
		{plan.Container{Action: "kill", Signal: "9"}, `unknown signal`},
		{plan.Container{Action: "kill", Signal: "STOP"}, "job-control signals are refused"},
		{plan.Container{Action: "kill", Signal: "SIGCONT"}, "use kubectl chaos container pause"},
		{plan.Container{Action: "pause", Signal: "KILL"}, "--signal applies to container kill"},
		{plan.Container{Action: "restart"}, `action "restart": want pause or kill`},
	}
	for _, tt := range tests {
		err := catalog.Validate(plan.Fault{Kind: plan.KindContainer, Container: &tt.spec})
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%+v: %v", tt.spec, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("%+v: error %v, want %q", tt.spec, err, tt.wantErr)
		}
	}
}

func TestDescribe(t *testing.T) {
	e, err := catalog.Lookup(plan.KindContainer)
	if err != nil {
		t.Fatal(err)
	}
	pause := e.Describe(plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "pause"}})
	if len(pause) != 2 || !strings.Contains(pause[0].Spec, "freezer.state=FROZEN") || !strings.Contains(pause[0].Remove, "THAWED") ||
		!strings.Contains(pause[1].Spec, "cgroup.freeze=1") || !strings.Contains(pause[1].Remove, "cgroup.freeze=0") ||
		pause[0].Condition == "" || pause[1].Condition == "" {
		t.Errorf("pause describes %+v", pause)
	}
	kill := e.Describe(plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "kill", Signal: "sigterm"}})
	if len(kill) != 1 || !strings.Contains(kill[0].Spec, "SIGTERM to the container's main process via containerd") ||
		!strings.Contains(kill[0].Remove, "nothing to undo") {
		t.Errorf("kill describes %+v", kill)
	}
	if m := e.HostMounts(); len(m) != 1 || m[0].Path != "/sys/fs/cgroup" {
		t.Errorf("host mounts %+v, want the node's cgroup filesystem", m)
	}
	if got := (plan.Fault{Kind: plan.KindContainer, Container: &plan.Container{Action: "kill", Signal: "term"}}).Summary(); got != "container kill SIGTERM" {
		t.Errorf("summary %q", got)
	}
}
