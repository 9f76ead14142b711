package session

// How a session runs, file by file:
//
//	run.go     Run's entry: the runner and its helpers, create, then detach or loop
//	create.go  creating the helper pods (and removing them again if one fails), deleting them
//	watch.go   the pod watch: every helper's status, as the kubelet reports it
//	helper.go  one helper's state: what its pod status and its agent's events say
//	follow.go  when to attach: early probes, retries, re-attach after a restart
//	stream.go  one attach stream: the stdin protocol (heartbeat, stop, EOF) and the event lines
//	loop.go    the phase loop: running → stopping → deleting → done
//	report.go  the final report and the exit code (classify is pure)

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Defaults for Options.
const (
	DefaultStopTimeout       = 20 * time.Second
	DefaultReadyTimeout      = 2 * time.Minute
	DefaultHeartbeatInterval = 2 * time.Second
)

// runner is one session: the helpers, the channels their goroutines report on, and the
// state the phase loop (loop.go) works on. Only the loop's goroutine touches the state;
// the watch and the attach streams talk to it through the channels.
type runner struct {
	o     Options
	bg    context.Context // never cancelled by the user's ctx
	start time.Time
	exp   string
	fault string

	helpers []*helper
	byName  map[string]*helper
	atts    []*attachment // every attachment made, to end them all

	phase    phase
	watching bool // the pod watch runs (else deletions cannot be waited for)
	reason   string
	fatal    []string
	stopAt   time.Time
	targets  int
	active   map[string]bool // targets with an injected event

	// serve is set for the helpers of a kubectl chaos run (pool.go).
	serve *serving

	podCh   chan podUpdate
	evCh    chan lineEvent
	retryCh chan *helper
	probeCh chan *helper
	startCh chan *helper // a helper's start window ended (helper.start)
	watchCh chan error
	quit    chan struct{}
	wg      sync.WaitGroup
}

func (o *Options) defaults() {
	if o.StopTimeout <= 0 {
		o.StopTimeout = DefaultStopTimeout
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	if o.HeartbeatInterval <= 0 {
		o.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if o.Events == nil {
		o.Events = func(plan.Event) {}
	}
	if o.Progress == nil {
		o.Progress = io.Discard
	}
}

func run(ctx context.Context, o Options) (*Report, error) {
	o.defaults()
	if o.Client == nil {
		return nil, exit.APIError(errors.New("session: no Kubernetes client"))
	}
	if len(o.Pods) == 0 {
		return nil, exit.Usagef("session: no helper pods to run (empty target set)")
	}
	if !o.Detach && o.Attacher == nil {
		return nil, exit.APIError(errors.New("session: no Attacher for an attached session"))
	}
	r := newRunner(ctx, o)
	if err := r.create(ctx); err != nil {
		return r.reportOf(ReasonFailed), err
	}
	if o.Detach {
		fmt.Fprintf(o.Progress, "experiment %s runs detached until %s; stop it with: kubectl chaos stop %s\n",
			r.exp, r.deadline().Format(time.RFC3339), r.exp)
		return r.reportOf(ReasonDetached), nil
	}
	return r.loop(ctx)
}

// newRunner makes the session's view of each helper pod; the experiment ID and the
// fault summary come from the first.
func newRunner(ctx context.Context, o Options) *runner {
	r := &runner{
		o:       o,
		bg:      context.WithoutCancel(ctx),
		start:   time.Now(),
		byName:  map[string]*helper{},
		active:  map[string]bool{},
		podCh:   make(chan podUpdate, 64),
		evCh:    make(chan lineEvent, 64),
		retryCh: make(chan *helper, 8),
		probeCh: make(chan *helper, 8),
		startCh: make(chan *helper, 8),
		watchCh: make(chan error, 1),
		quit:    make(chan struct{}),
	}
	for _, p := range o.Pods {
		if p.Namespace == "" {
			p = p.DeepCopy()
			p.Namespace = o.Namespace
		}
		h := newHelper(p)
		if h.plan != nil {
			r.targets += len(h.plan.Targets)
		}
		if r.exp == "" {
			r.exp = p.Labels[plan.LabelExperiment]
			if r.exp == "" && h.plan != nil {
				r.exp = h.plan.Experiment
			}
			r.fault = podFault(p)
		}
		r.helpers = append(r.helpers, h)
		r.byName[p.Name] = h
	}
	return r
}

// deadline is the latest helper deadline.
func (r *runner) deadline() time.Time {
	var d time.Time
	for _, h := range r.helpers {
		if t := PodDeadline(h.pod); t.After(d) {
			d = t
		}
	}
	return d
}
