package session

// The helpers of one kubectl chaos run (docs/agent.md, "Serving helpers"): one per node,
// created when a step first needs that node, with the whole run's deadline, and kept
// until the run ends. Each fault step goes to them over the attach stream's stdin as a
// plan line; the agent applies it, enforces the step's own deadline and says the step's
// end with an exit event tagged with the step's ID. The pool is a session (run.go's
// runner and its loop) whose helpers serve steps: it creates, attaches, heartbeats,
// re-attaches, stops and deletes them as a session of one experiment does.

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// PoolOptions for StartPool.
type PoolOptions struct {
	Client    kubernetes.Interface
	Attacher  Attacher
	Namespace string // helper namespace (EnsureNamespace is the caller's job)
	// ID is the run's experiment ID: its helper pods carry it as their label.
	ID    string
	Owner string
	// Deadline is the whole run's: every helper's plan and activeDeadlineSeconds.
	Deadline      time.Time
	RuntimeSocket string
	// Build makes the helper pod of a serving plan (helperpod.Build with the run's
	// image, pull policy and namespace).
	Build    func(*plan.Plan) (*corev1.Pod, error)
	Progress io.Writer // nil: none
	// StopTimeout, ReadyTimeout, HeartbeatInterval as in Options.
	StopTimeout, ReadyTimeout, HeartbeatInterval time.Duration
	// Warm: the helpers are warm ones (kubectl chaos warm, warm.go): plan.Warm in
	// their plans, a "heartbeat STEP" line per step, and Detach leaves them serving.
	Warm bool
	// Adopt, with Warm: warm helpers already running that the pool uses instead of
	// creating any (a fault command's steps on them).
	Adopt []WarmHelper
}

// Pool is the running helpers of one kubectl chaos run.
type Pool struct {
	r     *runner
	ended chan struct{}
	rep   *Report
	err   error
	once  sync.Once
}

// serving is the runner's part of a pool, touched only on the loop's goroutine.
type serving struct {
	do      chan func(*runner)
	key     string // step key: its hash is in every helper's plan
	base    plan.Plan
	build   func(*plan.Plan) (*corev1.Pod, error)
	steps   map[string]*poolStep
	pending map[*helper][]queuedLine // step plans waiting for an attach that reached the agent
	told    map[*helper]bool         // helpers whose end the steps heard of
	restart map[*helper]int32        // restart count the steps last heard of
	warm    bool                     // warm helpers (warm.go)
	adopted map[*helper]string       // warm helpers the pool adopted, with their step keys
}

// StartPool starts the run's (empty) pool: the pod watch, and the loop that creates a
// helper when a step first needs its node. Close ends it.
func StartPool(ctx context.Context, o PoolOptions) (*Pool, error) {
	if o.Client == nil || o.Attacher == nil || (o.Build == nil && len(o.Adopt) == 0) {
		return nil, exit.APIError(errors.New("session: a pool needs a client, an attacher and a pod builder"))
	}
	var k [32]byte
	if _, err := rand.Read(k[:]); err != nil {
		return nil, fmt.Errorf("making the run's step key: %w", err)
	}
	key := hex.EncodeToString(k[:])
	sum := sha256.Sum256([]byte(key))
	so := Options{Client: o.Client, Attacher: o.Attacher, Namespace: o.Namespace, Progress: o.Progress,
		StopTimeout: o.StopTimeout, ReadyTimeout: o.ReadyTimeout, HeartbeatInterval: o.HeartbeatInterval}
	so.defaults()
	bg := context.WithoutCancel(ctx) // the pool ends by Close, after the steps stopped
	r := newRunner(bg, so)
	r.exp, r.fault = o.ID, helperpod.ServeSummary
	r.serve = &serving{
		do: make(chan func(*runner)), key: key, build: o.Build,
		base: plan.Plan{Version: plan.Version, Experiment: o.ID, Owner: o.Owner, Deadline: o.Deadline.UTC(),
			Serve: true, StepKey: hex.EncodeToString(sum[:]), Warm: o.Warm,
			Runtime: plan.Runtime{Endpoint: o.RuntimeSocket, Namespace: "k8s.io"}, JournalDir: plan.DefaultJournalDir},
		steps: map[string]*poolStep{}, pending: map[*helper][]queuedLine{}, told: map[*helper]bool{}, restart: map[*helper]int32{},
		warm: o.Warm, adopted: map[*helper]string{},
	}
	r.adopt(o.Adopt)
	p := &Pool{r: r, ended: make(chan struct{})}
	go func() {
		defer close(p.ended)
		p.rep, p.err = r.loop(bg)
	}()
	return p, nil
}

