//go:build e2e

package e2e

import (
	"context"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The API path (hidden `kubectl chaos noop-api`): the fault is an annotation on the
// target pod, set and taken away through the API with no helper pod. The pod starts
// with the annotation set to "orig", so a restore must put back that value, not just
// delete the key.

const noopAnnotation = plan.AnnotationNoopAPI

// apiState is what the test reads of the target pod: the fault's annotation, the
// experiment label, whether it carries an undo record.
type apiState struct {
	value, label string
	record       bool
}

func (s apiState) restored() bool { return s.value == "orig" && s.label == "" && !s.record }

func clientset(t *testing.T) kubernetes.Interface {
	t.Helper()
	cfg, err := clientcmd.BuildConfigFromFlags("", kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// apiTarget deploys one echo pod annotated kubectl-chaos/noop-api=orig and returns its
// namespace and name.
func apiTarget(t *testing.T) (ns, pod string) {
	t.Helper()
	ns = namespace(t)
	deployEcho(t, ns, "web", 1)
	pod = podNames(t, ns, "app=web")[0]
	kubectl(t, "-n", ns, "annotate", "pod", pod, noopAnnotation+"=orig")
	return ns, pod
}

func readAPIState(t *testing.T, cs kubernetes.Interface, ns, pod string) apiState {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(context.Background(), pod, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("get pod %s/%s: %v", ns, pod, err)
	}
	_, rec := p.Annotations[plan.AnnotationUndo]
	return apiState{value: p.Annotations[noopAnnotation], label: p.Labels[plan.LabelExperiment], record: rec}
}

// waitAPIState polls the pod (every 5 ms, through client-go) until ok, and returns
// when it first saw it.
func waitAPIState(t *testing.T, cs kubernetes.Interface, ns, pod string, timeout time.Duration, what string, ok func(apiState) bool) time.Time {
	t.Helper()
	start := time.Now()
	var last apiState
	for time.Since(start) < timeout {
		if last = readAPIState(t, cs, ns, pod); ok(last) {
			return time.Now()
		}
		time.Sleep(5 * time.Millisecond)
	}
	t.Fatalf("%s: not within %v; pod %s/%s: %+v", what, timeout, ns, pod, last)
	return time.Time{}
}

var experimentID = regexp.MustCompile(`experiment (chaos-[a-z2-7]{8})`)

func idOf(t *testing.T, s *session) string {
	t.Helper()
	m := experimentID.FindStringSubmatch(s.Output())
	if m == nil {
		t.Fatalf("no experiment ID in the output:\n%s", s.Output())
	}
	return m[1]
}

func changed(id string) func(apiState) bool {
	return func(s apiState) bool { return s.value == "injected" && s.label == id && s.record }
}

// Attached, then Ctrl-C: restored, exit 130, no helper pod at any point.
func TestNoopAPICtrlC(t *testing.T) {
	needCluster(t)
	cleanupHelpers(t)
	cs := clientset(t)
	ns, pod := apiTarget(t)
	before := residue(t)
	s := startChaos(t, "noop-api", "deploy/web", "-n", ns, "--duration", "2m")
	s.WaitOutput("fault active", 60*time.Second)
	id := idOf(t, s)
	waitAPIState(t, cs, ns, pod, 5*time.Second, "the annotation and the undo record", changed(id))
	if h := helperPods(t); len(h) != 0 {
		t.Errorf("an API-only fault created helper pods: %v", h)
	}
	sent := s.Signal(syscall.SIGINT)
	at := waitAPIState(t, cs, ns, pod, 30*time.Second, "restored after Ctrl-C", apiState.restored)
	t.Logf("BOUND Ctrl-C -> pod restored in %v", at.Sub(sent).Round(time.Millisecond))
	if code := s.Wait(30 * time.Second); code != 130 {
		t.Errorf("exit %d after Ctrl-C, want 130\n%s", code, s.Output())
	}
	if out := s.Output(); !strings.Contains(out, "interrupted") || !strings.Contains(out, "recovered "+ns+"/"+pod) {
		t.Errorf("output:\n%s", out)
	}
	waitResidue(t, before, 30*time.Second)
}

// injectThenKillCLI runs noop-api attached on a fresh target for duration and kills
// the CLI with SIGKILL once the fault is active.
func injectThenKillCLI(t *testing.T, duration string) (cs kubernetes.Interface, ns, pod, id string) {
	t.Helper()
	needCluster(t)
	cleanupHelpers(t)
	cs = clientset(t)
	ns, pod = apiTarget(t)
	s := startChaos(t, "noop-api", "deploy/web", "-n", ns, "--duration", duration)
	s.WaitOutput("fault active", 60*time.Second)
	id = idOf(t, s)
	s.Signal(syscall.SIGKILL)
	s.Wait(10 * time.Second)
	return cs, ns, pod, id
}

// kill -9 of the CLI: the pod stays changed (nothing on the node can restore it),
// `ls` shows the experiment from the pod's label as active (its STATE column), `stop ID` restores it from the undo
// record alone.
func TestNoopAPIKillCLIThenStop(t *testing.T) {
	cs, ns, pod, id := injectThenKillCLI(t, "3m")
	time.Sleep(time.Second)
	if st := readAPIState(t, cs, ns, pod); !changed(id)(st) {
		t.Fatalf("after kill -9 of the CLI the pod is %+v, want still changed by %s", st, id)
	}
	ls := chaosPlain(t, nil, "ls")
	if ls.Code != 0 || !regexp.MustCompile(id+`\s+\S+\s+noopapi annotation kubectl-chaos/noop-api=injected\s+active\s+0\s+1\s+e2e-node`).MatchString(ls.Stdout) {
		t.Errorf("ls does not show %s with its changed pod:\n%s", id, ls)
	}
	st := chaosPlain(t, nil, "status", id)
	if st.Code != 0 || !strings.Contains(st.Stdout, pod) || !strings.Contains(st.Stdout, "changed (undo record on the pod)") {
		t.Errorf("status %s:\n%s", id, st)
	}
	start := time.Now()
	stop := chaosPlain(t, nil, "stop", id)
	if stop.Code != 0 || !strings.Contains(stop.Stdout, "stopped "+id+" (0 helper(s), 1 pod(s) restored)") {
		t.Fatalf("stop %s: %s", id, stop)
	}
	at := waitAPIState(t, cs, ns, pod, 5*time.Second, "restored by stop", apiState.restored)
	t.Logf("BOUND kubectl chaos stop -> pod restored ≤ %v after the command started (stop itself took %v)",
		at.Sub(start).Round(time.Millisecond), stop.Took.Round(time.Millisecond))
	if ls := chaosPlain(t, nil, "ls"); strings.Contains(ls.Stdout, id) {
		t.Errorf("ls still lists %s after stop:\n%s", id, ls)
	}
}

// kill -9 of the CLI with a short --duration: gc leaves the pod alone before the
// deadline and restores it once the deadline has passed.
func TestNoopAPIKillCLIThenGC(t *testing.T) {
	cs, ns, pod, id := injectThenKillCLI(t, "10s")
	// The deadline is in the undo record.
	out := kubectl(t, "-n", ns, "get", "pod", pod, "-o", `jsonpath={.metadata.annotations.kubectl-chaos/undo}`)
	rec, err := plan.DecodeUndo(out)
	if err != nil {
		t.Fatal(err)
	}
	if time.Until(rec.Deadline) > 3*time.Second {
		if gc := chaosPlain(t, nil, "gc"); gc.Code != 0 {
			t.Errorf("gc before the deadline: %s", gc)
		}
		if st := readAPIState(t, cs, ns, pod); !changed(id)(st) && time.Now().Before(rec.Deadline) {
			t.Fatalf("gc before the deadline touched the pod: %+v", st)
		}
	} else {
		t.Logf("the machine is slow: %v left before the deadline, gc before it not tried", time.Until(rec.Deadline))
	}
	time.Sleep(time.Until(rec.Deadline) + 100*time.Millisecond)
	if st := readAPIState(t, cs, ns, pod); !changed(id)(st) {
		t.Fatalf("past its deadline with the CLI dead the pod is %+v, want still changed (only gc restores it)", st)
	}
	start := time.Now()
	gc := chaosPlain(t, nil, "gc")
	if gc.Code != 0 || !strings.Contains(gc.Stdout, "restored pod "+ns+"/"+pod) {
		t.Fatalf("gc after the deadline: %s", gc)
	}
	at := waitAPIState(t, cs, ns, pod, 5*time.Second, "restored by gc", apiState.restored)
	t.Logf("BOUND kubectl chaos gc -> pod restored ≤ %v after the command started (gc itself took %v, deadline passed %v before)",
		at.Sub(start).Round(time.Millisecond), gc.Took.Round(time.Millisecond), start.Sub(rec.Deadline).Round(time.Millisecond))
}
