package scale

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
	k8stesting "k8s.io/client-go/testing"
)

// BenchmarkAttachFanout: SCALE_FANOUT_HELPERS helpers (100) with SCALE_FANOUT_TARGETS
// targets each (10), attached at once over real WebSocket streams to agents in the
// node-side process; the pods live in a fake clientset that says Running at once, so
// only the attach and stream fan-out is measured.
func BenchmarkAttachFanout(b *testing.B) {
	helpers, per := envInt("SCALE_FANOUT_HELPERS", 100), envInt("SCALE_FANOUT_TARGETS", 10)
	dir := b.TempDir()
	node := startNodeSide(b, envPlanDir+"="+dir)
	b.Run(fmt.Sprintf("helpers=%d/targets=%d", helpers, helpers*per), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			fanout(b, node, dir, fmt.Sprintf("chaos-fan%03d", i), helpers, per)
		}
	})
}

func fanout(b *testing.B, node *nodeSideProc, dir, id string, helpers, per int) {
	pods := fanoutPods(b, dir, id, helpers, per)
	cs := fake.NewClientset()
	cs.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod).DeepCopy()
		p.Status = corev1.PodStatus{Phase: corev1.PodRunning, ContainerStatuses: []corev1.ContainerStatus{{
			Name: helperpod.ContainerName, Ready: true,
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.Now()}}}}}
		if err := cs.Tracker().Create(corev1.SchemeGroupVersion.WithResource("pods"), p, p.Namespace); err != nil {
			return true, nil, err
		}
		return true, p, nil
	})

	total := helpers * per
	var mu sync.Mutex
	injected, recovered := map[string]bool{}, map[string]bool{}
	var allInjected, allRecovered time.Time
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stopAt time.Time
	events := func(ev plan.Event) {
		mu.Lock()
		defer mu.Unlock()
		key := ev.Node + "|" + ev.Target
		switch ev.Type {
		case plan.EventInjected:
			injected[key] = true
			if len(injected) == total && allInjected.IsZero() {
				allInjected = time.Now()
				stopAt = allInjected
				cancel() // Ctrl-C once every target is active
			}
		case plan.EventRecovered:
			recovered[key] = true
			if len(recovered) == total && allRecovered.IsZero() {
				allRecovered = time.Now()
			}
		}
	}
	mem := startMem()
	start := time.Now()
	rep, err := session.Run(ctx, session.Options{Client: cs, Attacher: session.NewAttacher(&rest.Config{Host: node.URL}),
		Namespace: helperpod.DefaultNamespace, Pods: pods, Events: events, Progress: io.Discard})
	returned := time.Since(start)
	m := mem.end()
	var ee *exit.Error
	if !errors.As(err, &ee) || ee.Code != exit.Interrupted {
		b.Fatalf("want an interrupted session after a clean recovery, got %v", err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(injected) != total || len(recovered) != total || len(rep.Nodes) != helpers {
		b.Fatalf("%d/%d targets injected, %d recovered, %d helpers in the report", len(injected), total, len(recovered), len(rep.Nodes))
	}
	b.ReportMetric(allInjected.Sub(start).Seconds(), "s-injected")
	b.ReportMetric(allRecovered.Sub(stopAt).Seconds(), "s-recovered")
	b.ReportMetric(m.HeapPeakMiB, "MiB-heap")
	b.ReportMetric(m.CPU.Seconds(), "s-cpu")
	addRow("| attach fan-out (fake API, WebSocket streams, real agents) | %d | %d | | | %s | %s | %s | | %d (%s) | %d/%d | %s | %.1f | %.0f |",
		helpers, helpers, ms(allInjected.Sub(start)), ms(allRecovered.Sub(stopAt)), ms(returned),
		len(cs.Actions()), "fake clientset actions", helpers, 0, ms(m.CPU), m.HeapPeakMiB, m.RSSPeakMiB)
}

// fanoutPods builds the helper pods of one experiment (noop fault, per targets on each
// of helpers nodes) and writes each plan where the node side finds it.
func fanoutPods(b *testing.B, dir, id string, helpers, per int) []*corev1.Pod {
	now := time.Now().UTC()
	var pods []*corev1.Pod
	for n := 0; n < helpers; n++ {
		pl := &plan.Plan{Version: plan.Version, Experiment: id, Node: nodeName(n), Owner: "bench@scale",
			CreatedAt: now, Deadline: now.Add(10 * time.Minute),
			Fault:      plan.Fault{Kind: plan.KindNoop, Noop: &plan.Noop{}},
			Runtime:    plan.Runtime{Endpoint: helperpod.DefaultRuntimeSocket, Namespace: "k8s.io"},
			JournalDir: plan.DefaultJournalDir}
		for t := 0; t < per; t++ {
			name := fmt.Sprintf("app-%04d", n*per+t)
			pl.Targets = append(pl.Targets, plan.Target{Namespace: targetNS, Pod: name, PodUID: "uid-" + name,
				Container: "app", ContainerID: "containerd://" + name, Node: pl.Node})
		}
		p, err := helperpod.Build(helperpod.Options{Plan: pl, Namespace: helperpod.DefaultNamespace,
			Image: "bench.local/agent:1", ImagePullPolicy: corev1.PullNever, RuntimeSocket: helperpod.DefaultRuntimeSocket})
		if err != nil {
			b.Fatal(err)
		}
		enc, err := pl.Encode()
		if err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p.Namespace+"_"+p.Name+".json"), []byte(enc), 0o600); err != nil {
			b.Fatal(err)
		}
		pods = append(pods, p)
	}
	return pods
}
