package app

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/rbac"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"sigs.k8s.io/yaml"
)

// Every API call a command makes in these tests is checked against the one list
// `kubectl chaos rbac` prints (internal/rbac): run and startLive call checkRBAC on the
// actions the fake clientset recorded while the command ran, and TestRBACEveryRuleIsUsed
// runs one command per use and fails on a rule no command needs.

var rbacSeen = struct {
	sync.Mutex
	m map[string]bool
}{m: map[string]bool{}}

func rbacKey(group, resource, verb string) string { return verb + " " + resource + "." + group }

// checkRBAC fails t for every action of c from index from on that rbac.Rules lacks.
func checkRBAC(t testing.TB, c *fake.Clientset, from int) {
	t.Helper()
	acts := c.Actions()
	if from > len(acts) {
		from = len(acts)
	}
	for _, a := range acts[from:] {
		res := a.GetResource().Resource
		if sub := a.GetSubresource(); sub != "" {
			res += "/" + sub
		}
		seen(t, a.GetResource().Group, res, a.GetVerb())
	}
}

func seen(t testing.TB, group, resource, verb string) {
	t.Helper()
	if !rbac.Allows(group, resource, verb) {
		t.Errorf("a command called %s %s (group %q), which internal/rbac.Rules (kubectl chaos rbac) lacks", verb, resource, group)
	}
	rbacSeen.Lock()
	rbacSeen.m[rbacKey(group, resource, verb)] = true
	rbacSeen.Unlock()
}

// recordingAttacher counts an attach as what the real attacher asks for (pods/attach).
type recordingAttacher struct {
	session.Attacher
	t testing.TB
}

func (r recordingAttacher) Attach(ctx context.Context, ns, pod, ctr string, stdin io.Reader, stdout io.Writer) error {
	seen(r.t, "", "pods/attach", "create")
	return r.Attacher.Attach(ctx, ns, pod, ctr, stdin, stdout)
}

// notSeenByFakes are rules the fake clientset cannot record, with the reason.
var notSeenByFakes = map[string]string{
	rbacKey("", "pods/attach", "get"): "the WebSocket upgrade of the real attacher (internal/session/attach.go) is a GET; the fake attacher makes no request",
}

func TestRBACEveryRuleIsUsed(t *testing.T) {
	rbacSeen.Lock()
	rbacSeen.m = map[string]bool{}
	rbacSeen.Unlock()

	// A live run: helper namespace, helper pods, attach, watch, delete.
	r := startLive(t, "noop", "deploy/web", "--duration", "1s", "--yes")
	if err := r.wait(t, 30e9); err != nil {
		t.Fatalf("noop run: %v\n%s", err, r.errOut.String())
	}
	checkRBAC(t, r.cs, 0)
	c := webCluster()
	node := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "node-a"}, Status: corev1.NodeStatus{
		Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}},
		Images:     []corev1.ContainerImage{{Names: []string{"registry.k8s.io/pause:3.10"}}},
	}}
	_, _ = c.CoreV1().Nodes().Create(context.Background(), node, metav1.CreateOptions{})
	finishSweeps(c)
	for _, args := range [][]string{
		{"network", "delay", "sts/db", "--latency", "10ms", "--dry-run"},
		{"network", "delay", "ds/agent", "--latency", "10ms", "--dry-run"},
		{"network", "delay", "rs/web-1", "--latency", "10ms", "--dry-run"},
		{"network", "delay", "job/batch", "--latency", "10ms", "--dry-run"},
		{"network", "delay", "svc/web", "--latency", "10ms", "--dry-run"},
		{"network", "partition", "pod/web-1", "--to", "svc/db", "--dry-run"},
		{"pod", "kill", "pod/web-1", "--yes"},
		{"pod", "failure", "pod/web-2", "--duration", "1m", "--dry-run"},
		{"noop-api", "pod/web-3", "--detach", "--yes", "--value", "v1"},
		{"stop", "--all", "--timeout", "2s"},
		{"ls"},
		{"doctor", "--timeout", "1s"},
		{"gc", "--all-nodes"},
		{"__complete", "network", "delay", "-n", ""},
		{"__complete", "network", "delay", "pod/"},
		{"__complete", "network", "delay", "deploy/"},
		{"__complete", "network", "delay", "sts/"},
		{"__complete", "network", "delay", "ds/"},
		{"__complete", "network", "delay", "rs/"},
		{"__complete", "network", "delay", "job/"},
		{"__complete", "network", "delay", "svc/"},
	} {
		if r := run(t, c, args...); r.err != nil { // errors (no such sts/db…) are fine: the call was made
			t.Logf("%v: %v", args, r.err)
		}
	}
	rbacSeen.Lock()
	defer rbacSeen.Unlock()
	for _, rule := range rbac.Rules {
		for _, v := range rule.Verbs {
			k := rbacKey(rule.Group, rule.Resource, v)
			if !rbacSeen.m[k] && notSeenByFakes[k] == "" {
				t.Errorf("rbac.Rules grants %s but no command in this test calls it: drop it, or add the command that needs it here", k)
			}
		}
	}
}

func TestRBACCommand(t *testing.T) {
	r := run(t, nil, "rbac", "--bind", "user:alice", "--bind", "serviceaccount:ci:runner")
	if r.err != nil || r.calls != 0 {
		t.Fatalf("rbac: %v (client calls %d)", r.err, r.calls)
	}
	docs := strings.Split(r.out, "\n---\n")
	if len(docs) != 2 {
		t.Fatalf("want a ClusterRole and a binding:\n%s", r.out)
	}
	var role struct {
		Kind  string
		Rules []struct{ APIGroups, Resources, Verbs []string }
	}
	if err := yaml.Unmarshal([]byte(docs[0]), &role); err != nil {
		t.Fatal(err)
	}
	if role.Kind != "ClusterRole" || len(role.Rules) != len(rbac.Rules) {
		t.Fatalf("role: %+v", role)
	}
	for i, pr := range role.Rules {
		if pr.Resources[0] != rbac.Rules[i].Resource || !slices.Equal(pr.Verbs, rbac.Rules[i].Verbs) {
			t.Errorf("rule %d: %+v, want %+v", i, pr, rbac.Rules[i])
		}
	}
	for _, want := range []string{"kind: ClusterRoleBinding", "name: alice", "kind: ServiceAccount", "namespace: ci", "name: kubectl-chaos-user"} {
		if !strings.Contains(docs[1], want) {
			t.Errorf("binding lacks %q:\n%s", want, docs[1])
		}
	}
	for _, bad := range [][]string{{"--bind", "alice"}, {"--bind", "serviceaccount:ci"}, {"--name", "Bad_Name"}} {
		if r := run(t, nil, append([]string{"rbac"}, bad...)...); r.err == nil || !strings.Contains(r.err.Error(), bad[0]) {
			t.Errorf("rbac %v: %v, want a usage error naming %s", bad, r.err, bad[0])
		}
	}
}
