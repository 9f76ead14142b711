package app

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

var testNow = time.Date(2026, 11, 27, 8, 0, 0, 0, time.UTC)

// isolate keeps the developer's config file and KUBECTL_CHAOS_* env out of a test.
func isolate(t *testing.T) {
	t.Helper()
	t.Setenv(ConfigEnv, filepath.Join(t.TempDir(), "absent.yaml"))
	for _, k := range experiment.ConfigurableFlags {
		env := EnvPrefix + "_" + strings.ToUpper(strings.ReplaceAll(k, "-", "_"))
		if _, ok := os.LookupEnv(env); ok {
			t.Setenv(env, "")
			os.Unsetenv(env)
		}
	}
}

func pod(name, node string, labels map[string]string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: labels, UID: "uid-" + "name"},
		Spec: corev1.PodSpec{
			NodeName:   node,
			Containers: []corev1.Container{{Name: "app", Image: "nginx"}},
		},
		Status: corev1.PodStatus{
			Phase:  corev1.PodRunning,
			PodIP:  "10.0.0.1",
			PodIPs: []corev1.PodIP{{IP: "10.0.0.1"}},
			ContainerStatuses: []corev1.ContainerStatus{{
				Name:        "app",
				ContainerID: "containerd://" + strings.Repeat(name[len(name)-1:], 64),
				Ready:       true,
				State:       corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			}},
		},
	}
}

// webCluster is a Deployment web with three Running pods on two nodes, and one Pending.
func webCluster() *fake.Clientset {
	sel := map[string]string{"app": "web"}
	pending := pod("web-4", "", sel)
	pending.Status = corev1.PodStatus{Phase: corev1.PodPending}
	objs := []runtime.Object{
		&appsv1.Deployment{
			ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
			Spec:       appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{MatchLabels: sel}},
		},
		pod("web-1", "node-a", sel), pod("web-2", "node-a", sel), pod("web-3", "node-b", sel), pending,
		pod("other-1", "node-a", map[string]string{"app": "other"}),
	}
	return fake.NewClientset(objs...)
}

type result struct {
	out, errOut string
	err         error
	calls       int
}

func run(t *testing.T, c *fake.Clientset, args ...string) result {
	t.Helper()
	isolate(t)
	return runKeepEnv(t, c, args...)
}

// runKeepEnv runs without resetting the environment the test set up.
func runKeepEnv(t *testing.T, c *fake.Clientset, args ...string) result {
	t.Helper()
	io, _, out, errOut := ui.Test()
	var calls int
	var f *factory.Factory
	if c == nil {
		f = factory.NewFake(io, nil, testNow, &calls)
	} else {
		f = factory.NewFake(io, c, testNow, &calls)
	}
	root := NewRootCmd(f)
	root.SetArgs(args)
	from := 0
	if c != nil {
		from = len(c.Actions())
	}
	err := executeRoot(context.Background(), root)
	if c != nil {
		checkRBAC(t, c, from)
	}
	return result{out: out.String(), errOut: errOut.String(), err: err, calls: calls}
}

func noWrites(t *testing.T, c *fake.Clientset) {
	t.Helper()
	for _, a := range c.Actions() {
		switch a.GetVerb() {
		case "get", "list", "watch":
		default:
			t.Errorf("the fake cluster saw a %s of %s; want only reads", a.GetVerb(), a.GetResource().Resource)
		}
	}
}