// Deadline is the run's deadline every helper of the pool has.
func (p *Pool) Deadline() time.Time { return p.r.serve.base.Deadline }

// Close stops every helper (each recovers what it still holds) and deletes them; it
// returns the pool's report, whose error says whether a helper failed to recover.
func (p *Pool) Close() (*Report, error) {
	p.once.Do(func() {
		p.call(func(r *runner) { r.beginStop() })
	})
	<-p.ended
	return p.rep, p.err
}

// Detach ends a pool of warm helpers without stopping them: their attach streams end
// (a warm helper's stdin stays open, stdinOnce: false) and they serve on until their
// deadline or kubectl chaos warm --stop. A pool of a run's helpers is closed instead.
func (p *Pool) Detach() (*Report, error) {
	if !p.r.serve.warm {
		return p.Close()
	}
	p.once.Do(func() {
		p.call(func(r *runner) { r.phase = phaseDone })
	})
	<-p.ended
	return p.rep, p.err
}

// call runs f on the loop's goroutine; false when the loop has ended.
func (p *Pool) call(f func(*runner)) bool {
	done := make(chan struct{})
	select {
	case p.r.serve.do <- func(r *runner) { f(r); close(done) }:
	case <-p.ended:
		return false
	}
	select {
	case <-done:
		return true
	case <-p.ended:
		return false
	}
}

// doCh is the pool's channel of calls into the loop (nil for a session of one
// experiment: never ready).
func (r *runner) doCh() <-chan func(*runner) {
	if r.serve == nil {
		return nil
	}
	return r.serve.do
}

// ns is the helper namespace.
func (r *runner) ns() string {
	if len(r.helpers) > 0 {
		return r.helpers[0].pod.Namespace
	}
	return r.o.Namespace
}

