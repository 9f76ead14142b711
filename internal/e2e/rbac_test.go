//go:build e2e

package e2e

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/rbac"
)

// tokenKubeconfig is a kubeconfig for the cluster as service account ns/sa (a token
// valid 10 minutes), in the test's temporary directory.
func tokenKubeconfig(t *testing.T, ns, sa string) string {
	t.Helper()
	token := strings.TrimSpace(kubectl(t, "-n", ns, "create", "token", sa, "--duration=10m"))
	server := kubectl(t, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.server}")
	ca := kubectl(t, "config", "view", "--minify", "-o", "jsonpath={.clusters[0].cluster.certificate-authority}")
	cfg := filepath.Join(t.TempDir(), sa+".kubeconfig")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf(`apiVersion: v1
kind: Config
clusters: [{name: c, cluster: {server: %q, certificate-authority: %q}}]
users: [{name: %s, user: {token: %q}}]
contexts: [{name: c, context: {cluster: c, user: %s, namespace: %q}}]
current-context: c
`, server, ca, sa, token, sa, ns)), 0o600); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// rbacScenario is the small scenario the bound user runs: one short loss step.
const rbacScenario = `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata: {name: rbac}
spec:
  duration: 60s
  namespace: %[1]s
  steps:
  - name: loss
    fault: {verb: network loss, targets: deploy/web, percent: 100, loss-backend: nft, duration: 2s, runtime-socket: %[2]s, image-pull-policy: Never}
`

// rbacDenial is one rule of `kubectl chaos rbac` taken away and a command that needs it.
type rbacDenial struct {
	group, resource string
	args            []string // kubectl chaos ARGS (session flags added when sess)
	sess            bool
	want            []string // the message names the permission: verb and resource
}

// TestRBACMinimalRole: a service account bound to exactly what `kubectl chaos rbac`
// prints runs every verb family (network loss measured by a UDP client, pod kill,
// container kill, stress, ls, gc, doctor, run, --dry-run); with one rule of it taken
// away (three in turn: each checked by kubectl auth can-i before the command runs) the
// command that needs it exits 2 naming the permission, and creates nothing.
func TestRBACMinimalRole(t *testing.T) {
	sc := newScenario(t)
	ns := sc.NS
	ip := sc.Echo("web", 2)[0]
	kubectl(t, "-n", ns, "create", "serviceaccount", "chaos-user")
	name := "e2e-rbac-ux3"
	printed := chaosPlain(t, nil, "rbac", "--name", name, "--bind", "serviceaccount:"+ns+":chaos-user")
	if printed.Code != 0 {
		t.Fatalf("kubectl chaos rbac: %s", printed)
	}
	t.Cleanup(func() {
		_ = run(t, time.Minute, nil, "kubectl", "delete", "clusterrole,clusterrolebinding", name, "--ignore-not-found")
	})
	kubectlIn(t, printed.Stdout, "apply", "-f", "-")
	user := "system:serviceaccount:" + ns + ":chaos-user"
	canI(t, user, ns, "create", "pods/attach", "", true)
	env := []string{"KUBECONFIG=" + tokenKubeconfig(t, ns, "chaos-user")}
	sc.ReplacesPods() // pod kill: the replacement has a sandbox (netns) of its own
	sc.Snapshot()

	start := time.Now()
	rbacAllowed(sc, env, ip)
	t.Logf("every verb family as the bound user: %v", time.Since(start).Round(time.Millisecond))
	waitNoHelpers(t, 30*time.Second)

	denials := []rbacDenial{
		{"apps", "deployments", []string{"network", "loss", "deploy/web", "--percent", "100", "--duration", "5s", "-n", ns}, true,
			[]string{"forbidden", "get deployments"}},
		{"", "pods", []string{"ls"}, false, []string{"forbidden", "list pods"}},
		{"", "nodes", []string{"doctor"}, false, []string{"forbidden", "list nodes"}},
	}
	for _, d := range denials {
		t.Run("without "+d.resource, func(t *testing.T) { rbacDenied(t, d, name, user, ns, env, printed.Stdout) })
	}
	sc.End()
}

