package stress

import (
	"strings"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/stress/worker"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func TestValidate(t *testing.T) {
	cpu := func(w, l int) *plan.Stress { return &plan.Stress{CPU: &plan.CPUStress{Workers: w, Load: l}} }
	mem := func(m plan.MemoryStress) *plan.Stress { return &plan.Stress{Memory: &m} }
	tests := []struct {
		name string
		s    *plan.Stress
		err  string
	}{
		{"cpu ok", cpu(2, 50), ""},
		{"cpu bounds", cpu(MaxCPUWorkers, MaxLoad), ""},
		{"load 0", cpu(1, 0), "--load must be between 1 and 100 (percent of one CPU per worker), got 0"},
		{"load 101", cpu(1, 101), "--load must be between 1 and 100"},
		{"workers 0", cpu(0, 50), "--workers must be between 1 and 128, got 0"},
		{"nil", nil, "nothing to do"},
		{"empty", &plan.Stress{}, "nothing to do"},
		{"both", &plan.Stress{CPU: &plan.CPUStress{Workers: 1, Load: 1}, Memory: &plan.MemoryStress{Bytes: MinMemoryBytes}}, "separate experiments"},
		{"memory ok", mem(plan.MemoryStress{Bytes: 256 << 20}), ""},
		{"memory percent ok", mem(plan.MemoryStress{Percent: 100, Workers: MaxMemoryWorkers}), ""},
		{"memory small", mem(plan.MemoryStress{Bytes: MinMemoryBytes - 1}), "--size must be between 1Mi and 1Ti"},
		{"memory large", mem(plan.MemoryStress{Bytes: MaxMemoryBytes + 1}), "--size must be between 1Mi and 1Ti"},
		{"percent over", mem(plan.MemoryStress{Percent: 100.5}), "in (0%, 100%], got 100.5%"},
		{"percent negative", mem(plan.MemoryStress{Percent: -1}), "in (0%, 100%]"},
		{"size and percent", mem(plan.MemoryStress{Bytes: 1 << 30, Percent: 5}), "not both"},
		{"no size", mem(plan.MemoryStress{}), "--size is missing or 0"},
		{"memory workers", mem(plan.MemoryStress{Bytes: 1 << 30, Workers: MaxMemoryWorkers + 1}), "--workers must be between 1 and 64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := Validate(tt.s)
			if tt.err == "" {
				if err != nil {
					t.Fatalf("Validate = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Fatalf("Validate = %v, want %q", err, tt.err)
			}
		})
	}
}

func TestDescribeAndSummary(t *testing.T) {
	e, err := catalog.Lookup(plan.KindStress)
	if err != nil {
		t.Fatal(err)
	}
	if m := e.HostMounts(); len(m) != 1 || m[0].Path != "/sys/fs/cgroup" || m[0].ReadOnly {
		t.Errorf("host mounts = %+v, want the node's /sys/fs/cgroup read-write", m)
	}
	tests := []struct {
		s                   plan.Stress
		summary, work, cond string
	}{
		{plan.Stress{CPU: &plan.CPUStress{Workers: 2, Load: 50}}, "stress cpu 2×50%", "2 workers each busy 50% of one CPU", ""},
		{plan.Stress{Memory: &plan.MemoryStress{Bytes: 3 << 29}}, "stress memory 1.5Gi", "1 worker holding 1.5Gi", ""},
		{plan.Stress{Memory: &plan.MemoryStress{Percent: 50, Workers: 2}}, "stress memory 50% of the limit", "2 workers holding 50% of the limit", "memory limit"},
	}
	for _, tt := range tests {
		f := plan.Fault{Kind: plan.KindStress, Stress: &tt.s}
		if got := f.Summary(); got != tt.summary {
			t.Errorf("Summary = %q, want %q", got, tt.summary)
		}
		objs := e.Describe(f)
		if len(objs) != 1 || objs[0].Kind != "process" || !strings.Contains(objs[0].Spec, tt.work) || objs[0].Remove != RemoveText {
			t.Errorf("Describe = %+v, want one process doing %q", objs, tt.work)
		}
		if !strings.Contains(objs[0].Condition, tt.cond) || (tt.cond == "") != (objs[0].Condition == "") {
			t.Errorf("condition %q, want %q", objs[0].Condition, tt.cond)
		}
		if len(e.Details(f)) != 1 {
			t.Errorf("Details = %v, want one line", e.Details(f))
		}
	}
}

func TestWorkerArgs(t *testing.T) {
	j, err := worker.Parse(worker.Args(worker.KindMemory, 3, 1<<30)[1:])
	if err != nil || j != (worker.Job{Kind: worker.KindMemory, Workers: 3, Amount: 1 << 30}) {
		t.Fatalf("Parse(Args) = %+v, %v", j, err)
	}
	for _, bad := range [][]string{{"cpu", "1"}, {"cpu", "0", "50"}, {"cpu", "1", "101"}, {"memory", "1", "0"}, {"io", "1", "1"}, {"cpu", "x", "1"}} {
		if _, err := worker.Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