// helperFor returns the run's helper on node, creating it (with the run's remaining
// deadline) when there is none yet.
func (r *runner) helperFor(node string) (*helper, error) {
	for _, h := range r.helpers {
		if h.node != node {
			continue
		}
		if h.done || h.deleted {
			why := h.err
			if why == "" {
				why = "its agent exited"
			}
			return nil, fmt.Errorf("the run's helper %s on node %s has ended (%s)", h.name, node, why)
		}
		return h, nil
	}
	if len(r.serve.adopted) > 0 {
		return nil, fmt.Errorf("no warm helper of yours on node %s", node)
	}
	now := time.Now().UTC()
	pl := r.serve.base
	pl.Node, pl.CreatedAt = node, now
	switch {
	case r.phase != phaseRunning:
		return nil, errors.New("the run's helpers are being stopped")
	case !pl.Deadline.After(now.Add(time.Second)):
		return nil, fmt.Errorf("the run's deadline %s has passed", pl.Deadline.Format(time.RFC3339))
	}
	pod, err := r.serve.build(&pl)
	if err != nil {
		return nil, fmt.Errorf("building the run's helper pod for node %s: %w", node, err)
	}
	if pod.Namespace == "" {
		pod.Namespace = r.o.Namespace
	}
	h := newHelper(pod)
	what := "for the rest of the run"
	if pl.Warm {
		what = "warm, serving your fault commands"
	}
	fmt.Fprintf(r.o.Progress, "creating helper pod %s/%s on node %s %s (until %s)\n",
		pod.Namespace, h.name, node, what, pl.Deadline.Format(time.RFC3339))
	ctx, cancel := context.WithTimeout(r.bg, r.o.StopTimeout)
	defer cancel()
	r.trace("create-sent", h, time.Now())
	created, err := r.o.Client.CoreV1().Pods(pod.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	r.trace("create-returned", h, time.Now())
	if err != nil {
		return nil, createError(h, err)
	}
	h.pod = created
	r.helpers = append(r.helpers, h)
	r.byName[h.name] = h
	r.after(probeDelay(0), r.probeCh, h) // the early attach, as follow does
	return h, nil
}

// queuedLine is a line waiting for its helper: a step's plan (and since when) or a stop.
type queuedLine struct {
	pl   *plan.Plan
	at   time.Time
	stop string
}

// queue sends a step's plan to the helper's agent once an attach to it carried an event
// (the stream then reaches the agent, which serves).
func (s *serving) queue(h *helper, pl *plan.Plan) {
	cp := *pl
	s.pending[h] = append(s.pending[h], queuedLine{pl: &cp, at: time.Now()})
}

// queueStop sends the stop line of a step, after the lines queued before it.
func (s *serving) queueStop(h *helper, step string) {
	s.pending[h] = append(s.pending[h], queuedLine{stop: plan.StdinStop + " " + step})
}

// line is q as it goes out. A plan's deadline moves on by the time it waited for the
// helper to start (the step lasts as long as asked from when it can start: a first step
// shorter than its helper's start was refused as past its deadline), never past the run's.
func (s *serving) line(h *helper, q queuedLine) string {
	if q.pl == nil {
		return q.stop
	}
	key := s.key
	if k, ok := s.adopted[h]; ok {
		key = k
	}
	cp := *q.pl
	cp.Deadline = cp.Deadline.Add(time.Since(q.at))
	if cp.Deadline.After(s.base.Deadline) {
		cp.Deadline = s.base.Deadline
	}
	b, _ := json.Marshal(&cp) // startStep marshalled the same plan without error
	return plan.StdinPlan + " " + key + " " + string(b)
}

// serveTick, after each turn of the loop: lines go out to agents now listening, and
// the steps hear of helpers that ended or restarted.
func (r *runner) serveTick() {
	s := r.serve
	if s == nil {
		return
	}
	for h, lines := range s.pending {
		a := h.att
		// An adopted warm helper serves already: its plan line may go out with the
		// attach (the pipe holds it until the stream is up), saving the wait for an
		// event of its agent (its heartbeat comes every 5 s).
		if a == nil || (!a.gotEvent && s.adopted[h] == "") || a.ended || a.closed || a.cmdsDone {
			continue
		}
		n := 0
		for _, q := range lines {
			if cap(a.cmds)-len(a.cmds) <= 2 { // room stays for stop and close
				break
			}
			a.cmds <- s.line(h, q)
			n++
		}
		if s.pending[h] = lines[n:]; len(s.pending[h]) == 0 {
			delete(s.pending, h)
		}
	}
	for _, h := range r.helpers {
		switch {
		case h.done && !s.told[h]:
			s.told[h] = true
			why := h.err
			if why == "" {
				why = "its agent exited"
			}
			s.tell(stepEvent{node: h.node, gone: fmt.Sprintf("the run's helper %s ended (%s)", h.name, why)})
		case h.report.Restarts != s.restart[h]:
			s.restart[h] = h.report.Restarts
			s.tell(stepEvent{node: h.node, restarted: true})
		}
	}
}

// tell passes a helper's news to every step.
func (s *serving) tell(e stepEvent) {
	for _, st := range s.steps {
		st.put(e)
	}
}

// route passes a step's event to its step.
func (s *serving) route(node string, ev plan.Event, at time.Time) {
	if st := s.steps[ev.Step]; st != nil {
		st.put(stepEvent{node: node, ev: ev, at: at})
	}
}