func TestHelpListsGroupsWithoutClient(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {}, {"network", "--help"}, {"network", "delay", "--help"}, {"help", "ls"}} {
		r := run(t, nil, args...)
		if r.err != nil {
			t.Fatalf("%v: %v", args, r.err)
		}
		if r.calls != 0 {
			t.Errorf("%v built a Kubernetes client %d time(s); help must not", args, r.calls)
		}
		if len(args) <= 1 && (len(args) == 0 || args[0] == "--help") {
			for _, want := range []string{"Fault commands:", "Experiment commands:", "network", "ls", "status", "stop", "gc", "version", "completion", "kubectl chaos [command]", "--context", "--namespace"} {
				if !strings.Contains(r.out, want) {
					t.Errorf("%v output lacks %q:\n%s", args, want, r.out)
				}
			}
			for _, hidden := range []string{"agent", "noop"} {
				if strings.Contains(r.out, "\n  "+hidden+" ") {
					t.Errorf("root help lists hidden command %q", hidden)
				}
			}
		}
	}
	r := run(t, nil, "network", "delay", "--help")
	for _, want := range []string{"--latency", "--jitter", "--correlation", "--dry-run", "--mode", "--interface", "--delay-backend", "kubectl chaos network delay TARGET"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("network delay --help lacks %q", want)
		}
	}
}

func TestDryRunYAMLPrintsPlanAndCreatesNothing(t *testing.T) {
	c := webCluster()
	r := run(t, c, "network", "delay", "deploy/web", "--latency", "100ms", "--dry-run", "-o", "yaml")
	if r.err != nil {
		t.Fatalf("dry-run: %v\nstderr: %s", r.err, r.errOut)
	}
	noWrites(t, c)
	var d experiment.DryRun
	if err := yaml.UnmarshalStrict([]byte(r.out), &d); err != nil {
		t.Fatalf("dry-run output is not the DryRun document: %v\n%s", err, r.out)
	}
	if !d.DryRun || !strings.HasPrefix(d.Experiment, "chaos-") || d.Owner != "tester@fake" {
		t.Errorf("header: dryRun=%v experiment=%q owner=%q", d.DryRun, d.Experiment, d.Owner)
	}
	if d.Fault.Kind != plan.KindNetwork || d.Fault.Network == nil || d.Fault.Network.Delay == nil || d.Fault.Network.Delay.Latency.D() != 100*time.Millisecond {
		t.Fatalf("fault = %+v, want network delay 100ms", d.Fault)
	}
	if d.Duration.D() != experiment.DefaultDuration || !d.Deadline.Equal(testNow.Add(experiment.DefaultDuration)) {
		t.Errorf("duration %s deadline %s, want 5m and now+5m", d.Duration.D(), d.Deadline)
	}
	var got []string
	for _, tg := range d.Targets {
		got = append(got, tg.Namespace+"/"+tg.Pod+"/"+tg.Container+"@"+tg.Node)
	}
	want := []string{"default/web-1/app@node-a", "default/web-2/app@node-a", "default/web-3/app@node-b"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("targets = %v, want %v", got, want)
	}
	if len(d.Helpers) != 2 {
		t.Fatalf("helpers = %d, want one per node (2)", len(d.Helpers))
	}
	for i, node := range []string{"node-a", "node-b"} {
		h := d.Helpers[i]
		if h.Node != node || h.Pod == nil || h.Pod.Spec.NodeName != node || h.Pod.Namespace != "kubectl-chaos" {
			t.Errorf("helper %d: node %q pod %+v, want on %s in kubectl-chaos", i, h.Node, h.Pod, node)
			continue
		}
		if h.Pod.Labels[plan.LabelExperiment] != d.Experiment {
			t.Errorf("helper %s lacks the experiment label", node)
		}
		if h.Plan == nil || h.Plan.Node != node || h.Plan.Runtime.Endpoint != "/run/containerd/containerd.sock" {
			t.Errorf("helper %s plan = %+v", node, h.Plan)
		}
	}
	if n := len(d.Helpers[0].Plan.Targets); n != 2 {
		t.Errorf("node-a plan has %d targets, want 2", n)
	}
	if len(d.Objects) == 0 {
		t.Errorf("no kernel objects described")
	}
	for _, o := range d.Objects {
		if o.Spec == "" || o.Remove == "" {
			t.Errorf("object %+v lacks its spec or how it is removed", o)
		}
	}
}

