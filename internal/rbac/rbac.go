// Package rbac is the one list of what kubectl-chaos asks the API server for: every
// resource and verb a command calls. `kubectl chaos rbac` prints it as a ClusterRole,
// `kubectl chaos doctor` checks it with SelfSubjectAccessReviews, and the CLI tests
// (internal/app) fail when a command makes a call this list does not hold, or when a
// rule here is used by no command.
package rbac

import (
	"fmt"
	"slices"
	"strings"

	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Rule is one resource of one API group with the verbs the tool calls on it.
type Rule struct {
	Group    string // API group; "" is the core group
	Resource string // plural, "pods/attach" for a subresource
	Verbs    []string
	// Cluster is set for cluster-scoped resources (no namespace in the request).
	Cluster bool
	// Why says which commands call it, printed as a comment above the rule.
	Why string
}

// Rules is every call the CLI makes, by resource. Keep it minimal: the app tests fail
// on an entry no command uses.
var Rules = []Rule{
	{Resource: "pods", Verbs: []string{"get", "list", "watch", "create", "delete", "patch"},
		Why: "targets (get, list), helper pods (create, watch, delete), ls/status/stop/gc (list), pod kill (delete), pod failure (patch)"},
	{Resource: "pods/attach", Verbs: []string{"get", "create"},
		Why: "the session attaches to each helper: WebSocket (GET) with the SPDY fallback (POST)"},
	{Resource: "events", Verbs: []string{"create"},
		Why: "Kubernetes Events on target pods (ChaosInjected, ChaosRecovered, ChaosFailed): fault verbs, run, and ls/gc for a CLI that died (--events=false: none)"},
	{Resource: "namespaces", Verbs: []string{"get", "list", "create"}, Cluster: true,
		Why: "the helper namespace (get, create if missing; its Pod Security level), namespace completion (list)"},
	{Resource: "nodes", Verbs: []string{"get", "list"}, Cluster: true,
		Why: "gc's node sweep (list), pod failure's pause image and doctor (get)"},
	{Resource: "services", Verbs: []string{"get", "list"},
		Why: "svc/NAME targets and --to svc/NAME peers (get), completion (list)"},
	{Group: "apps", Resource: "deployments", Verbs: []string{"get", "list"}, Why: "deploy/NAME targets and peers (get), completion (list)"},
	{Group: "apps", Resource: "statefulsets", Verbs: []string{"get", "list"}, Why: "sts/NAME targets and peers (get), completion (list)"},
	{Group: "apps", Resource: "daemonsets", Verbs: []string{"get", "list"}, Why: "ds/NAME targets and peers (get), completion (list)"},
	{Group: "apps", Resource: "replicasets", Verbs: []string{"get", "list"}, Why: "rs/NAME targets and peers (get), completion (list)"},
	{Group: "batch", Resource: "jobs", Verbs: []string{"get", "list"}, Why: "job/NAME targets and peers (get), completion (list)"},
	{Group: "authorization.k8s.io", Resource: "selfsubjectaccessreviews", Verbs: []string{"create"}, Cluster: true,
		Why: "doctor asks the API server which of these rules you have"},
}

// Allows reports whether Rules hold verb on resource (with "/subresource") of group.
func Allows(group, resource, verb string) bool {
	for _, r := range Rules {
		if r.Group == group && r.Resource == resource && slices.Contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

// Name is the default name of the printed ClusterRole and its binding.
const Name = "kubectl-chaos-user"

// ClusterRole returns Rules as one ClusterRole named name: the tool reads nodes and
// namespaces (cluster-scoped) and lists pods of every namespace (ls, gc), so a
// namespaced Role alone cannot hold it.
func ClusterRole(name string) *rbacv1.ClusterRole {
	cr := &rbacv1.ClusterRole{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRole"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "kubectl-chaos"}},
	}
	for _, r := range Rules {
		cr.Rules = append(cr.Rules, rbacv1.PolicyRule{
			APIGroups: []string{r.Group}, Resources: []string{r.Resource}, Verbs: slices.Clone(r.Verbs),
		})
	}
	return cr
}

// Subject parses user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME.
func Subject(s string) (rbacv1.Subject, error) {
	kind, rest, ok := strings.Cut(s, ":")
	if ok && rest != "" {
		switch kind {
		case "user":
			return rbacv1.Subject{Kind: rbacv1.UserKind, APIGroup: rbacv1.GroupName, Name: rest}, nil
		case "group":
			return rbacv1.Subject{Kind: rbacv1.GroupKind, APIGroup: rbacv1.GroupName, Name: rest}, nil
		case "serviceaccount", "sa":
			if ns, name, ok := strings.Cut(rest, ":"); ok && ns != "" && name != "" {
				return rbacv1.Subject{Kind: rbacv1.ServiceAccountKind, Namespace: ns, Name: name}, nil
			}
		}
	}
	return rbacv1.Subject{}, fmt.Errorf("--bind %q: want user:NAME, group:NAME or serviceaccount:NAMESPACE:NAME", s)
}

// Binding returns the ClusterRoleBinding of role name to subjects.
func Binding(name string, subjects []rbacv1.Subject) *rbacv1.ClusterRoleBinding {
	return &rbacv1.ClusterRoleBinding{
		TypeMeta:   metav1.TypeMeta{APIVersion: "rbac.authorization.k8s.io/v1", Kind: "ClusterRoleBinding"},
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app.kubernetes.io/name": "kubectl-chaos"}},
		RoleRef:    rbacv1.RoleRef{APIGroup: rbacv1.GroupName, Kind: "ClusterRole", Name: name},
		Subjects:   subjects,
	}
}
