package session

import (
	"context"
	"fmt"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// LabelPSAEnforce is the Pod Security admission label that decides whether privileged
// helper pods are admitted in a namespace.
const LabelPSAEnforce = "pod-security.kubernetes.io/enforce"

func ensureNamespace(ctx context.Context, c kubernetes.Interface, ns *corev1.Namespace) error {
	name := ns.Name
	existing, err := c.CoreV1().Namespaces().Get(ctx, name, metav1.GetOptions{})
	switch {
	case err == nil:
		if lvl, ok := existing.Labels[LabelPSAEnforce]; ok && lvl != "privileged" {
			return exit.APIError(fmt.Errorf("helper namespace %s enforces Pod Security level %q, which rejects the privileged helper pods: "+
				"run kubectl label namespace %s %s=privileged --overwrite, or pass --helper-namespace to a namespace that allows privileged pods",
				name, lvl, name, LabelPSAEnforce))
		}
		return nil
	case apierrors.IsForbidden(err):
		// Many users may not read namespaces but may use one; try to create it and, if
		// that is refused too, let pod creation say what is wrong.
		if _, cerr := c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{}); cerr == nil || apierrors.IsAlreadyExists(cerr) || apierrors.IsForbidden(cerr) {
			return nil
		} else {
			return exit.APIError(fmt.Errorf("creating helper namespace %s: %w", name, cerr))
		}
	case !apierrors.IsNotFound(err):
		return exit.APIError(fmt.Errorf("reading helper namespace %s: %w", name, err))
	}
	_, err = c.CoreV1().Namespaces().Create(ctx, ns, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsForbidden(err):
		return exit.APIError(fmt.Errorf("you may not create namespace %s (RBAC): create it with label %s=privileged, or pass --helper-namespace to one you can use: %w",
			name, LabelPSAEnforce, err))
	}
	return exit.APIError(fmt.Errorf("creating helper namespace %s: %w", name, err))
}
