// Package pod is the pod fault family, done through the Kubernetes API alone (no
// helper pod): `pod kill` deletes target pods once, `pod failure` makes every
// container of the target pods run the node's pause (sandbox) image for a while and
// then their own images again, as Chaos Mesh's PodChaos does. The undo record of a
// pod failure (the original images) lives on the pod itself, so `kubectl chaos stop`
// and `gc` restore it after the CLI died.
package pod

import (
	"context"
	"fmt"
	"regexp"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits and bounds.
const (
	// MaxGracePeriod bounds --grace-period (seconds).
	MaxGracePeriod = 3600
	// ReplacementTimeout bounds how long `pod kill --wait` follows the replacement.
	ReplacementTimeout = 5 * time.Minute
	// RestoreTimeout bounds how long a restored pod is followed until its containers
	// run their own images again.
	RestoreTimeout = 2 * time.Minute
)

// NoDetachReason is why `pod failure --detach` is refused.
const NoDetachReason = "pod failure cannot be detached: nothing in the cluster would put the pods' images back at the deadline " +
	"without this command (gc only restores them when someone runs it); use `kubectl chaos container pause --detach`, " +
	"whose helper pod thaws the container on time by itself"

func init() {
	catalog.Register(catalog.Kind[*plan.Pod]{
		Name:     plan.KindPod,
		Validate: Validate,
		Describe: Describe,
		Details:  details,
		Scope:    "one request per target pod through the API server; no helper pod",
		API:      &catalog.API[*plan.Pod]{Inject: inject, Undo: undo, Restore: restore},
		Check:    check,
		Follow:   follow,
		OneShot:  func(p *plan.Pod) bool { return p.Action == plan.PodKill },
		NoDetach: func(p *plan.Pod) string {
			if p.Action == plan.PodFailure {
				return NoDetachReason
			}
			return ""
		},
	})
}

// imageRef is a loose image reference check: [registry/]path[:tag][@digest]. Compiled
// on first use: {0,127} makes a large program, and a package-level MustCompile ran at
// every start of the binary (2.3 ms of ≈35 ms of package inits; issue 17, CLI start).
var imageRef = sync.OnceValue(func() *regexp.Regexp {
	return regexp.MustCompile(`^[a-z0-9]+([._-][a-z0-9]+)*(:[0-9]+)?(/[a-z0-9]+([._-][a-z0-9]+)*)*(:[A-Za-z0-9_][A-Za-z0-9_.-]{0,127})?(@sha256:[a-f0-9]{64})?$`)
})

// Validate checks a pod fault spec; errors name the flag and the accepted range.
func Validate(p *plan.Pod) error {
	switch p.Action {
	case plan.PodKill:
		if p.PauseImage != "" || len(p.PauseImages) > 0 {
			return fmt.Errorf("--pause-image applies to pod failure, not kill")
		}
		if p.Force && p.GracePeriodSeconds != nil {
			return fmt.Errorf("--grace-period and --force exclude each other (--force is grace period 0: the pod object goes at once)")
		}
		if g := p.GracePeriodSeconds; g != nil && (*g < 1 || *g > MaxGracePeriod) {
			return fmt.Errorf("--grace-period must be between 1 and %d seconds (0 is --force), got %d", MaxGracePeriod, *g)
		}
		return nil
	case plan.PodFailure:
		if p.Force || p.GracePeriodSeconds != nil || p.Wait {
			return fmt.Errorf("--grace-period, --force and --wait apply to pod kill, not failure")
		}
		if p.PauseImage != "" && !imageRef().MatchString(p.PauseImage) {
			return fmt.Errorf("--pause-image must be an image reference like registry.k8s.io/pause:3.10, got %q", p.PauseImage)
		}
		for node, img := range p.PauseImages {
			if !imageRef().MatchString(img) {
				return fmt.Errorf("pause image of node %s: %q is not an image reference", node, img)
			}
		}
		return nil
	}
	return fmt.Errorf("pod fault action %q: want %s or %s", p.Action, plan.PodKill, plan.PodFailure)
}

// Describe is the request the fault makes on each target pod and how it is undone.
func Describe(p *plan.Pod) []plan.Object {
	if p.Action == plan.PodKill {
		grace := "the pod's own terminationGracePeriodSeconds"
		switch {
		case p.Force:
			grace = "0 (--force: the pod object goes at once, without waiting for the kubelet)"
		case p.GracePeriodSeconds != nil:
			grace = fmt.Sprintf("%ds", *p.GracePeriodSeconds)
		}
		return []plan.Object{{Kind: "api-call",
			Spec:   "DELETE pod (precondition: its UID; grace period " + grace + ")",
			Remove: "nothing to undo: the pod's controller creates a replacement; a pod without one stays gone"}}
	}
	return []plan.Object{{Kind: "api-call",
		Spec: "PATCH pod (strategic merge): every container's image -> " + pauseImageText(p) +
			"; the kubelet restarts each container in it",
		Remove: "PATCH pod: each container still on the pause image back to its own image, from the undo record; " +
			"the kubelet restarts each container again"}}
}

func pauseImageText(p *plan.Pod) string {
	if p.PauseImage != "" {
		return p.PauseImage
	}
	if imgs := distinct(p.PauseImages); len(imgs) == 1 {
		return imgs[0] + " (the nodes' pause image)"
	}
	return "the pause image each target's node lists in its status"
}

func distinct(m map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, v := range m {
		if !seen[v] {
			seen[v] = true
			out = append(out, v)
		}
	}
	sort.Strings(out)
	return out
}

// details are the dry-run header lines.
func details(p *plan.Pod) []catalog.Detail {
	if p.Action == plan.PodKill {
		if p.Wait {
			return []catalog.Detail{{Name: "Wait", Value: fmt.Sprintf(
				"follows each pod's controller until its replacement is Ready (at most %s) and reports the time", ReplacementTimeout)}}
		}
		return nil
	}
	var d []catalog.Detail
	if len(p.PauseImages) > 0 {
		var nodes []string
		for n, img := range p.PauseImages {
			nodes = append(nodes, n+": "+img)
		}
		sort.Strings(nodes)
		d = append(d, catalog.Detail{Name: "Pause image", Value: strings.Join(nodes, ", ") + " (from each node's status)"})
	}
	return append(d, catalog.Detail{Name: "Restarts", Value: "each image change restarts the container: its restart count goes up by at least 2 and cannot be restored"})
}

// check refuses what the action cannot do to these pods and completes the spec.
func check(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, p *plan.Pod) ([]string, error) {
	if p.Action == plan.PodKill {
		return checkKill(pods, p)
	}
	return checkFailure(ctx, c, pods, p)
}

func follow(ctx context.Context, c kubernetes.Interface, pod *corev1.Pod, _ string, p *plan.Pod) (catalog.FollowFunc, error) {
	if p.Action == plan.PodKill {
		if !p.Wait {
			return nil, nil
		}
		return followReplacement(ctx, c, pod)
	}
	return followRestore(c, pod), nil
}
