package target

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

// usageErr asserts err is a one-line exit.UsageError containing want.
func usageErr(t *testing.T, err error, want string) {
	t.Helper()
	if err == nil {
		t.Fatalf("got no error, want one containing %q", want)
	}
	if c := exit.Code(err); c != exit.Usage {
		t.Errorf("exit code %d, want %d (usage) for %v", c, exit.Usage, err)
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("error is not one line: %q", err)
	}
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not contain %q", err, want)
	}
}

func TestValidate(t *testing.T) {
	ok := func(o Options) Options {
		if o.MaxTargets == 0 {
			o.MaxTargets = DefaultMaxTargets
		}
		return o
	}
	tests := []struct {
		name string
		o    Options
		want string // "" = valid
	}{
		{"deploy", ok(Options{Args: []string{"deploy/web"}}), ""},
		{"every kind", ok(Options{Args: []string{"pod/a", "pods/a", "po/a", "deployment/a", "deployments/a",
			"deployment.apps/a", "sts/a", "statefulset/a", "statefulsets/a", "ds/a", "daemonset/a", "daemonsets/a",
			"rs/a", "replicaset/a", "replicasets/a", "job/a", "jobs/a", "jobs.batch/a", "svc/a", "service/a", "services/a", "Deploy/a"}}), ""},
		{"bare pod names", ok(Options{Args: []string{"web-0", "web-1"}}), ""},
		{"label selector", ok(Options{LabelSelector: "app=web,tier in (a,b),!legacy"}), ""},
		{"field selector", ok(Options{FieldSelector: "spec.nodeName=n1"}), ""},
		{"-A with -l", ok(Options{AllNamespaces: true, LabelSelector: "app=web"}), ""},
		{"mode one", ok(Options{Args: []string{"a"}, Mode: "one"}), ""},
		{"mode fixed", ok(Options{Args: []string{"a"}, Mode: "fixed=3"}), ""},
		{"mode percent", ok(Options{Args: []string{"a"}, Mode: "percent=100"}), ""},
		{"mode percent fraction", ok(Options{Args: []string{"a"}, Mode: "percent=0.5"}), ""},

		{"unknown kind", ok(Options{Args: []string{"cronjob/x"}}), `target "cronjob/x": unknown resource type "cronjob"; accepted: pod, deploy, sts, ds, rs, job, svc`},
		{"empty name", ok(Options{Args: []string{"deploy/"}}), `target "deploy/": empty name`},
		{"bad name", ok(Options{Args: []string{"deploy/Web_1"}}), `"Web_1" is not a valid object name`},
		{"extra slash", ok(Options{Args: []string{"deploy/a/b"}}), `is not a valid object name`},
		{"bad -l", ok(Options{LabelSelector: "app=(web"}), `-l/--selector "app=(web"`},
		{"bad -l operator", ok(Options{LabelSelector: "app in web"}), `-l/--selector`},
		{"bad --field-selector", ok(Options{FieldSelector: "spec.nodeName"}), `--field-selector "spec.nodeName"`},
		{"bad mode", ok(Options{Args: []string{"a"}, Mode: "some"}), `--mode "some": accepted values are one, all, fixed=N (N ≥ 1), percent=P or random-max-percent=P (0 < P ≤ 100)`},
		{"fixed=0", ok(Options{Args: []string{"a"}, Mode: "fixed=0"}), `--mode "fixed=0"`},
		{"fixed=x", ok(Options{Args: []string{"a"}, Mode: "fixed=x"}), `--mode "fixed=x"`},
		{"fixed=-1", ok(Options{Args: []string{"a"}, Mode: "fixed=-1"}), `--mode "fixed=-1"`},
		{"percent=0", ok(Options{Args: []string{"a"}, Mode: "percent=0"}), `--mode "percent=0"`},
		{"percent=101", ok(Options{Args: []string{"a"}, Mode: "percent=101"}), `--mode "percent=101"`},
		{"percent=NaN", ok(Options{Args: []string{"a"}, Mode: "percent=NaN"}), `--mode "percent=NaN"`},
		{"max-targets 0", Options{Args: []string{"a"}, MaxTargets: 0}, `--max-targets=0: must be at least 1`},
		{"max-targets negative", Options{Args: []string{"a"}, MaxTargets: -3}, `--max-targets=-3`},
		{"no targets", ok(Options{}), `no targets given: pass TYPE/NAME, pod names, -l or --field-selector`},
		{"-A with TYPE/NAME", ok(Options{AllNamespaces: true, Args: []string{"deploy/web"}}), `-A/--all-namespaces cannot be combined with TYPE/NAME or pod names (deploy/web)`},
		{"-A with pod name", ok(Options{AllNamespaces: true, Args: []string{"web-0"}, LabelSelector: "a=b"}), `-A/--all-namespaces cannot be combined`},
		{"bad namespace", ok(Options{Namespace: "Not_A_NS", Args: []string{"a"}}), `-n/--namespace "Not_A_NS"`},
		{"bad container", ok(Options{Container: "a b", Args: []string{"a"}}), `-c/--container "a b"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.o.Validate()
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Validate: %v", err)
				}
				return
			}
			usageErr(t, err, tt.want)
		})
	}
}

func TestParseMode(t *testing.T) {
	for in, want := range map[string]Mode{
		"": {Kind: "all"}, "all": {Kind: "all"}, "one": {Kind: "one"},
		"fixed=7": {Kind: "fixed", N: 7}, "percent=25": {Kind: "percent", Percent: 25}, "percent=25%": {Kind: "percent", Percent: 25},
	} {
		got, err := ParseMode(in)
		if err != nil || got != want {
			t.Errorf("ParseMode(%q) = %+v, %v; want %+v", in, got, err, want)
		}
	}
}

// ---- fixtures ----

type podOpt func(*corev1.Pod)

func onNode(n string) podOpt { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func inNS(ns string) podOpt  { return func(p *corev1.Pod) { p.Namespace = ns } }
func withIP(ips ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Status.PodIPs = nil
		p.Status.PodIP = ips[0]
		for _, ip := range ips {
			p.Status.PodIPs = append(p.Status.PodIPs, corev1.PodIP{IP: ip})
		}
	}
}
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func hostNet() podOpt                 { return func(p *corev1.Pod) { p.Spec.HostNetwork = true } }
func terminating() podOpt {
	return func(p *corev1.Pod) { now := metav1.Now(); p.DeletionTimestamp = &now }
}
func containers(names ...string) podOpt {
	return func(p *corev1.Pod) {
		p.Spec.Containers = nil
		p.Status.ContainerStatuses = nil
		for _, n := range names {
			p.Spec.Containers = append(p.Spec.Containers, corev1.Container{Name: n, Image: "img"})
			p.Status.ContainerStatuses = append(p.Status.ContainerStatuses, corev1.ContainerStatus{
				Name: n, ContainerID: "containerd://" + p.Name + "-" + n,
				State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{}},
			})
		}
	}
}
func notRunning(name string) podOpt {
	return func(p *corev1.Pod) {
		for i := range p.Status.ContainerStatuses {
			if p.Status.ContainerStatuses[i].Name == name {
				p.Status.ContainerStatuses[i].State = corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: "CrashLoopBackOff"}}
			}
		}
	}
}
func annotate(k, v string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{k: v} }
}

var ipSeq = 0

func pod(name string, lbl map[string]string, opts ...podOpt) *corev1.Pod {
	ipSeq++
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbl, UID: types.UID("uid-" + name)},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	containers("app")(p)
	withIP(fmt.Sprintf("10.0.0.%d", ipSeq))(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

func sel(kv ...string) *metav1.LabelSelector {
	m := map[string]string{}
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return &metav1.LabelSelector{MatchLabels: m}
}

func meta(name string) metav1.ObjectMeta { return metav1.ObjectMeta{Name: name, Namespace: "default"} }

func fixture() []runtime.Object {
	ipSeq = 0
	web := map[string]string{"app": "web"}
	return []runtime.Object{
		pod("web-a", web, onNode("n2")),                   // 10.0.0.1
		pod("web-b", web, onNode("n1")),                   // 10.0.0.2
		pod("web-c", web, onNode("n2")),                   // 10.0.0.3
		pod("web-pending", web, phase(corev1.PodPending)), // not a candidate
		pod("web-dying", web, terminating()),              // not a candidate
		pod("db-0", map[string]string{"app": "db"}, containers("db", "sidecar"), annotate(DefaultContainerAnnotation, "sidecar")),
		pod("cache", map[string]string{"app": "cache"}, containers("redis", "exporter"), notRunning("redis")),
		pod("ds-x", map[string]string{"app": "ds"}, onNode("n3")),
		pod("job-x", map[string]string{"job": "j"}),
		pod("rs-x", map[string]string{"app": "rs"}),
		pod("coredns", map[string]string{"app": "dns"}, inNS("kube-system")),
		pod("hostnet", map[string]string{"app": "hostnet"}, hostNet()),
		pod("v6", map[string]string{"app": "v6"}, withIP("fd00::5")),
		&appsv1.Deployment{ObjectMeta: meta("web"), Spec: appsv1.DeploymentSpec{Selector: sel("app", "web")}},
		&appsv1.Deployment{ObjectMeta: meta("empty"), Spec: appsv1.DeploymentSpec{Selector: sel("app", "nothing")}},
		&appsv1.Deployment{ObjectMeta: meta("all"), Spec: appsv1.DeploymentSpec{Selector: &metav1.LabelSelector{}}},
		&appsv1.StatefulSet{ObjectMeta: meta("db"), Spec: appsv1.StatefulSetSpec{Selector: sel("app", "db")}},
		&appsv1.DaemonSet{ObjectMeta: meta("ds"), Spec: appsv1.DaemonSetSpec{Selector: sel("app", "ds")}},
		&appsv1.ReplicaSet{ObjectMeta: meta("rs"), Spec: appsv1.ReplicaSetSpec{Selector: sel("app", "rs")}},
		&batchv1.Job{ObjectMeta: meta("j"), Spec: batchv1.JobSpec{Selector: sel("job", "j")}},
		&corev1.Service{ObjectMeta: meta("web"), Spec: corev1.ServiceSpec{Selector: web, ClusterIP: "10.96.0.10", ClusterIPs: []string{"10.96.0.10", "fd00:96::a"}}},
		&corev1.Service{ObjectMeta: meta("manual"), Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.11"}},
		&corev1.Service{ObjectMeta: meta("headless-empty"), Spec: corev1.ServiceSpec{ClusterIP: "None", Selector: map[string]string{"app": "none"}}},
	}
}

// calls counts the API calls by "verb resource".
func calls(c *fake.Clientset) map[string]int {
	m := map[string]int{}
	for _, a := range c.Actions() {
		m[a.GetVerb()+" "+a.GetResource().Resource]++
	}
	return m
}

func opts(args ...string) Options {
	return Options{Namespace: "default", Args: args, MaxTargets: DefaultMaxTargets, Seed: 1}
}

func names(ts []plan.Target) []string {
	var out []string
	for _, t := range ts {
		out = append(out, t.Namespace+"/"+t.Pod+"/"+t.Container)
	}
	return out
}

func TestResolveSelectorsAndCalls(t *testing.T) {
	tests := []struct {
		name  string
		o     Options
		want  []string
		calls map[string]int
	}{
		{"deploy", opts("deploy/web"), []string{"default/web-a/app", "default/web-b/app", "default/web-c/app"},
			map[string]int{"get deployments": 1, "list pods": 1}},
		{"deployment.apps long name", opts("deployment.apps/web"), []string{"default/web-a/app", "default/web-b/app", "default/web-c/app"},
			map[string]int{"get deployments": 1, "list pods": 1}},
		{"sts uses default-container annotation", opts("sts/db"), []string{"default/db-0/sidecar"},
			map[string]int{"get statefulsets": 1, "list pods": 1}},
		{"ds", opts("ds/ds"), []string{"default/ds-x/app"}, map[string]int{"get daemonsets": 1, "list pods": 1}},
		{"rs", opts("rs/rs"), []string{"default/rs-x/app"}, map[string]int{"get replicasets": 1, "list pods": 1}},
		{"job", opts("job/j"), []string{"default/job-x/app"}, map[string]int{"get jobs": 1, "list pods": 1}},
		{"svc", opts("svc/web"), []string{"default/web-a/app", "default/web-b/app", "default/web-c/app"},
			map[string]int{"get services": 1, "list pods": 1}},
		{"pod/NAME is one get", opts("pod/web-b"), []string{"default/web-b/app"}, map[string]int{"get pods": 1}},
		{"bare names are one list", opts("web-c", "web-a", "db-0"), []string{"default/db-0/sidecar", "default/web-a/app", "default/web-c/app"},
			map[string]int{"list pods": 1}},
		{"-l is one list", Options{Namespace: "default", LabelSelector: "app in (web,db)", MaxTargets: 50}, []string{"default/db-0/sidecar", "default/web-a/app", "default/web-b/app", "default/web-c/app"},
			map[string]int{"list pods": 1}},
		{"union deduplicates", Options{Namespace: "default", Args: []string{"deploy/web", "svc/web", "pod/web-a", "web-a", "web-b", "deploy/web"}, LabelSelector: "app=web", MaxTargets: 50},
			[]string{"default/web-a/app", "default/web-b/app", "default/web-c/app"},
			map[string]int{"get deployments": 1, "get services": 1, "get pods": 1, "list pods": 4}},
		{"-c picks the container", Options{Namespace: "default", Args: []string{"db-0"}, Container: "db", MaxTargets: 50}, []string{"default/db-0/db"},
			map[string]int{"list pods": 1}},
		{"a pod whose default container is not running is skipped", Options{Namespace: "default", Args: []string{"cache", "web-a"}, Container: "", MaxTargets: 50}, []string{"default/web-a/app"},
			map[string]int{"list pods": 1}},
		{"exporter of cache runs", Options{Namespace: "default", Args: []string{"cache"}, Container: "exporter", MaxTargets: 50}, []string{"default/cache/exporter"},
			map[string]int{"list pods": 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(fixture()...)
			s, err := Resolve(context.Background(), c, tt.o)
			if err != nil {
				t.Fatalf("Resolve: %v", err)
			}
			if d := cmp.Diff(tt.want, names(s.Targets)); d != "" {
				t.Errorf("targets (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.calls, calls(c)); d != "" {
				t.Errorf("API calls (-want +got):\n%s", d)
			}
		})
	}
}

func TestResolveFillsTargetsAndGroupsByNode(t *testing.T) {
	c := fake.NewClientset(fixture()...)
	s, err := Resolve(context.Background(), c, opts("deploy/web", "ds/ds"))
	if err != nil {
		t.Fatal(err)
	}
	want := plan.Target{Namespace: "default", Pod: "web-a", PodUID: "uid-web-a", Container: "app",
		ContainerID: "containerd://web-a-app", Node: "n2", PodIPs: []string{"10.0.0.1"}}
	if d := cmp.Diff(want, s.Targets[1]); d != "" {
		t.Errorf("target (-want +got):\n%s", d)
	}
	if d := cmp.Diff([]string{"n1", "n2", "n3"}, s.Nodes); d != "" {
		t.Errorf("nodes (-want +got):\n%s", d)
	}
	byNode := map[string][]string{}
	for n, ts := range s.ByNode {
		byNode[n] = names(ts)
	}
	wantBy := map[string][]string{
		"n1": {"default/web-b/app"},
		"n2": {"default/web-a/app", "default/web-c/app"},
		"n3": {"default/ds-x/app"},
	}
	if d := cmp.Diff(wantBy, byNode); d != "" {
		t.Errorf("ByNode (-want +got):\n%s", d)
	}
	if s.Matched != 4 {
		t.Errorf("Matched = %d, want 4", s.Matched)
	}
}

func TestResolveSelectorsReachTheAPI(t *testing.T) {
	c := fake.NewClientset(fixture()...)
	_, err := Resolve(context.Background(), c, Options{AllNamespaces: true, Namespace: "ignored", LabelSelector: "app=web",
		FieldSelector: "spec.nodeName=n2", MaxTargets: 50})
	if err != nil {
		t.Fatal(err)
	}
	acts := c.Actions()
	if len(acts) != 1 {
		t.Fatalf("%d actions, want 1 list", len(acts))
	}
	l, ok := acts[0].(k8stesting.ListAction)
	if !ok {
		t.Fatalf("action %v is not a list", acts[0])
	}
	r := l.GetListRestrictions()
	if l.GetNamespace() != "" || r.Labels.String() != "app=web" || r.Fields.String() != "spec.nodeName=n2" {
		t.Errorf("list in %q with labels %q fields %q; want all namespaces, app=web, spec.nodeName=n2", l.GetNamespace(), r.Labels, r.Fields)
	}
}

func TestResolveMode(t *testing.T) {
	resolve := func(mode string, seed int64) *Selection {
		t.Helper()
		o := opts("deploy/web", "ds/ds", "rs/rs", "job/j")
		o.Mode, o.Seed = mode, seed
		s, err := Resolve(context.Background(), fake.NewClientset(fixture()...), o)
		if err != nil {
			t.Fatalf("Resolve --mode %s --seed %d: %v", mode, seed, err)
		}
		return s
	}
	// 6 candidates: web-a, web-b, web-c, ds-x, rs-x, job-x.
	for _, tt := range []struct {
		mode string
		n    int
	}{{"one", 1}, {"all", 6}, {"", 6}, {"fixed=2", 2}, {"fixed=6", 6}, {"fixed=100", 6}, {"percent=50", 3}, {"percent=10", 1}, {"percent=34", 3}, {"percent=100", 6}} {
		s := resolve(tt.mode, 7)
		if len(s.Targets) != tt.n || s.Matched != 6 {
			t.Errorf("--mode %s: %d targets of %d matched, want %d of 6", tt.mode, len(s.Targets), s.Matched, tt.n)
		}
	}
	// The same seed picks the same pods; different seeds pick differently.
	distinct := map[string]bool{}
	for seed := int64(1); seed <= 20; seed++ {
		a, b := resolve("fixed=2", seed), resolve("fixed=2", seed)
		if d := cmp.Diff(names(a.Targets), names(b.Targets)); d != "" {
			t.Fatalf("seed %d not reproducible:\n%s", seed, d)
		}
		if a.Seed != seed {
			t.Errorf("Selection.Seed = %d, want %d", a.Seed, seed)
		}
		distinct[strings.Join(names(a.Targets), ",")] = true
	}
	if len(distinct) < 5 {
		t.Errorf("20 seeds gave only %d distinct picks of 2 from 6: %v", len(distinct), distinct)
	}
	// Seed 0 picks a seed and reports it; passing it back reproduces the pick.
	s0 := resolve("one", 0)
	if s0.Seed == 0 {
		t.Fatal("Seed 0 was not replaced by a reported seed")
	}
	if d := cmp.Diff(names(s0.Targets), names(resolve("one", s0.Seed).Targets)); d != "" {
		t.Errorf("--seed %d does not reproduce the pick:\n%s", s0.Seed, d)
	}
	// Picks are sorted.
	s := resolve("fixed=4", 3)
	for i := 1; i < len(s.Targets); i++ {
		if s.Targets[i-1].Pod > s.Targets[i].Pod {
			t.Errorf("targets not sorted: %v", names(s.Targets))
		}
	}
}

func TestResolveRefusals(t *testing.T) {
	tests := []struct {
		name string
		o    Options
		want string // "" = allowed
	}{
		{"kube-system", Options{Namespace: "kube-system", Args: []string{"coredns"}, MaxTargets: 50},
			"refusing 1 pod(s) in kube-system: pass --allow-system to target system pods"},
		{"kube-system via -A", Options{AllNamespaces: true, LabelSelector: "app in (dns,web)", MaxTargets: 50},
			"refusing 1 pod(s) in kube-system: pass --allow-system"},
		{"kube-system allowed", Options{Namespace: "kube-system", Args: []string{"coredns"}, MaxTargets: 50, AllowSystem: true}, ""},
		{"kube-system not picked by --mode", Options{AllNamespaces: true, LabelSelector: "app in (dns,web)", Mode: "fixed=1", Seed: seedPicking(t, "web"), MaxTargets: 50}, ""},
		{"hostNetwork", opts("hostnet"), "refusing 1 hostNetwork pod(s) (default/hostnet): a fault there hits the node's own network; pass --allow-host-network"},
		{"hostNetwork allowed", Options{Namespace: "default", Args: []string{"hostnet"}, MaxTargets: 50, AllowHostNetwork: true}, ""},
		{"max-targets", Options{Namespace: "default", Args: []string{"deploy/web"}, MaxTargets: 2}, "3 targets exceed --max-targets=2; raise --max-targets"},
		{"max-targets after --mode", Options{Namespace: "default", Args: []string{"deploy/web"}, MaxTargets: 2, Mode: "fixed=2"}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(fixture()...)
			_, err := Resolve(context.Background(), c, tt.o)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("Resolve: %v", err)
				}
				return
			}
			usageErr(t, err, tt.want)
			for _, a := range c.Actions() {
				if v := a.GetVerb(); v != "get" && v != "list" {
					t.Errorf("refusal made a %s call", v)
				}
			}
		})
	}
}

// seedPicking finds a seed for which fixed=1 over {kube-system/coredns, web-a, web-b,
// web-c} picks a pod whose name starts with prefix.
func seedPicking(t *testing.T, prefix string) int64 {
	cands := []candidate{{Target: plan.Target{Namespace: "default", Pod: "web-a"}}, {Target: plan.Target{Namespace: "default", Pod: "web-b"}},
		{Target: plan.Target{Namespace: "default", Pod: "web-c"}}, {Target: plan.Target{Namespace: "kube-system", Pod: "coredns"}}}
	for seed := int64(1); seed < 100; seed++ {
		if p := pick(cands, Mode{Kind: "fixed", N: 1}, seed); strings.HasPrefix(p[0].Pod, prefix) {
			return seed
		}
	}
	t.Fatal("no seed found")
	return 0
}

func TestResolveErrors(t *testing.T) {
	forbidden := func(verb, resource string) k8stesting.ReactionFunc {
		return func(a k8stesting.Action) (bool, runtime.Object, error) {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: resource}, "", errors.New("RBAC: denied"))
		}
	}
	tests := []struct {
		name  string
		o     Options
		react [2]string // verb, resource to fail with Forbidden
		code  int
		want  string
	}{
		{"empty deploy", opts("deploy/empty"), [2]string{}, exit.Usage, "deploy/empty matched 0 running pods in namespace default"},
		{"not running explained", opts("web-pending", "web-dying"), [2]string{}, exit.Usage,
			"pod(s) web-pending, web-dying matched 0 running pods in namespace default (2 matched but not targetable: default/web-dying terminating, default/web-pending Pending)"},
		{"container not running explained", opts("cache"), [2]string{}, exit.Usage, `(1 matched but not targetable: default/cache container "redis" not running)`},
		{"empty -A", Options{AllNamespaces: true, LabelSelector: "app=nope", MaxTargets: 50}, [2]string{}, exit.Usage, "-l app=nope matched 0 running pods in all namespaces"},
		{"empty selector refused", opts("deploy/all"), [2]string{}, exit.Usage, "deploy/all in namespace default has an empty selector"},
		{"svc without selector", opts("svc/manual"), [2]string{}, exit.Usage, "svc/manual in namespace default has no selector"},
		{"deploy not found", opts("deploy/nope"), [2]string{}, exit.Usage, "deploy/nope not found in namespace default"},
		{"pod not found", opts("pod/nope"), [2]string{}, exit.Usage, "pod/nope not found in namespace default"},
		{"bare names missing", opts("web-a", "nope", "gone"), [2]string{}, exit.Usage, "pod(s) not found in namespace default: nope, gone"},
		{"-c missing", Options{Namespace: "default", Args: []string{"deploy/web", "db-0"}, Container: "db", MaxTargets: 50}, [2]string{}, exit.Usage,
			`-c/--container "db": pod default/web-a has no such container; its containers: app`},
		{"forbidden get", opts("deploy/web"), [2]string{"get", "deployments"}, exit.API,
			"get deploy/web in namespace default: forbidden: you need permission to get deployments.apps in namespace default (check: kubectl auth can-i get deployments.apps -n default)"},
		{"forbidden list -A", Options{AllNamespaces: true, LabelSelector: "a=b", MaxTargets: 50}, [2]string{"list", "pods"}, exit.API,
			"list pods in all namespaces: forbidden: you need permission to list pods in all namespaces (check: kubectl auth can-i list pods -A)"},
		{"validation first", Options{Args: []string{"foo/x"}, MaxTargets: 50}, [2]string{}, exit.Usage, "unknown resource type"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(fixture()...)
			if tt.react[0] != "" {
				c.PrependReactor(tt.react[0], tt.react[1], forbidden(tt.react[0], tt.react[1]))
			}
			_, err := Resolve(context.Background(), c, tt.o)
			if err == nil {
				t.Fatalf("no error, want %q", tt.want)
			}
			if got := exit.Code(err); got != tt.code {
				t.Errorf("exit code %d, want %d: %v", got, tt.code, err)
			}
			if !strings.Contains(err.Error(), tt.want) {
				t.Errorf("error %q\n does not contain %q", err, tt.want)
			}
			if tt.code == exit.Usage && strings.Contains(err.Error(), "\n") {
				t.Errorf("usage error is not one line: %q", err)
			}
			if tt.name == "validation first" && len(c.Actions()) != 0 {
				t.Errorf("invalid options reached the API: %v", c.Actions())
			}
		})
	}
}

func TestPeers(t *testing.T) {
	tests := []struct {
		name      string
		to        []string
		cidrs     []string
		names     []string
		wantError string
	}{
		{"pod", []string{"pod/web-b"}, []string{"10.0.0.2/32"}, []string{"pod/web-b"}, ""},
		{"bare pod", []string{"web-b"}, []string{"10.0.0.2/32"}, []string{"pod/web-b"}, ""},
		{"ipv6 pod", []string{"pod/v6"}, []string{"fd00::5/128"}, []string{"pod/v6"}, ""},
		{"deploy: pods with an IP, not dying", []string{"deploy/web"},
			[]string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32"}, []string{"deploy/web"}, ""},
		{"svc: cluster IPs and pods", []string{"svc/web"},
			[]string{"10.0.0.1/32", "10.0.0.2/32", "10.0.0.3/32", "10.0.0.4/32", "10.96.0.10/32", "fd00:96::a/128"}, []string{"svc/web"}, ""},
		{"svc without selector: its cluster IP", []string{"svc/manual"}, []string{"10.96.0.11/32"}, []string{"svc/manual"}, ""},
		{"label selector", []string{"app=db"}, []string{"10.0.0.6/32"}, []string{"-l app=db"}, ""},
		{"label selector with key prefix", []string{"app in (db,ds)"}, []string{"10.0.0.6/32", "10.0.0.8/32"}, []string{"-l app in (db,ds)"}, ""},
		{"sorted numerically and deduped", []string{"pod/v6", "rs/rs", "pod/web-b", "web-b", "10.0.0.10"},
			[]string{"10.0.0.2/32", "10.0.0.10/32", "fd00::5/128"}, []string{"pod/v6", "rs/rs", "pod/web-b", "10.0.0.10"}, ""},
		{"cidr literal", []string{"192.168.1.7/24"}, []string{"192.168.1.0/24"}, []string{"192.168.1.0/24"}, ""},
		{"nothing", []string{"svc/headless-empty"}, nil, nil, "--to svc/headless-empty resolved to no IP address in namespace default"},
		{"missing", []string{"pod/nope"}, nil, nil, "pod/nope not found in namespace default"},
		{"bad kind", []string{"node/x"}, nil, nil, `unknown resource type "node"`},
		{"bad selector", []string{"app=(x"}, nil, nil, `--to "app=(x": not a valid label selector`},
		{"empty", []string{" "}, nil, nil, "--to: empty peer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := fake.NewClientset(fixture()...)
			cidrs, names, err := Peers(context.Background(), c, "default", tt.to)
			if tt.wantError != "" {
				usageErr(t, err, tt.wantError)
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.cidrs, cidrs); d != "" {
				t.Errorf("cidrs (-want +got):\n%s", d)
			}
			if d := cmp.Diff(tt.names, names); d != "" {
				t.Errorf("names (-want +got):\n%s", d)
			}
		})
	}
}

// BenchmarkResolve2000 resolves -l over 2000 running pods on 50 nodes with --mode
// percent=10: one List, then selection in memory.
func BenchmarkResolve2000(b *testing.B) {
	var objs []runtime.Object
	for i := range 2000 {
		objs = append(objs, pod(fmt.Sprintf("p-%04d", i), map[string]string{"app": "big"}, onNode(fmt.Sprintf("n%02d", i%50))))
	}
	c := fake.NewClientset(objs...)
	o := Options{Namespace: "default", LabelSelector: "app=big", Mode: "percent=10", Seed: 1, MaxTargets: 1000}
	b.ResetTimer()
	for b.Loop() {
		s, err := Resolve(context.Background(), c, o)
		if err != nil || len(s.Targets) != 200 || len(s.Nodes) > 50 {
			b.Fatalf("%v %d", err, len(s.Targets))
		}
	}
}
