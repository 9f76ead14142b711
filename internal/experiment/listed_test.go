package experiment

import (
	"context"
	"fmt"
	"testing"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Preparing a fault whose kind checks and follows its targets (container kill) reads
// the target pods from the resolution's one List: no request per pod (issue 16, scale).
func TestPrepareReadsNoPodOneByOne(t *testing.T) {
	var objs []runtime.Object
	for i := 0; i < 30; i++ {
		objs = append(objs, webPod(fmt.Sprintf("web-%02d", i), fmt.Sprintf("n%d", i%3)))
	}
	cs := fake.NewClientset(objs...)
	o, _ := apiOptions(cs, func(o *Options) {
		o.Fault = plan.Fault{Kind: plan.KindContainer, Action: "kill", Container: &plan.Container{Action: plan.ContainerKill, Signal: "KILL"}}
	})
	p, err := o.Prepare(context.Background(), cs)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.TargetPods) != 30 || len(p.Pods) != 3 {
		t.Fatalf("%d target pods read, %d helper pods; want 30 and 3", len(p.TargetPods), len(p.Pods))
	}
	var calls []string
	for _, a := range cs.Actions() {
		calls = append(calls, a.GetVerb()+" "+a.GetResource().Resource)
	}
	if len(calls) != 1 || calls[0] != "list pods" {
		t.Errorf("requests %v, want one list of pods", calls)
	}
}