func TestDryRunHuman(t *testing.T) {
	c := webCluster()
	r := run(t, c, "network", "loss", "deploy/web", "--percent", "30", "--dry-run", "--mode", "one", "--seed", "7")
	if r.err != nil {
		t.Fatalf("dry-run: %v\nstderr: %s", r.err, r.errOut)
	}
	noWrites(t, c)
	for _, want := range []string{"Dry run: nothing will be created", "network loss 30%", "mode one, seed 7", "NAMESPACE", "CONTAINER ID", "Helper pods (namespace kubectl-chaos", "privileged", "hostPID", "hostNetwork", "Kernel objects", "removed by:", "How it ends:"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("human dry-run lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b[") {
		t.Errorf("color codes in non-TTY output")
	}
	if n := len(regexp.MustCompile(`(?m)^\s+default\s+web-\d`).FindAllString(r.out, -1)); n != 1 {
		t.Errorf("--mode one printed %d target rows, want 1:\n%s", n, r.out)
	}
}

func TestExitCodes(t *testing.T) {
	tests := []struct {
		name    string
		cluster bool
		args    []string
		code    int
		msg     string
	}{
		{"unknown flag", false, []string{"network", "delay", "pod/x", "--latency", "1s", "--bogus"}, exit.Usage, "unknown flag: --bogus"},
		{"unknown command", false, []string{"explode"}, exit.Usage, "unknown command"},
		{"missing required flag", false, []string{"network", "delay", "pod/x"}, exit.Usage, "latency"},
		{"no target", false, []string{"network", "delay", "--latency", "1s"}, exit.Usage, "no target"},
		{"percent 101", false, []string{"network", "loss", "pod/x", "--percent", "101"}, exit.Usage, "--percent"},
		{"negative duration", false, []string{"network", "loss", "pod/x", "--percent", "1", "--duration", "-5m"}, exit.Usage, "--duration"},
		{"absurd duration", false, []string{"network", "loss", "pod/x", "--percent", "1", "--duration", "9000h"}, exit.Usage, "--max-duration"},
		{"unknown kind", false, []string{"network", "loss", "widget/x", "--percent", "1"}, exit.Usage, "widget"},
		{"bad selector", false, []string{"network", "loss", "-l", "app==,=", "--percent", "1"}, exit.Usage, "-l"},
		{"bad output", false, []string{"network", "loss", "pod/x", "--percent", "1", "-o", "xml"}, exit.Usage, "-o/--output"},
		{"bad mode", false, []string{"network", "loss", "pod/x", "--percent", "1", "--mode", "garbage"}, exit.Usage, "--mode"},
		{"rate 0", false, []string{"network", "bandwidth", "pod/x", "--rate", "0"}, exit.Usage, "--rate"},
		{"version -o xml", false, []string{"version", "-o", "xml"}, exit.Usage, "-o/--output"},
		{"no cluster", false, []string{"ls"}, exit.API, "no cluster"},
		{"no running match", true, []string{"network", "loss", "deploy/nothing", "--percent", "1", "--dry-run"}, 0, ""},
		{"dry-run ok", true, []string{"noop", "web-1", "--dry-run"}, exit.OK, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var c *fake.Clientset
			if tt.cluster {
				c = webCluster()
			}
			r := run(t, c, tt.args...)
			if tt.name == "no running match" {
				// Resolving a missing deployment is an error; either a usage error (1) or
				// a not-found from the API (2) is acceptable, but never success.
				if code := exit.Code(r.err); code != exit.Usage && code != exit.API {
					t.Errorf("exit code %d (%v), want 1 or 2", code, r.err)
				}
				return
			}
			if code := exit.Code(r.err); code != tt.code {
				t.Fatalf("exit code %d (err %v), want %d", code, r.err, tt.code)
			}
			if tt.msg != "" && (r.err == nil || !strings.Contains(r.err.Error(), tt.msg)) {
				t.Errorf("error %v, want it to mention %q", r.err, tt.msg)
			}
			if tt.code == exit.Usage && r.calls != 0 {
				t.Errorf("a usage error built a client (%d calls): bad input must not reach the cluster", r.calls)
			}
			if r.err != nil && strings.Contains(r.out+r.errOut, "Usage:") {
				t.Errorf("usage printed on error; errors are one line")
			}
		})
	}
}

