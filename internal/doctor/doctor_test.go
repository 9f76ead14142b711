package doctor

import (
	"bytes"
	"strings"
	"testing"
)

func TestBlockers(t *testing.T) {
	r := Report{Node: "n1", Checks: []Check{
		{Netem, Missing, ""}, {NFQueue, Fallback, "xt"}, {NFTables, OK, ""}, {TBF, Missing, ""}, {FUSE, OK, ""},
	}}
	tests := []struct {
		fault string
		want  string
	}{
		{"network.delay", ""},
		{"network.loss", ""},
		{"network.bandwidth", "tbf missing"},
		{"time.shift", "ptrace missing"},
		{"io.latency", ""},
		{"pod.kill", ""},
	}
	for _, tt := range tests {
		if got := strings.Join(Blockers(r, tt.fault), "; "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.fault, got, tt.want)
		}
	}
	noQueue := Report{Checks: []Check{{Netem, Missing, ""}, {NFQueue, Missing, ""}}}
	if got := Blockers(noQueue, "network.delay"); len(got) != 1 || got[0] != "sch_netem or nfqueue missing" {
		t.Errorf("delay without netem and queue: %v", got)
	}
	if got := Blockers(Report{Error: "pod unschedulable"}, "pod.kill"); len(got) != 1 {
		t.Errorf("an unprobed node blocks: %v", got)
	}
	for _, f := range Faults() {
		if !ValidFault(f) {
			t.Errorf("%s", f)
		}
	}
}

func TestPrintTableNarrowsToFault(t *testing.T) {
	r := []Report{{Node: "n1", Kernel: "6.1", Checks: []Check{{Netem, Missing, "no netem"}, {FUSE, OK, "/dev/fuse"}}}, {Node: "n2", Error: "unschedulable"}}
	var b bytes.Buffer
	if err := PrintTable(&b, r, []string{"network.delay"}); err != nil {
		t.Fatal(err)
	}
	out := b.String()
	for _, want := range []string{"NODE", "n1", "sch_netem", "missing", "n2", "unschedulable"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "fuse") {
		t.Errorf("--fault network.delay shows the fuse check:\n%s", out)
	}
}

// FAULT:BACKEND (--delay-backend netem and its kin) asks for that backend alone: no
// fallback counts.
func TestBlockersPinnedBackend(t *testing.T) {
	noNetem := Report{Checks: []Check{{Netem, Missing, ""}, {NFQueue, OK, ""}, {NFTables, OK, ""}, {TBF, OK, ""}}}
	tests := []struct {
		fault, want string
	}{
		{"network.delay", ""},
		{"network.delay:netem", "sch_netem missing"},
		{"network.delay:nfqueue", ""},
		{"network.loss:netem", "sch_netem missing"},
		{"network.loss:nft", ""},
		{"network.corrupt:nfqueue", ""},
	}
	for _, tt := range tests {
		if err := CheckFault(tt.fault); err != nil {
			t.Fatalf("%s: %v", tt.fault, err)
		}
		if got := strings.Join(Blockers(noNetem, tt.fault), "; "); got != tt.want {
			t.Errorf("%s: %q, want %q", tt.fault, got, tt.want)
		}
	}
	if Relevant(NFQueue, []string{"network.delay:netem"}) || !Relevant(Netem, []string{"network.delay:netem"}) {
		t.Errorf("network.delay:netem should show sch_netem alone")
	}
	for _, bad := range []struct{ fault, want string }{
		{"network.delay:nft", "network.delay is one of netem, nfqueue"},
		{"network.bandwidth:netem", "network.bandwidth has no backend to choose"},
		{"network.latency", "want one of"},
		{"io.latency:fuse", "io.latency has no backend"},
	} {
		err := CheckFault(bad.fault)
		if err == nil || !strings.Contains(err.Error(), bad.want) || !strings.Contains(err.Error(), "--fault") {
			t.Errorf("CheckFault(%q) = %v, want an error naming --fault and %q", bad.fault, err, bad.want)
		}
	}
}
