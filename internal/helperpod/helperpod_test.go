package helperpod

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/kubectl-chaos/kubectl-chaos/internal/hostmount"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"

	// The kinds the golden pods use register themselves with the catalog.
	_ "github.com/kubectl-chaos/kubectl-chaos/internal/fault/network"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

var created = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

func typicalPlan() *plan.Plan {
	return &plan.Plan{
		Version:    plan.Version,
		Experiment: "chaos-7f3k2",
		Node:       "worker-1",
		Owner:      "alice@kind-dev",
		CreatedAt:  created,
		Deadline:   created.Add(5 * time.Minute),
		Fault: plan.Fault{Kind: plan.KindNetwork, Action: "delay", Network: &plan.Network{
			Delay: &plan.Delay{Latency: plan.Duration(100 * time.Millisecond), Jitter: plan.Duration(10 * time.Millisecond)},
		}},
		Targets: []plan.Target{
			{Namespace: "default", Pod: "web-a", PodUID: "uid-a", Container: "app", ContainerID: "containerd://aaaa", Node: "worker-1", PodIPs: []string{"10.0.0.1"}},
			{Namespace: "default", Pod: "web-b", PodUID: "uid-b", Container: "app", ContainerID: "containerd://bbbb", Node: "worker-1", PodIPs: []string{"10.0.0.2", "fd00::2"}},
		},
		Runtime:    plan.Runtime{Endpoint: DefaultRuntimeSocket, Namespace: "k8s.io"},
		JournalDir: plan.DefaultJournalDir,
	}
}

func typicalOptions() Options {
	return Options{Plan: typicalPlan(), Image: "ghcr.io/kubectl-chaos/kubectl-chaos:v0.1.0", RuntimeSocket: DefaultRuntimeSocket}
}

const longNode = "ip-10-123-45-67.eu-west-1.compute.internal.very-long-cluster-domain.example.com"

func golden(t *testing.T, name string, pod *corev1.Pod) {
	t.Helper()
	got, err := yaml.Marshal(pod)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join("testdata", name+".yaml")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/helperpod -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs (-want +got); if intended, rerun with -update:\n%s", path, cmp.Diff(string(want), string(got)))
	}
}

func TestGolden(t *testing.T) {
	pod, err := Build(typicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "typical", pod)

	o := typicalOptions()
	o.Plan.Node = longNode
	o.Plan.Detached = true
	o.Namespace = "chaos-helpers"
	o.ImagePullPolicy = corev1.PullAlways
	o.Grace = 45 * time.Second
	o.RuntimeSocket = "/var/run/k3s/containerd/containerd.sock"
	o.Plan.Runtime.Endpoint = ""
	o.Plan.JournalDir = ""
	pod, err = Build(o)
	if err != nil {
		t.Fatal(err)
	}
	golden(t, "long-node", pod)

	// A kubectl chaos run's helper: no fault of its own, the run's whole deadline, the
	// hash of the step key, and every kind's host mounts (its steps may be of any kind).
	o = typicalOptions()
	o.Plan.Fault, o.Plan.Targets = plan.Fault{}, nil
	o.Plan.Serve = true
	o.Plan.StepKey = strings.Repeat("5e", 32)
	o.Plan.Deadline = created.Add(20 * time.Minute)
	pod, err = Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := *pod.Spec.ActiveDeadlineSeconds; got != 20*60+30 {
		t.Errorf("serving helper: activeDeadlineSeconds %d, want the run's 1200 s + 30 s", got)
	}
	if pod.Annotations[plan.AnnotationFault] != ServeSummary {
		t.Errorf("serving helper: fault annotation %q", pod.Annotations[plan.AnnotationFault])
	}
	golden(t, "serve", pod)
}

