package rbac

import (
	"context"
	"fmt"
	"slices"
	"strings"

	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// Access is the API server's answer for one verb of one rule in one namespace ("" for
// cluster-scoped resources).
type Access struct {
	Group, Resource, Verb, Namespace string
	Allowed                          bool
	Reason                           string
}

// String names the permission the way RBAC errors do: "create pods/attach in ns".
func (a Access) String() string {
	s := a.Verb + " " + a.Resource
	if a.Group != "" {
		s = a.Verb + " " + a.Resource + "." + a.Group
	}
	if a.Namespace != "" {
		s += " in " + a.Namespace
	}
	return s
}

// Review asks the API server (SelfSubjectAccessReview) for every verb of Rules, the
// namespaced ones in each of namespaces (the targets' and the helpers'), and returns
// the answers in Rules order.
func Review(ctx context.Context, c kubernetes.Interface, namespaces ...string) ([]Access, error) {
	var nss []string
	for _, ns := range namespaces {
		if ns != "" && !slices.Contains(nss, ns) {
			nss = append(nss, ns)
		}
	}
	var out []Access
	for _, r := range Rules {
		scopes := nss
		if r.Cluster {
			scopes = []string{""}
		}
		res, sub, _ := strings.Cut(r.Resource, "/")
		for _, ns := range scopes {
			for _, v := range r.Verbs {
				a := Access{Group: r.Group, Resource: r.Resource, Verb: v, Namespace: ns}
				if r.Group == authzv1.GroupName && r.Resource == "selfsubjectaccessreviews" {
					a.Allowed = true // answering at all proves it
					out = append(out, a)
					continue
				}
				review := &authzv1.SelfSubjectAccessReview{Spec: authzv1.SelfSubjectAccessReviewSpec{
					ResourceAttributes: &authzv1.ResourceAttributes{Namespace: ns, Verb: v, Group: r.Group, Resource: res, Subresource: sub},
				}}
				got, err := c.AuthorizationV1().SelfSubjectAccessReviews().Create(ctx, review, metav1.CreateOptions{})
				if err != nil {
					return out, fmt.Errorf("asking the API server whether you may %s: %w", a, err)
				}
				a.Allowed, a.Reason = got.Status.Allowed, got.Status.Reason
				out = append(out, a)
			}
		}
	}
	return out, nil
}
