package target

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
)

func TestResolveFilters(t *testing.T) {
	objs := fixture()
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && (p.Name == "web-a" || p.Name == "web-b") {
			p.Annotations = map[string]string{"chaos/ok": "yes"}
		}
	}
	objs = append(objs,
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1", Labels: map[string]string{"zone": "a"}}},
		&corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n2", Labels: map[string]string{"zone": "b"}}})
	// deploy/web: web-a (n2), web-b (n1), web-c (n2) running.
	tests := []struct {
		name   string
		set    func(*Options)
		want   []string
		filter string
		nodes  int // node lists made
	}{
		{"--node", func(o *Options) { o.Nodes = []string{"n2"} }, []string{"default/web-a/app", "default/web-c/app"}, "--node n2 (client-side: kept 2 of 5 matched pods)", 0},
		{"--node twice", func(o *Options) { o.Nodes = []string{"n1", "n2", "n1"} }, []string{"default/web-a/app", "default/web-b/app", "default/web-c/app"}, "--node n1,n2", 0},
		{"--node-selector", func(o *Options) { o.NodeSelector = "zone=a" }, []string{"default/web-b/app"}, "--node-selector zone=a (client-side: kept", 1},
		{"--annotation", func(o *Options) { o.Annotations = []string{"chaos/ok=yes"} }, []string{"default/web-a/app", "default/web-b/app"}, "--annotation chaos/ok=yes", 0},
		{"all three", func(o *Options) {
			o.Nodes, o.NodeSelector, o.Annotations = []string{"n1", "n2"}, "zone=b", []string{"chaos/ok=yes"}
		}, []string{"default/web-a/app"}, "--node n1,n2 --node-selector zone=b --annotation chaos/ok=yes (client-side: kept 1 of 5", 1},
	}
	for _, tt := range tests {
		c := fake.NewClientset(objs...)
		o := opts("deploy/web")
		tt.set(&o)
		s, err := Resolve(context.Background(), c, o)
		if err != nil {
			t.Fatalf("%s: %v", tt.name, err)
		}
		if d := cmp.Diff(tt.want, names(s.Targets)); d != "" {
			t.Errorf("%s: targets (-want +got):\n%s", tt.name, d)
		}
		if len(s.Filters) != 1 || !strings.Contains(s.Filters[0], tt.filter) {
			t.Errorf("%s: Filters %q, want one containing %q", tt.name, s.Filters, tt.filter)
		}
		if got := calls(c)["list nodes"]; got != tt.nodes {
			t.Errorf("%s: %d node lists, want %d", tt.name, got, tt.nodes)
		}
	}
	// Filtered to nothing: the error says which filter.
	o := opts("deploy/web")
	o.Annotations = []string{"chaos/ok=no"}
	_, err := Resolve(context.Background(), fake.NewClientset(objs...), o)
	usageErr(t, err, "deploy/web matched 0 running pods in namespace default after --annotation chaos/ok=no")
	// No filter: no line.
	s, err := Resolve(context.Background(), fake.NewClientset(objs...), opts("deploy/web"))
	if err != nil || s.Filters != nil {
		t.Errorf("no filter: %v %q", err, s.Filters)
	}
}

func TestFilterValidation(t *testing.T) {
	for _, tt := range []struct {
		set  func(*Options)
		want string
	}{
		{func(o *Options) { o.Nodes = []string{"Bad_Node"} }, `--node "Bad_Node": not a node name`},
		{func(o *Options) { o.NodeSelector = "zone=(a" }, `--node-selector "zone=(a"`},
		{func(o *Options) { o.Annotations = []string{"novalue"} }, `--annotation "novalue": want KEY=VALUE`},
		{func(o *Options) { o.Annotations = []string{"=v"} }, `--annotation "=v": want KEY=VALUE`},
		{func(o *Options) { o.Annotations = []string{"bad key!=v"} }, `is not an annotation key`},
		{func(o *Options) { o.Mode = "random-max-percent=0" }, `--mode "random-max-percent=0"`},
		{func(o *Options) { o.Mode = "random-max-percent=101" }, `--mode "random-max-percent=101"`},
	} {
		o := opts("deploy/web")
		tt.set(&o)
		usageErr(t, o.Validate(), tt.want)
	}
}

// random-max-percent=P picks between 1 and ceil(P % of the matched pods), varying with
// the seed and reproducible by it.
func TestResolveRandomMaxPercent(t *testing.T) {
	counts := map[int]int{}
	for seed := int64(1); seed <= 60; seed++ {
		o := opts("deploy/web", "ds/ds", "rs/rs", "job/j") // 6 candidates
		o.Mode, o.Seed = "random-max-percent=50", seed
		s, err := Resolve(context.Background(), fake.NewClientset(fixture()...), o)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := Resolve(context.Background(), fake.NewClientset(fixture()...), o)
		if d := cmp.Diff(names(s.Targets), names(again.Targets)); d != "" {
			t.Fatalf("seed %d not reproducible:\n%s", seed, d)
		}
		counts[len(s.Targets)]++
	}
	// 50 % of 6 is 3: every count 1..3 appears over 60 seeds (each has p = 1/3; the
	// chance one is absent is 3·(2/3)^60 < 1e-10), none above.
	for n := 1; n <= 3; n++ {
		if counts[n] == 0 {
			t.Errorf("no seed picked %d pods: %v", n, counts)
		}
	}
	if len(counts) != 3 {
		t.Errorf("counts outside 1..3: %v", counts)
	}
}
