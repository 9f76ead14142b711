//go:build e2e

package e2e

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// clusterObjects is a snapshot of what a command could create: every pod and
// namespace in the cluster.
func clusterObjects(t *testing.T) string {
	t.Helper()
	return kubectl(t, "get", "pods,namespaces", "-A", "-o", `jsonpath={range .items[*]}{.kind}/{.metadata.namespace}/{.metadata.name}{"\n"}{end}`)
}

// watchNoHelper fails the test if a helper pod shows up while f runs (a pod created
// and deleted again within the command would not show in before/after snapshots).
func watchNoHelper(t *testing.T, f func()) {
	t.Helper()
	stop := make(chan struct{})
	seen := make(chan string, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(seen)
				return
			default:
			}
			r := run(t, 30*time.Second, nil, "kubectl", "get", "pods", "-A", "-l", "app.kubernetes.io/managed-by=kubectl-chaos", "-o", "name")
			if strings.TrimSpace(r.Stdout) != "" {
				seen <- r.Stdout
				<-stop
				close(seen)
				return
			}
			time.Sleep(50 * time.Millisecond)
		}
	}()
	f()
	close(stop)
	if s, ok := <-seen; ok && s != "" {
		t.Errorf("a helper pod was created: %s", s)
	}
}

func TestDryRunCreatesNothing(t *testing.T) {
	sc := newScenario(t)
	sc.Echo("web", 1)
	before := clusterObjects(t)
	sc.Snapshot()
	var r result
	watchNoHelper(t, func() {
		r = sc.Chaos("network", "loss", "deploy/web", "--percent", "30", "--dry-run", "-o", "yaml")
	})
	if r.Code != 0 {
		t.Fatalf("--dry-run: %s", r)
	}
	for _, want := range []string{"web-", "e2e-node", "loss"} {
		if !strings.Contains(r.Stdout, want) {
			t.Errorf("dry-run plan does not mention %q:\n%s", want, r.Stdout)
		}
	}
	if after := clusterObjects(t); after != before {
		added, removed := diffLines(strings.Fields(before), strings.Fields(after))
		t.Errorf("--dry-run changed the cluster: added %v removed %v", added, removed)
	}
	sc.EndWithin(5*time.Second, 5*time.Second)
	// The human form prints too.
	if h := sc.Chaos("network", "loss", "deploy/web", "--percent", "30", "--dry-run"); h.Code != 0 || h.Stdout == "" {
		t.Errorf("--dry-run (human): %s", h)
	}
}

