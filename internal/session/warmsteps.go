package session

// What a warm helper serves now, for kubectl chaos ls (docs/agent.md, "Warm helpers":
// "What ls shows"). The agent has no API access (no service account token) and its
// status events reach only the attaches of the moment, so the record is the CLI's: the
// CLI that sends a step to a warm helper puts an annotation on the helper pod
// (plan.AnnotationStepPrefix + the step's ID) when the step starts, renews its "seen"
// time every WarmStepRenew while it follows the step, and removes it when the step
// ended. A CLI killed with -9 cannot remove it: its record stops being renewed, and ls
// calls it stale after WarmStepStale (the agent itself recovered that step
// plan.WarmStepTimeout after the CLI went silent). The next CLI that records a step on
// the helper drops the stale and expired records it sees.

import (
	"context"
	"encoding/json"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// WarmStepRenew is how often the CLI renews its step's record on a warm helper;
// WarmStepStale is the age of the last renewal past which ls no longer believes it
// (three renewals missed: a loaded API server delays a patch by seconds, not by a
// minute).
const (
	WarmStepRenew = 20 * time.Second
	WarmStepStale = 3 * WarmStepRenew
)

// WarmStepRecord is the annotation's value: whose step, what fault, since and until
// when (the step's deadline, which the agent enforces), and when its CLI last renewed it.
type WarmStepRecord struct {
	Owner string    `json:"owner,omitempty"`
	Fault string    `json:"fault,omitempty"`
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	Seen  time.Time `json:"seen"`
}

// WarmState is a warm experiment's state in ls: until when its helpers stay warm, and
// the steps they serve now (none: idle).
type WarmState struct {
	// Until is the warm helpers' deadline (kubectl chaos warm --for).
	Until time.Time `json:"until"`
	// Steps are the steps served now, as their CLIs recorded them.
	Steps []WarmStep `json:"steps"`
	// Stale are records whose CLI stopped renewing them (killed): the agent recovered
	// those steps on its own; they are shown so that nothing is hidden.
	Stale []WarmStep `json:"stale,omitempty"`
}

// WarmStep is one step a warm helper serves.
type WarmStep struct {
	Step string `json:"step"`
	Node string `json:"node"`
	Pod  string `json:"pod"`
	WarmStepRecord
}

// Idle: no helper of the warm experiment serves a step (as far as the records say).
func (w *WarmState) Idle() bool { return len(w.Steps) == 0 }

// warmSteps reads the step records of a warm helper at now: the live ones, and those
// whose CLI went silent. Records past their step's deadline are over (the agent ended
// the step) and left out; an unreadable record is left out too.
func warmSteps(h HelperState, now time.Time) (live, stale []WarmStep) {
	for k, v := range h.Annotations {
		id, ok := strings.CutPrefix(k, plan.AnnotationStepPrefix)
		if !ok || id == "" {
			continue
		}
		var rec WarmStepRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil || !now.Before(rec.Until) {
			continue
		}
		ws := WarmStep{Step: id, Node: h.Node, Pod: h.Namespace + "/" + h.Pod, WarmStepRecord: rec}
		if now.Sub(rec.Seen) > WarmStepStale {
			stale = append(stale, ws)
		} else {
			live = append(live, ws)
		}
	}
	return live, stale
}

// warmState is e's WarmState at now when its helpers are warm ones, else nil. A helper
// that ended serves nothing.
func warmState(e *Experiment, now time.Time) *WarmState {
	var w *WarmState
	for _, h := range e.Helpers {
		if h.Plan == nil || !h.Plan.Warm {
			continue
		}
		if w == nil {
			w = &WarmState{Until: e.Deadline, Steps: []WarmStep{}}
		}
		if h.Terminated || h.Deleting || h.Phase == string(corev1.PodSucceeded) || h.Phase == string(corev1.PodFailed) {
			continue
		}
		live, stale := warmSteps(h, now)
		w.Steps = append(w.Steps, live...)
		w.Stale = append(w.Stale, stale...)
	}
	if w != nil {
		for _, s := range [][]WarmStep{w.Steps, w.Stale} {
			sort.Slice(s, func(i, j int) bool {
				if !s[i].Since.Equal(s[j].Since) {
					return s[i].Since.Before(s[j].Since)
				}
				return s[i].Step+s[i].Node < s[j].Step+s[j].Node
			})
		}
	}
	return w
}

// stepPatch is the merge patch that sets (rec non-nil) or removes the record of step,
// and removes the records of drop.
func stepPatch(step string, rec *WarmStepRecord, drop []string) []byte {
	ann := map[string]any{}
	for _, k := range drop {
		ann[k] = nil
	}
	if rec != nil {
		b, _ := json.Marshal(rec)
		ann[plan.AnnotationStepPrefix+step] = string(b)
	} else {
		ann[plan.AnnotationStepPrefix+step] = nil
	}
	b, _ := json.Marshal(map[string]any{"metadata": map[string]any{"annotations": ann}})
	return b
}

// overRecords are the step records on p that are over at now (past their step's
// deadline, stale, unreadable): the next recording CLI drops them.
func overRecords(p *corev1.Pod, now time.Time) []string {
	var out []string
	for k, v := range p.Annotations {
		if !strings.HasPrefix(k, plan.AnnotationStepPrefix) {
			continue
		}
		var rec WarmStepRecord
		if err := json.Unmarshal([]byte(v), &rec); err != nil || !now.Before(rec.Until) || now.Sub(rec.Seen) > WarmStepStale {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// RecordWarmStep records step on the warm helpers pods (best effort, in the
// background: the fault never waits for it), renews the record every renew (0:
// WarmStepRenew) and returns the function that removes it, which waits (bounded by 5 s)
// for the removal. A user who may not patch pods gets a -v line, and ls shows the
// helper idle.
func RecordWarmStep(ctx context.Context, c kubernetes.Interface, pods []*corev1.Pod, step string, rec WarmStepRecord, renew time.Duration) (end func()) {
	if renew <= 0 {
		renew = WarmStepRenew
	}
	bg := context.WithoutCancel(ctx)
	patch := func(ctx context.Context, p *corev1.Pod, body []byte) {
		_, err := c.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.MergePatchType, body, metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			slog.Info("recording the step on the warm helper (for kubectl chaos ls)", "pod", p.Namespace+"/"+p.Name, "step", step, "error", err)
		}
	}
	stop := make(chan struct{})
	done := make(chan struct{})
	go func() {
		defer close(done)
		first := true
		t := time.NewTicker(renew)
		defer t.Stop()
		for {
			r := rec
			r.Seen = time.Now().UTC()
			var wg sync.WaitGroup
			for _, p := range pods {
				var drop []string
				if first {
					drop = overRecords(p, r.Seen)
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					pctx, cancel := context.WithTimeout(bg, 5*time.Second)
					defer cancel()
					patch(pctx, p, stepPatch(step, &r, drop))
				}()
			}
			wg.Wait()
			first = false
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() {
		close(stop)
		<-done // a record written after the removal would outlive the step
		ectx, cancel := context.WithTimeout(bg, 5*time.Second)
		defer cancel()
		var wg sync.WaitGroup
		for _, p := range pods {
			wg.Add(1)
			go func() { defer wg.Done(); patch(ectx, p, stepPatch(step, nil, nil)) }()
		}
		wg.Wait()
	}
}
