// Package podevents writes Kubernetes Events on target pods for what an experiment did
// to them (ChaosInjected, ChaosRecovered, ChaosFailed), so `kubectl describe pod` and
// `kubectl get events` show the chaos next to the pod's own story.
//
// A Recorder never slows a fault down: Record only puts the Event in a bounded queue
// (it never blocks), and one goroutine writes the queue out, rate limited, through its
// own client (so it takes no tokens from the client the fault's own calls use). When
// the queue is full the Event is dropped and counted; Close flushes for a bounded time
// and says what was not written. Once Close is called the faults are over, so the rest
// of the queue is written without the rate limit and closeWriters at a time: the last
// recover Events of a many-target experiment no longer hold the command's exit for
// seconds, nor get dropped when the queue outlasts the flush bound (with 100 targets at
// 20/s, 2.5 s of recover Events were dropped at the 3 s bound).
//
// Event names are deterministic (pod, experiment, reason, container): whoever writes an
// Event first wins, and a second writer (the CLI that was thought dead, ls, gc) gets
// AlreadyExists, which counts as written.
package podevents

import (
	"context"
	"fmt"
	"hash/fnv"
	"strings"
	"sync"
	"time"

	"golang.org/x/time/rate"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Event reasons (kubectl get events --field-selector reason=ChaosInjected).
const (
	ReasonInjected  = "ChaosInjected"
	ReasonRecovered = "ChaosRecovered"
	ReasonFailed    = "ChaosFailed"
)

// Component is the Events' source and reporting controller.
const Component = "kubectl-chaos"

// LabelExperiment is put on every Event: kubectl get events -l kubectl-chaos/experiment=ID.
const LabelExperiment = "kubectl-chaos/experiment"

// AnnotationEvents on a helper pod says the experiment was run with --events=false, so
// ls and gc write no Events for it either.
const AnnotationEvents = "kubectl-chaos/events"

// Defaults of Options.
const (
	DefaultQueue          = 1024
	DefaultQPS            = 20
	DefaultBurst          = 40
	DefaultRequestTimeout = 5 * time.Second
	// DefaultFlush bounds how long Close waits for the queue to drain.
	DefaultFlush = 3 * time.Second
	// closeWriters write the queue out once Close is called (one before).
	closeWriters = 8
)

// maxMessage keeps an Event's message well below the API server's limits.
const maxMessage = 1000

// Experiment says whose Events these are.
type Experiment struct {
	ID    string
	Owner string
	Fault string // the fault's summary, e.g. "network delay 100ms"
}

// Target is the pod an Event is about; Container is "" for a pod-level change (an
// API-only fault).
type Target struct {
	Namespace string
	Pod       string
	UID       string
	Container string
}

// Options of New.
type Options struct {
	Queue          int
	QPS            float64
	Burst          int
	RequestTimeout time.Duration
}

// Stats is what a Recorder did.
type Stats struct {
	Queued  int // accepted into the queue
	Written int // created, or already there (written by someone else first)
	Dropped int // refused because the queue was full, or still queued when Close gave up
	Failed  int // the API refused or timed out
	// LastError is the last API error, for the warning.
	LastError string
	// Forbidden: the API said the user may not create events (RBAC).
	Forbidden bool
}

// Recorder queues Events and writes them on one goroutine. A nil *Recorder records
// nothing (--events=false).
type Recorder struct {
	c       kubernetes.Interface
	q       chan *corev1.Event
	lim     *rate.Limiter
	timeout time.Duration
	ctx     context.Context
	cancel  context.CancelFunc
	done    chan struct{}
	writers sync.WaitGroup

	mu     sync.Mutex
	closed bool
	seen   map[string]bool // names queued once: a second Record of one is a no-op
	ok     map[string]bool // names written (or already there)
	st     Stats
	full   int // dropped by Record: the queue was full
}

// New starts a Recorder writing through c (a client of its own, see the package doc).
func New(c kubernetes.Interface, o Options) *Recorder {
	if o.Queue <= 0 {
		o.Queue = DefaultQueue
	}
	if o.QPS <= 0 {
		o.QPS = DefaultQPS
	}
	if o.Burst <= 0 {
		o.Burst = DefaultBurst
	}
	if o.RequestTimeout <= 0 {
		o.RequestTimeout = DefaultRequestTimeout
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &Recorder{c: c, q: make(chan *corev1.Event, o.Queue), lim: rate.NewLimiter(rate.Limit(o.QPS), o.Burst),
		timeout: o.RequestTimeout, ctx: ctx, cancel: cancel, done: make(chan struct{}),
		seen: map[string]bool{}, ok: map[string]bool{}}
	r.writers.Add(1)
	go r.loop()
	go func() {
		r.writers.Wait()
		close(r.done)
	}()
	return r
}

// Record queues one Event about t at time at (zero: now) and returns at once. A name
// already recorded, a closed Recorder and a nil one record nothing.
func (r *Recorder) Record(reason string, e Experiment, t Target, at time.Time, detail string) {
	if r == nil || t.Pod == "" || t.Namespace == "" {
		return
	}
	ev := Build(reason, e, t, at, detail)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed || r.seen[ev.Name] {
		return
	}
	r.seen[ev.Name] = true
	select {
	case r.q <- ev:
		r.st.Queued++
	default:
		r.full++
	}
}

// Written reports whether the Event Name(reason, e, t) was written (or already there).
func (r *Recorder) Written(reason string, e Experiment, t Target) bool {
	if r == nil {
		return false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.ok[Name(reason, e.ID, t)]
}

func (r *Recorder) loop() {
	defer r.writers.Done()
	for ev := range r.q {
		if r.ctx.Err() != nil || r.lim.Wait(r.ctx) != nil {
			r.count(ev, nil, true)
			continue
		}
		ctx, cancel := context.WithTimeout(r.ctx, r.timeout)
		_, err := r.c.CoreV1().Events(ev.Namespace).Create(ctx, ev, metav1.CreateOptions{})
		cancel()
		r.count(ev, err, false)
	}
}

func (r *Recorder) count(ev *corev1.Event, err error, dropped bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch {
	case dropped, err != nil && r.ctx.Err() != nil:
		// Close gave up before its turn, or cut its request short: Close counts it.
	case err == nil || apierrors.IsAlreadyExists(err):
		r.st.Written++
		r.ok[ev.Name] = true
	default:
		r.st.Failed++
		r.st.LastError = err.Error()
		r.st.Forbidden = r.st.Forbidden || apierrors.IsForbidden(err)
	}
}

// Close stops taking Events and waits up to flush for the queue to be written, without
// the rate limit and closeWriters at a time; what is left then is dropped (an API
// request under way is cancelled). It returns the counts.
func (r *Recorder) Close(flush time.Duration) Stats {
	if r == nil {
		return Stats{}
	}
	r.mu.Lock()
	if !r.closed {
		r.closed = true
		// The first writer is still running (it ends only once the queue is closed
		// and empty), so adding writers here cannot race the Wait in New.
		r.lim.SetLimit(rate.Inf)
		r.writers.Add(closeWriters - 1)
		for i := 1; i < closeWriters; i++ {
			go r.loop()
		}
		close(r.q)
	}
	r.mu.Unlock()
	t := time.NewTimer(flush)
	defer t.Stop()
	select {
	case <-r.done:
	case <-t.C:
		r.cancel()
		// The queue now drains as dropped; a request stuck in a client that does not
		// honour its context is left to finish on its own.
		select {
		case <-r.done:
		case <-time.After(100 * time.Millisecond):
		}
	}
	r.cancel()
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	// What was queued and neither written nor refused is dropped: given up by the
	// writer, or still in flight when Close stopped waiting.
	st.Dropped = r.full + max(0, st.Queued-st.Written-st.Failed)
	return st
}

// Warning is the line to print after Close when Events were lost ("" when none were).
func (s Stats) Warning() string {
	lost := s.Dropped + s.Failed
	if lost == 0 {
		return ""
	}
	msg := fmt.Sprintf("warning: %d of %d Kubernetes Event(s) on the target pods not written", lost, s.Dropped+s.Failed+s.Written)
	var why []string
	if s.Dropped > 0 {
		why = append(why, fmt.Sprintf("%d dropped: the Events API was slower than the experiment", s.Dropped))
	}
	if s.Failed > 0 {
		f := fmt.Sprintf("%d refused: %s", s.Failed, s.LastError)
		if s.Forbidden {
			f += " (RBAC: you may not create events; kubectl chaos rbac prints the rules, --events=false turns them off)"
		}
		why = append(why, f)
	}
	return msg + " (" + strings.Join(why, "; ") + ")"
}

// Name is the Event's name: the pod, the experiment and the reason, and a hash of the
// container when there is one (several target containers in one pod).
func Name(reason, experiment string, t Target) string {
	suffix := strings.ToLower(strings.TrimPrefix(reason, "Chaos"))
	if t.Container != "" {
		h := fnv.New32a()
		_, _ = h.Write([]byte(t.Container))
		suffix += fmt.Sprintf("-%08x", h.Sum32())
	}
	pod := t.Pod
	if max := 253 - len(experiment) - len(suffix) - 2; len(pod) > max {
		pod = strings.TrimRight(pod[:max], ".-")
	}
	return pod + "." + experiment + "." + suffix
}

// Build is the Event itself (pure).
func Build(reason string, e Experiment, t Target, at time.Time, detail string) *corev1.Event {
	if at.IsZero() {
		at = time.Now()
	}
	typ, verb := corev1.EventTypeNormal, ""
	switch reason {
	case ReasonInjected:
		verb = "injected"
	case ReasonRecovered:
		verb = "recovered"
	default:
		typ, verb = corev1.EventTypeWarning, "failed"
	}
	where := "pod"
	if t.Container != "" {
		where = "container " + t.Container
	}
	msg := fmt.Sprintf("kubectl-chaos experiment %s %s: %s on %s (owner %s)", e.ID, verb, e.Fault, where, e.Owner)
	if detail != "" {
		msg += ": " + strings.ReplaceAll(detail, "\n", " ")
	}
	if len(msg) > maxMessage {
		msg = msg[:maxMessage-3] + "..."
	}
	ts := metav1.NewTime(at)
	ref := corev1.ObjectReference{Kind: "Pod", APIVersion: "v1", Namespace: t.Namespace, Name: t.Pod, UID: types.UID(t.UID)}
	if t.Container != "" {
		ref.FieldPath = "spec.containers{" + t.Container + "}"
	}
	return &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: Name(reason, e.ID, t), Namespace: t.Namespace,
			Labels: map[string]string{LabelExperiment: e.ID}},
		InvolvedObject:      ref,
		Reason:              reason,
		Message:             msg,
		Type:                typ,
		Source:              corev1.EventSource{Component: Component},
		FirstTimestamp:      ts,
		LastTimestamp:       ts,
		Count:               1,
		Action:              strings.ToUpper(verb[:1]) + verb[1:],
		ReportingController: Component,
		ReportingInstance:   Component + "-" + e.ID,
	}
}