// TestSecurityFields asserts the fields that matter explicitly, so that an -update
// cannot hide a regression in them.
func TestSecurityFields(t *testing.T) {
	pod, err := Build(typicalOptions())
	if err != nil {
		t.Fatal(err)
	}
	s := pod.Spec
	check := func(what string, ok bool) {
		t.Helper()
		if !ok {
			t.Errorf("%s is wrong", what)
		}
	}
	check("name", pod.Name == "chaos-7f3k2-worker-1")
	check("namespace", pod.Namespace == DefaultNamespace)
	check("nodeName", s.NodeName == "worker-1")
	check("tolerations (all taints)", len(s.Tolerations) == 1 && s.Tolerations[0] == corev1.Toleration{Operator: corev1.TolerationOpExists})
	check("hostPID", s.HostPID)
	// hostNetwork on (issue 17: no sandbox netns, no CNI add/del), host IPC off, and the
	// node's resolv.conf (the agent resolves no names; ClusterFirst would be ignored).
	check("hostNetwork on, hostIPC off", s.HostNetwork && !s.HostIPC)
	check("dnsPolicy Default", s.DNSPolicy == corev1.DNSDefault)
	check("enableServiceLinks false", s.EnableServiceLinks != nil && !*s.EnableServiceLinks)
	check("automountServiceAccountToken false", s.AutomountServiceAccountToken != nil && !*s.AutomountServiceAccountToken)
	check("restartPolicy OnFailure", s.RestartPolicy == corev1.RestartPolicyOnFailure)
	check("activeDeadlineSeconds = 300s + 30s", s.ActiveDeadlineSeconds != nil && *s.ActiveDeadlineSeconds == 330)
	check("terminationGracePeriodSeconds 10", s.TerminationGracePeriodSeconds != nil && *s.TerminationGracePeriodSeconds == 10)
	check("no priorityClassName", s.PriorityClassName == "")
	check("one container", len(s.Containers) == 1 && len(s.InitContainers) == 0)
	c := s.Containers[0]
	check("container name", c.Name == ContainerName)
	check("image", c.Image == "ghcr.io/kubectl-chaos/kubectl-chaos:v0.1.0")
	check("pull policy default", c.ImagePullPolicy == corev1.PullIfNotPresent)
	check("command", cmp.Equal(c.Command, []string{"/kubectl-chaos", "agent"}) && len(c.Args) == 0)
	check("stdin, stdinOnce, no tty", c.Stdin && c.StdinOnce && !c.TTY)
	check("privileged", c.SecurityContext != nil && c.SecurityContext.Privileged != nil && *c.SecurityContext.Privileged)
	check("termination message", c.TerminationMessagePath == "/dev/termination-log" && c.TerminationMessagePolicy == corev1.TerminationMessageReadFile)
	check("cpu request 10m", c.Resources.Requests.Cpu().String() == "10m")
	check("memory request 32Mi", c.Resources.Requests.Memory().String() == "32Mi")
	check("memory limit 128Mi", c.Resources.Limits.Memory().String() == "128Mi")
	check("no cpu limit", c.Resources.Limits.Cpu().IsZero())

	env := map[string]corev1.EnvVar{}
	for _, e := range c.Env {
		env[e.Name] = e
	}
	for name, path := range map[string]string{"POD_NAME": "metadata.name", "POD_NAMESPACE": "metadata.namespace", "POD_UID": "metadata.uid", "NODE_NAME": "spec.nodeName"} {
		e := env[name]
		check(name+" from the downward API", e.ValueFrom != nil && e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == path)
	}
	check("plan env", env[plan.EnvVar].Value != "")

	// No volumes: kubelet would hold the pod ≈300 ms for its volume manager. The agent
	// mounts the same node paths itself from $KUBECTL_CHAOS_HOST_PATHS.
	check("no volumes", len(s.Volumes) == 0 && len(c.VolumeMounts) == 0)
	ms, err := hostmount.Decode(env[hostmount.EnvVar].Value)
	if err != nil {
		t.Fatal(err)
	}
	want := []hostmount.Mount{
		{Name: "journal", HostPath: "/run/kubectl-chaos", Path: "/run/kubectl-chaos", Type: hostmount.DirectoryOrCreate},
		{Name: "host-proc", HostPath: "/proc", Path: "/host/proc", Type: hostmount.Directory, ReadOnly: true},
		{Name: "runtime", HostPath: "/run/containerd", Path: "/run/containerd", Type: hostmount.DirectoryOrCreate},
	}
	if d := cmp.Diff(want, ms); d != "" {
		t.Errorf("host paths (-want +got):\n%s", d)
	}

	wantLabels := map[string]string{
		"app.kubernetes.io/managed-by": "kubectl-chaos",
		"kubectl-chaos/experiment":     "chaos-7f3k2",
		"kubectl-chaos/node":           "worker-1",
		"app.kubernetes.io/name":       "kubectl-chaos-agent",
	}
	if d := cmp.Diff(wantLabels, pod.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	wantAnn := map[string]string{
		"kubectl-chaos/owner":      "alice@kind-dev",
		"kubectl-chaos/deadline":   "2026-11-27T08:05:00Z",
		"kubectl-chaos/fault":      "network delay 100ms±10ms",
		"kubectl-chaos/detached":   "false",
		"kubectl-chaos/started-at": "2026-11-27T08:00:00Z",
	}
	if d := cmp.Diff(wantAnn, pod.Annotations); d != "" {
		t.Errorf("annotations (-want +got):\n%s", d)
	}
}

func TestPlanRoundTrip(t *testing.T) {
	o := typicalOptions()
	pod, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	var raw string
	for _, e := range pod.Spec.Containers[0].Env {
		if e.Name == plan.EnvVar {
			raw = e.Value
		}
	}
	got, err := plan.Decode(raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := got.Validate(); err != nil {
		t.Errorf("decoded plan does not validate: %v", err)
	}
	if d := cmp.Diff(typicalPlan(), got); d != "" {
		t.Errorf("plan round trip (-want +got):\n%s", d)
	}

	// Empty endpoint and journal are filled in the pod's copy, not in the caller's plan.
	o = typicalOptions()
	o.Plan.Runtime.Endpoint, o.Plan.JournalDir = "", ""
	o.RuntimeSocket = "/run/k3s/containerd/containerd.sock"
	pod, err = Build(o)
	if err != nil {
		t.Fatal(err)
	}
	got, err = plan.Decode(pod.Spec.Containers[0].Env[0].Value)
	if err != nil {
		t.Fatal(err)
	}
	if got.Runtime.Endpoint != o.RuntimeSocket || got.JournalDir != plan.DefaultJournalDir {
		t.Errorf("pod plan endpoint %q journal %q; want %q, %q", got.Runtime.Endpoint, got.JournalDir, o.RuntimeSocket, plan.DefaultJournalDir)
	}
	if o.Plan.Runtime.Endpoint != "" || o.Plan.JournalDir != "" {
		t.Error("Build modified the caller's plan")
	}
	if p := HostPaths(pod); len(p) < 3 || p[2] != "/run/k3s/containerd" {
		t.Errorf("host paths %v, want the runtime's /run/k3s/containerd third", p)
	}
}

func TestName(t *testing.T) {
	tests := []struct{ exp, node, want string }{
		{"chaos-7f3k2", "worker-1", "chaos-7f3k2-worker-1"},
		{"chaos-7f3k2", "node.example.com", ""}, // dots: sanitized + hash
		{"chaos-7f3k2", longNode, ""},
		{"chaos-7f3k2", "Worker_1", ""},
		{"chaos-7f3k2", strings.Repeat("a", 253), ""},
	}
	seen := map[string]string{}
	for _, tt := range tests {
		got := Name(tt.exp, tt.node)
		if errs := validation.IsDNS1123Label(got); len(errs) > 0 {
			t.Errorf("Name(%q, %q) = %q: not a DNS label: %v", tt.exp, tt.node, got, errs)
		}
		if tt.want != "" && got != tt.want {
			t.Errorf("Name(%q, %q) = %q, want %q", tt.exp, tt.node, got, tt.want)
		}
		if !strings.HasPrefix(got, tt.exp+"-") {
			t.Errorf("Name(%q, %q) = %q does not start with the experiment", tt.exp, tt.node, got)
		}
		if prev, dup := seen[got]; dup {
			t.Errorf("Name collision: %q for %q and %q", got, prev, tt.node)
		}
		seen[got] = tt.node
		if Name(tt.exp, tt.node) != got {
			t.Errorf("Name(%q, %q) is not deterministic", tt.exp, tt.node)
		}
	}
	// Nodes that differ only past the cut, or by '.' vs '-', stay distinct.
	a, b := Name("chaos-x", longNode+"-a"), Name("chaos-x", longNode+"-b")
	c, d := Name("chaos-x", "n.1"), Name("chaos-x", "n-1")
	if a == b || c == d {
		t.Errorf("collisions: %q %q / %q %q", a, b, c, d)
	}
	if got := NodeLabel(longNode); len(validation.IsValidLabelValue(got)) > 0 {
		t.Errorf("NodeLabel(%q) = %q: not a label value", longNode, got)
	}
	if got := NodeLabel("node.example.com"); got != "node.example.com" {
		t.Errorf("NodeLabel keeps short names: got %q", got)
	}
}

func TestBuildErrors(t *testing.T) {
	tests := []struct {
		name string
		mod  func(*Options)
		want string
	}{
		{"no plan", func(o *Options) { o.Plan = nil }, "no plan"},
		{"no experiment", func(o *Options) { o.Plan.Experiment = "" }, "experiment ID is empty"},
		{"no node", func(o *Options) { o.Plan.Node = "" }, "node is empty"},
		{"no image", func(o *Options) { o.Image = "" }, "--image is empty"},
		{"no deadline", func(o *Options) { o.Plan.Deadline = time.Time{} }, "createdAt and deadline must be set"},
		{"deadline before start", func(o *Options) { o.Plan.Deadline = created.Add(-time.Second) }, "is not after createdAt"},
		{"bad experiment", func(o *Options) { o.Plan.Experiment = "has space" }, "not a valid label value"},
		{"bad namespace", func(o *Options) { o.Namespace = "Bad_NS" }, `--helper-namespace "Bad_NS"`},
		{"relative socket", func(o *Options) { o.RuntimeSocket = "containerd.sock" }, "not an absolute path"},
		{"endpoint outside the mount", func(o *Options) { o.Plan.Runtime.Endpoint = "/var/run/crio/crio.sock" }, "not in the mounted socket directory /run/containerd"},
		{"negative grace", func(o *Options) { o.Grace = -time.Second }, "negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			o := typicalOptions()
			tt.mod(&o)
			_, err := Build(o)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Build error %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestActiveDeadlineRoundsUp(t *testing.T) {
	o := typicalOptions()
	o.Plan.Deadline = created.Add(90*time.Second + 200*time.Millisecond)
	o.Grace = 5 * time.Second
	pod, err := Build(o)
	if err != nil {
		t.Fatal(err)
	}
	if got := *pod.Spec.ActiveDeadlineSeconds; got != 96 {
		t.Errorf("activeDeadlineSeconds = %d, want 96 (90.2s + 5s rounded up)", got)
	}
}

func TestNamespace(t *testing.T) {
	ns := Namespace("")
	want := map[string]string{
		"app.kubernetes.io/managed-by":       "kubectl-chaos",
		"pod-security.kubernetes.io/enforce": "privileged",
		"pod-security.kubernetes.io/audit":   "privileged",
		"pod-security.kubernetes.io/warn":    "privileged",
	}
	if ns.Name != DefaultNamespace {
		t.Errorf("name %q, want %q", ns.Name, DefaultNamespace)
	}
	if d := cmp.Diff(want, ns.Labels); d != "" {
		t.Errorf("labels (-want +got):\n%s", d)
	}
	if ns.Kind != "Namespace" || Namespace("x").Name != "x" {
		t.Errorf("namespace object %+v", ns)
	}
}
