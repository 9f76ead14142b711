package session

// Warm helpers (docs/agent.md, "Warm helpers"): serving helpers that kubectl chaos warm
// starts ahead of the fault commands, so a fault command skips the pod's start (≈0.9 s
// of kubelet, sandbox and container start) and sends its plan line to a helper that is
// already listening. The pool (pool.go) runs them: Warm marks its helpers' plans, Adopt
// hands it helpers already running instead of creating any, Detach leaves them serving.

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// WarmHelper is a warm helper pod and the step key its plan's stepKey is the hash of.
type WarmHelper struct {
	Pod *corev1.Pod
	Key string
}

// adopt makes the pool's view of warm helpers already running.
func (r *runner) adopt(hs []WarmHelper) {
	for _, wh := range hs {
		h := newHelper(wh.Pod)
		r.helpers = append(r.helpers, h)
		r.byName[h.name] = h
		r.serve.adopted[h] = wh.Key
	}
	if len(hs) > 0 {
		r.exp = hs[0].Pod.Labels[plan.LabelExperiment]
	}
}

// adopting: the pool's helpers are adopted warm ones.
func (r *runner) adopting() bool { return r.serve != nil && len(r.serve.adopted) > 0 }

// watchSelector selects the helper pods the session follows: its experiment's, or, for
// adopted warm helpers (of several warm commands, maybe), every warm helper.
func (r *runner) watchSelector() labels.Set {
	if r.adopting() {
		return labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelWarm: "true"}
	}
	return labels.Set{plan.LabelManagedBy: plan.ManagedByValue, plan.LabelExperiment: r.exp}
}

// warmBeats writes the heartbeat line of each step on a warm helper: the step's own
// dead-man switch (plan.WarmStepTimeout without one and the agent recovers the step).
func (r *runner) warmBeats(h *helper) {
	if r.serve == nil || !r.serve.warm {
		return
	}
	for id, st := range r.serve.steps {
		if st.nodes[h.node] {
			r.send(h.att, plan.StdinHeartbeat+" "+id)
		}
	}
}

// Warm starts a serving helper on each node and returns once every agent answered over
// an attach (its "serving" heartbeat event), or with the first failure. Detach then
// leaves them serving; Close stops and deletes them (a failed warm-up).
func (p *Pool) Warm(ctx context.Context, nodes []string) ([]WarmHelper, error) {
	var err error
	hs := make([]*helper, len(nodes))
	p.call(func(r *runner) {
		for i, node := range nodes {
			if hs[i], err = r.helperFor(node); err != nil {
				return
			}
		}
	})
	if err != nil {
		return nil, err
	}
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	ready := time.NewTimer(p.r.o.ReadyTimeout)
	defer ready.Stop()
	for {
		var out []WarmHelper
		var why string
		if !p.call(func(r *runner) { out, why = r.warmReady(hs) }) {
			return nil, fmt.Errorf("the warm helpers' session ended: %v", p.err)
		}
		switch {
		case why != "":
			return nil, fmt.Errorf("%s", why)
		case out != nil:
			return out, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-ready.C:
			return nil, fmt.Errorf("the warm helpers did not answer within %s; see kubectl chaos ls", p.r.o.ReadyTimeout)
		case <-tick.C:
		}
	}
}

// warmReady (on the loop's goroutine): the helpers when each agent's event came
// through an attach, else nil; why says a helper that failed.
func (r *runner) warmReady(hs []*helper) ([]WarmHelper, string) {
	if len(r.fatal) > 0 {
		return nil, r.fatal[0]
	}
	out := make([]WarmHelper, 0, len(hs))
	for _, h := range hs {
		if h.done {
			why := h.err
			if why == "" {
				why = "its agent exited"
			}
			return nil, fmt.Sprintf("warm helper %s on node %s ended (%s)", h.name, h.node, why)
		}
		// The agent answered, and the API shows its container running: a fault command's
		// lookup takes only such a helper (the kubelet posts Running after the container
		// starts, so an attach can answer first: warm then returned a helper the next
		// command could not use yet).
		if h.att == nil || !h.att.gotEvent || h.pod == nil || !AgentRunning(h.pod) {
			return nil, ""
		}
		out = append(out, WarmHelper{Pod: h.pod.DeepCopy(), Key: r.serve.key})
	}
	return out, ""
}

// AgentRunning: the API shows the helper pod Running with its agent container running
// (what a fault command requires of a warm helper it uses).
func AgentRunning(pod *corev1.Pod) bool {
	if pod.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, st := range pod.Status.ContainerStatuses {
		if st.Name == helperpod.ContainerName {
			return st.State.Running != nil
		}
	}
	return false
}
