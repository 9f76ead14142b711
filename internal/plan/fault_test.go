package plan

import (
	"strings"
	"testing"
)

func TestFaultSpec(t *testing.T) {
	n := &Network{Loss: &Percent{Percent: 10}}
	tests := []struct {
		name    string
		f       Fault
		want    any
		wantErr string
	}{
		{"network", Fault{Kind: KindNetwork, Network: n}, n, ""},
		{"noop", Fault{Kind: KindNoop, Noop: &Noop{}}, &Noop{}, ""},
		{"empty", Fault{}, nil, "no kind and no spec"},
		{"kind without spec", Fault{Kind: KindNetwork}, nil, `kind "network" without its "network" spec`},
		{"wrong spec", Fault{Kind: KindNoop, Network: n}, nil, `kind "noop" but the "network" spec is set`},
		{"two specs", Fault{Kind: KindNoop, Noop: &Noop{}, Network: n}, nil, "several specs set (noop, network)"},
		{"unknown kind", Fault{Kind: "io", Noop: &Noop{}}, nil, `kind "io" but the "noop" spec is set`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.f.Spec()
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("Spec() error = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatalf("Spec() error = %v", err)
			}
			switch w := tt.want.(type) {
			case *Network:
				if got != w {
					t.Errorf("Spec() = %v, want the same *Network", got)
				}
			case *Noop:
				if _, ok := got.(*Noop); !ok {
					t.Errorf("Spec() = %T, want *Noop", got)
				}
			}
		})
	}
}

func TestKindsAreSpecFields(t *testing.T) {
	got := strings.Join(Kinds(), ",")
	if want := "noop,network,noopapi,pod,container,stress,io,time,dns,http"; got != want {
		t.Errorf("Kinds() = %s, want the JSON names of Fault's pointer fields (%s)", got, want)
	}
}

func TestFaultSummaryAndClone(t *testing.T) {
	f := Fault{Kind: KindNetwork, Action: "loss", Network: &Network{Loss: &Percent{Percent: 20}}}
	if got := f.Summary(); got != "network loss 20%" {
		t.Errorf("Summary() = %q", got)
	}
	if got := (Fault{Kind: KindNoop, Action: "noop", Noop: &Noop{}}).Summary(); got != "noop noop" {
		t.Errorf("noop Summary() = %q", got)
	}
	c := f.Clone()
	c.Network.Loss.Percent = 50
	if f.Network.Loss.Percent != 20 {
		t.Error("Clone shares the spec with the original")
	}
}