func TestVersion(t *testing.T) {
	r := run(t, nil, "version", "-o", "json")
	if r.err != nil {
		t.Fatal(r.err)
	}
	for _, want := range []string{`"version": "dev"`, `"commit": "none"`, `"defaultImage": "ghcr.io/kubectl-chaos/kubectl-chaos:dev"`} {
		if !strings.Contains(r.out, want) {
			t.Errorf("version -o json lacks %s:\n%s", want, r.out)
		}
	}
	r = run(t, nil, "version")
	if !strings.Contains(r.out, "agent image:  ghcr.io/kubectl-chaos/kubectl-chaos:dev") {
		t.Errorf("version output:\n%s", r.out)
	}
}

func TestCompletionScripts(t *testing.T) {
	for shell, want := range map[string]string{
		"bash":       "__start_kubectl-chaos",
		"zsh":        "#compdef kubectl-chaos",
		"fish":       "complete -c kubectl-chaos",
		"powershell": "Register-ArgumentCompleter",
	} {
		r := run(t, nil, "completion", shell)
		if r.err != nil || !strings.Contains(r.out, want) {
			t.Errorf("completion %s: err %v, output lacks %q", shell, r.err, want)
		}
	}
	if r := run(t, nil, "completion", "tcsh"); exit.Code(r.err) != exit.Usage {
		t.Errorf("completion tcsh: %v, want a usage error", r.err)
	}
}

func TestCompleteTargetsAndNamespaces(t *testing.T) {
	c := webCluster()
	_, _ = c.CoreV1().Namespaces().Create(context.Background(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "shop"}}, metav1.CreateOptions{})
	tests := []struct {
		args []string
		want []string
		not  []string
	}{
		{[]string{"__complete", "network", "delay", ""}, []string{"pod/", "deploy/", "svc/", "web-1", "other-1"}, nil},
		{[]string{"__complete", "network", "delay", "we"}, []string{"web-1", "web-2"}, []string{"other-1", "pod/"}},
		{[]string{"__complete", "network", "delay", "deploy/"}, []string{"deploy/web"}, nil},
		{[]string{"__complete", "network", "loss", "pod/web-"}, []string{"pod/web-1", "pod/web-3"}, []string{"pod/other-1"}},
		{[]string{"__complete", "network", "delay", "-n", ""}, []string{"shop"}, nil},
		{[]string{"__complete", "network", ""}, []string{"delay", "loss", "partition", "bandwidth"}, nil},
		{[]string{"__complete", "network", "delay", "pod/x", "--mode", ""}, []string{"one", "all", "fixed=", "percent="}, nil},
	}
	for _, tt := range tests {
		r := run(t, c, tt.args...)
		if r.err != nil {
			t.Fatalf("%v: %v", tt.args, r.err)
		}
		lines := map[string]bool{}
		for _, l := range strings.Split(r.out, "\n") {
			name, _, _ := strings.Cut(l, "\t")
			lines[name] = true
		}
		for _, w := range tt.want {
			if !lines[w] {
				t.Errorf("%v: completion lacks %q:\n%s", tt.args, w, r.out)
			}
		}
		for _, n := range tt.not {
			if lines[n] {
				t.Errorf("%v: completion offers %q", tt.args, n)
			}
		}
	}
	// No cluster: quietly nothing but the kinds.
	r := run(t, nil, "__complete", "network", "delay", "")
	if r.err != nil || !strings.Contains(r.out, "pod/") || strings.Contains(r.out, "web-1") {
		t.Errorf("completion without a cluster: err %v\n%s", r.err, r.out)
	}
}