// rbacAllowed runs every verb family as the user env names; each must succeed.
func rbacAllowed(sc *scenario, env []string, ip string) {
	t := sc.t
	ns := sc.NS
	as := func(timeout time.Duration, sess bool, args ...string) result {
		t.Helper()
		a := append([]string{"chaos"}, args...)
		if sess {
			a = chaosArgs(args...)
		}
		r := run(t, timeout, env, "kubectl", a...)
		t.Logf("as the bound user: kubectl chaos %s -> exit %d in %v", strings.Join(args, " "), r.Code, r.Took.Round(time.Millisecond))
		if r.Code != 0 {
			t.Fatalf("a user bound to exactly the printed role could not run kubectl chaos %s: %s", strings.Join(args, " "), r)
		}
		return r
	}
	// A network fault, measured: the UDP client sees the loss start and end.
	s := newStream(t, ip)
	from := time.Now()
	as(2*time.Minute, true, "network", "loss", "pod/"+podOn(t, ns, ip), "--percent", "100", "--loss-backend", "nft", "--duration", "3s", "-n", ns)
	time.Sleep(300 * time.Millisecond)
	s.close()
	lost, ok := s.firstLost(from)
	if !ok {
		t.Fatalf("network loss as the bound user: the UDP client never lost 50 datagrams in a row")
	}
	back, ok := s.firstAnswered(lost)
	if !ok {
		t.Fatalf("network loss as the bound user: no answer after the loss started at %v", lost)
	}
	t.Logf("network loss as the bound user: 100%% loss for %v (fault 3s)", back.Sub(lost).Round(time.Millisecond))

	if r := as(2*time.Minute, true, "network", "loss", "deploy/web", "--percent", "10", "--dry-run", "-n", ns); !strings.Contains(r.Stdout+r.Stderr, "helper") {
		t.Errorf("--dry-run does not show the helper pod:\n%s", r)
	}
	pods := podNames(t, ns, "app=web")
	restarts, _ := restartCount(t, ns, pods[0], "echo")
	as(2*time.Minute, true, "container", "kill", "pod/"+pods[0], "--signal", "KILL", "-n", ns)
	until(t, "the killed container restarted", 60*time.Second, paced(200*time.Millisecond, func() int {
		n, _ := restartCount(t, ns, pods[0], "echo")
		return n
	}), func(n int) bool { return n > restarts })
	as(2*time.Minute, true, "stress", "cpu", "pod/"+pods[0], "--workers", "1", "--load", "20", "--duration", "2s", "-n", ns)
	as(2*time.Minute, true, "pod", "kill", "pod/"+pods[1], "--grace-period", "2", "-n", ns)
	until(t, "the killed pod gone", 60*time.Second, paced(200*time.Millisecond, func() []string {
		return podNames(t, ns, "app=web")
	}), func(now []string) bool { return !contains(now, pods[1]) })

	file := filepath.Join(t.TempDir(), "rbac.yaml")
	if err := os.WriteFile(file, []byte(fmt.Sprintf(rbacScenario, ns, runtimeSocket)), 0o644); err != nil {
		t.Fatal(err)
	}
	as(2*time.Minute, false, "run", file, "--yes")
	as(time.Minute, false, "ls")
	as(time.Minute, false, "gc")
	if r := as(2*time.Minute, false, "doctor", "--runtime-socket", runtimeSocket, "--image-pull-policy", "Never"); !strings.Contains(r.Stdout, "you have every permission") {
		t.Errorf("doctor as the bound user does not find every permission:\n%s", r)
	}
}

// podOn is the name of the pod of ns with IP ip.
func podOn(t *testing.T, ns, ip string) string {
	t.Helper()
	out := kubectl(t, "-n", ns, "get", "pods", "--field-selector", "status.podIP="+ip, "-o", "jsonpath={.items[0].metadata.name}")
	if strings.TrimSpace(out) == "" {
		t.Fatalf("no pod with IP %s in %s", ip, ns)
	}
	return strings.TrimSpace(out)
}

// canI waits until the API server's authorizer answers want for user (kubectl auth
// can-i, impersonating): role changes reach it through an informer.
func canI(t *testing.T, user, ns, verb, resource, group string, want bool) {
	t.Helper()
	res := resource
	if group != "" {
		res += "." + group
	}
	until(t, fmt.Sprintf("can-i %s %s = %v for %s", verb, res, want, user), 30*time.Second, paced(100*time.Millisecond, func() bool {
		r := run(t, 30*time.Second, nil, "kubectl", "auth", "can-i", verb, res, "-n", ns, "--as", user)
		return strings.TrimSpace(r.Stdout) == "yes"
	}), func(got bool) bool { return got == want })
}

// rbacDenied takes d's rule out of the applied role, runs d's command as the user,
// wants exit 2 naming the permission and no object created, and puts the rule back.
func rbacDenied(t *testing.T, d rbacDenial, role, user, ns string, env []string, printed string) {
	idx := -1
	for i, r := range rbac.Rules {
		if r.Group == d.group && r.Resource == d.resource {
			idx = i
		}
	}
	if idx < 0 {
		t.Fatalf("kubectl chaos rbac has no rule for %s %q", d.resource, d.group)
	}
	if got := kubectl(t, "get", "clusterrole", role, "-o", fmt.Sprintf("jsonpath={.rules[%d].resources[0]}", idx)); got != d.resource {
		t.Fatalf("rule %d of the applied role is %q, not %s", idx, got, d.resource)
	}
	kubectl(t, "patch", "clusterrole", role, "--type=json", "-p", fmt.Sprintf(`[{"op":"remove","path":"/rules/%d"}]`, idx))
	defer func() {
		kubectlIn(t, printed, "apply", "-f", "-")
		canI(t, user, ns, rbac.Rules[idx].Verbs[0], d.resource, d.group, true)
	}()
	canI(t, user, ns, rbac.Rules[idx].Verbs[0], d.resource, d.group, false)
	before := clusterObjects(t)
	var r result
	watchNoHelper(t, func() {
		a := append([]string{"chaos"}, d.args...)
		if d.sess {
			a = chaosArgs(d.args...)
		}
		r = run(t, 2*time.Minute, env, "kubectl", a...)
	})
	t.Logf("without the %s rule: kubectl chaos %s -> %s", d.resource, strings.Join(d.args, " "), r)
	if r.Code != 2 {
		t.Errorf("exit %d, want 2 (cluster/API error)", r.Code)
	}
	for _, w := range d.want {
		if !strings.Contains(r.Stderr, w) {
			t.Errorf("the message does not name the missing permission (%q):\n%s", w, r.Stderr)
		}
	}
	if after := clusterObjects(t); after != before {
		added, removed := diffLines(strings.Fields(before), strings.Fields(after))
		t.Errorf("cluster changed: added %v removed %v", added, removed)
	}
}