// Refusals happen before anything is created, exit 1, and name the way out.
func TestRefusals(t *testing.T) {
	sc := newScenario(t)
	ns := sc.NS
	sc.Echo("web", 3)
	// a pod in kube-system and a hostNetwork pod (pause: it opens no port)
	for _, m := range []string{
		fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"e2e-sys","namespace":"kube-system","labels":{"app":"e2e-sys"}},"spec":{"terminationGracePeriodSeconds":1,"automountServiceAccountToken":false,"containers":[{"name":"p","image":%q,"imagePullPolicy":"Never"}]}}`, pauseImage),
		fmt.Sprintf(`{"apiVersion":"v1","kind":"Pod","metadata":{"name":"hostnet","namespace":%q,"labels":{"app":"hostnet"}},"spec":{"hostNetwork":true,"terminationGracePeriodSeconds":1,"automountServiceAccountToken":false,"containers":[{"name":"p","image":%q,"imagePullPolicy":"Never"}]}}`, ns, pauseImage),
	} {
		kubectlIn(t, m, "apply", "-f", "-")
	}
	t.Cleanup(func() {
		_ = run(t, time.Minute, nil, "kubectl", "-n", "kube-system", "delete", "pod", "e2e-sys", "--wait=false")
	})
	kubectl(t, "-n", "kube-system", "wait", "pod/e2e-sys", "--for=condition=Ready", "--timeout=60s")
	kubectl(t, "-n", ns, "wait", "pod/hostnet", "--for=condition=Ready", "--timeout=60s")

	before := clusterObjects(t)
	cases := []struct {
		name string
		args []string
		want []string // each: one of the |-separated words appears in stderr
	}{
		{"kube-system", []string{"pod/e2e-sys", "-n", "kube-system"}, []string{"kube-system", "--allow-system"}},
		{"hostNetwork", []string{"pod/hostnet", "-n", ns}, []string{"host", "--allow-host-network"}},
		{"too many targets", []string{"deploy/web", "-n", ns, "--max-targets", "2"}, []string{"--max-targets", "3"}},
		{"bad percent", []string{"deploy/web", "-n", ns, "--percent", "101"}, []string{"--percent"}},
		{"no such deployment", []string{"deploy/nope", "-n", ns}, []string{"nope"}},
	}
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "-"), func(t *testing.T) {
			args := append([]string{"network", "loss"}, c.args...)
			if !contains(c.args, "--percent") {
				args = append(args, "--percent", "30")
			}
			var r result
			watchNoHelper(t, func() { r = chaos(t, args...) })
			if r.Code == 0 {
				t.Fatalf("not refused: %s", r)
			}
			if c.name != "no such deployment" && r.Code != 1 {
				t.Errorf("exit code %d, want 1 (usage/validation)\n%s", r.Code, r)
			}
			for _, w := range c.want {
				if !strings.Contains(r.Stderr, w) {
					t.Errorf("message does not mention %q:\n%s", w, r.Stderr)
				}
			}
			t.Logf("refused in %v: %s", r.Took.Round(time.Millisecond), strings.TrimSpace(r.Stderr))
		})
	}
	if after := clusterObjects(t); after != before {
		added, removed := diffLines(strings.Fields(before), strings.Fields(after))
		t.Errorf("a refused command changed the cluster: added %v removed %v", added, removed)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// A user who may read pods but not create them gets a message that says so.
func TestNoRBAC(t *testing.T) {
	sc := newScenario(t)
	ns := sc.NS
	sc.Echo("web", 1)
	kubectl(t, "-n", ns, "create", "serviceaccount", "viewer")
	kubectl(t, "create", "clusterrole", "e2e-viewer", "--verb=get,list,watch", "--resource=pods,deployments,replicasets,namespaces,services")
	t.Cleanup(func() {
		_ = run(t, time.Minute, nil, "kubectl", "delete", "clusterrole", "e2e-viewer", "--ignore-not-found")
		_ = run(t, time.Minute, nil, "kubectl", "delete", "clusterrolebinding", "e2e-viewer", "--ignore-not-found")
	})
	kubectl(t, "create", "clusterrolebinding", "e2e-viewer", "--clusterrole=e2e-viewer", "--serviceaccount="+ns+":viewer")
	cfg := tokenKubeconfig(t, ns, "viewer")
	before := clusterObjects(t)
	var r result
	watchNoHelper(t, func() {
		r = run(t, 2*time.Minute, []string{"KUBECONFIG=" + cfg}, "kubectl",
			chaosArgs("network", "loss", "deploy/web", "--percent", "30", "--duration", "1m")...)
	})
	t.Logf("as an RBAC-less user: %s", r)
	if r.Code == 0 {
		t.Fatalf("a user without RBAC to create pods succeeded")
	}
	if r.Code != 2 {
		t.Errorf("exit code %d, want 2 (cluster/API error)", r.Code)
	}
	msg := strings.ToLower(r.Stderr)
	if !strings.Contains(msg, "forbidden") && !strings.Contains(msg, "not allowed") && !strings.Contains(msg, "rbac") && !strings.Contains(msg, "permission") {
		t.Errorf("the message does not say the user lacks the permission:\n%s", r.Stderr)
	}
	if !strings.Contains(msg, "create") {
		t.Errorf("the message does not say what may not be done (create pods/namespaces):\n%s", r.Stderr)
	}
	if after := clusterObjects(t); after != before {
		added, removed := diffLines(strings.Fields(before), strings.Fields(after))
		t.Errorf("cluster changed: added %v removed %v", added, removed)
	}
}
