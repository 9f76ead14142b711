package agent

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/journal"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/noop"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// fakeResolver resolves every target to a made-up PID, except those in fail.
type fakeResolver struct{ fail map[string]bool }

func (f fakeResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	if f.fail[t.Pod] {
		return fault.Target{}, errors.New("container not found")
	}
	return fault.Target{Target: t, PID: 4242, NetnsPath: "/proc/4242/ns/net", NetnsInode: 4026532000}, nil
}

// events is a concurrency-safe stdout that can be waited on.
type events struct {
	mu  sync.Mutex
	buf bytes.Buffer
	ch  chan struct{}
}

func newEvents() *events { return &events{ch: make(chan struct{}, 1000)} }

func (e *events) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ch <- struct{}{}
	return e.buf.Write(p)
}

func (e *events) list(t *testing.T) []plan.Event {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []plan.Event
	sc := bufio.NewScanner(bytes.NewReader(e.buf.Bytes()))
	for sc.Scan() {
		var ev plan.Event
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("event line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, ev)
	}
	return out
}

func (e *events) count(t *testing.T, typ string) int {
	n := 0
	for _, ev := range e.list(t) {
		if ev.Type == typ {
			n++
		}
	}
	return n
}

// waitFor blocks until n events of typ were written.
func (e *events) waitFor(t *testing.T, typ string, n int) {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for e.count(t, typ) < n {
		select {
		case <-e.ch:
		case <-timeout:
			t.Fatalf("timed out waiting for %d %q events; got %v", n, typ, types(e.list(t)))
		}
	}
}

func types(evs []plan.Event) string {
	var s []string
	for _, e := range evs {
		s = append(s, e.Type)
	}
	return strings.Join(s, ",")
}

func testPlan(n int, f plan.Noop) *plan.Plan {
	p := &plan.Plan{
		Version: plan.Version, Experiment: "exp-test", Node: "node-1",
		CreatedAt: time.Now(), Deadline: time.Now().Add(time.Minute),
		Fault: plan.Fault{Kind: plan.KindNoop, Noop: &f},
	}
	for i := range n {
		p.Targets = append(p.Targets, plan.Target{Namespace: "default", Pod: fmt.Sprintf("web-%d", i), Container: "app",
			ContainerID: "containerd://" + strings.Repeat(fmt.Sprint(i), 64)})
	}
	return p
}

type run struct {
	ev     *events
	stdin  *io.PipeWriter
	dir    string
	tlog   string
	cancel context.CancelFunc
	done   chan struct{}
	res    *plan.Result
	err    error
}

func start(t *testing.T, p *plan.Plan, mod func(*Options)) *run {
	t.Helper()
	pr, pw := io.Pipe()
	r := &run{ev: newEvents(), stdin: pw, dir: t.TempDir(), done: make(chan struct{})}
	r.tlog = filepath.Join(t.TempDir(), "termination-log")
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	o := Options{Plan: p, Stdin: pr, Stdout: r.ev, TerminationLog: r.tlog, JournalDir: r.dir,
		Resolver: fakeResolver{}, HeartbeatInterval: time.Hour, ProcRoot: t.TempDir()}
	if mod != nil {
		mod(&o)
	}
	go func() {
		defer close(r.done)
		r.res, r.err = Run(ctx, o)
	}()
	// Like the CLI on attach: a first heartbeat, without which an attached agent does
	// not inject. A restarted agent (journal present) is left to its own tests.
	if files, _ := journal.List(o.JournalDir, p.Experiment); !p.Detached && len(files) == 0 {
		go io.WriteString(pw, plan.StdinHeartbeat+"\n")
	}
	t.Cleanup(func() { cancel(); pw.Close(); <-r.done })
	return r
}

func (r *run) wait(t *testing.T) {
	t.Helper()
	select {
	case <-r.done:
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return")
	}
}

// checkEnd asserts the common end state: reason, termination log equal to the result,
// journal directory empty.
func (r *run) checkEnd(t *testing.T, reason string) {
	t.Helper()
	if r.res == nil {
		t.Fatalf("nil result, err %v", r.err)
	}
	if r.res.Reason != reason {
		t.Fatalf("reason %q, want %q (err %v; events %s)", r.res.Reason, reason, r.err, types(r.ev.list(t)))
	}
	b, err := os.ReadFile(r.tlog)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) > MaxResultBytes {
		t.Fatalf("termination log is %d bytes", len(b))
	}
	var got plan.Result
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatalf("termination log %q: %v", b, err)
	}
	want, _ := json.Marshal(r.res)
	if string(b) != string(want) {
		t.Fatalf("termination log\n%s\nwant\n%s", b, want)
	}
	evs := r.ev.list(t)
	last := evs[len(evs)-1]
	if last.Type != plan.EventExit || last.Reason != reason {
		t.Fatalf("last event %+v, want exit %s", last, reason)
	}
	if evs[0].Type != plan.EventStarted {
		t.Fatalf("first event %s, want started", evs[0].Type)
	}
	for _, e := range evs {
		if e.Node != "node-1" || e.Time.IsZero() {
			t.Fatalf("event without node/time: %+v", e)
		}
	}
}

func (r *run) checkJournalEmpty(t *testing.T) {
	t.Helper()
	ents, _ := os.ReadDir(r.dir)
	if len(ents) != 0 {
		t.Fatalf("journal dir not empty after recovery: %v", ents)
	}
}

func TestStopPaths(t *testing.T) {
	cases := []struct {
		name     string
		detached bool
		deadline time.Duration
		stop     func(r *run)
		reason   string
	}{
		{"stdin EOF", false, time.Minute, func(r *run) { r.stdin.Close() }, plan.ReasonEOF},
		{"stop line", false, time.Minute, func(r *run) { io.WriteString(r.stdin, "heartbeat\nstop\n") }, plan.ReasonStopped},
		{"ctx cancel (SIGTERM)", false, time.Minute, func(r *run) { r.cancel() }, plan.ReasonSignal},
		{"deadline", false, 400 * time.Millisecond, func(r *run) {}, plan.ReasonDeadline},
		{"detached ignores EOF", true, 400 * time.Millisecond, func(r *run) { r.stdin.Close() }, plan.ReasonDeadline},
		{"detached honours stop", true, time.Minute, func(r *run) { io.WriteString(r.stdin, "stop\n") }, plan.ReasonStopped},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := testPlan(2, plan.Noop{})
			p.Detached = c.detached
			p.Deadline = time.Now().Add(c.deadline)
			r := start(t, p, nil)
			r.ev.waitFor(t, plan.EventInjected, 2)
			// The journal holds both targets while the fault is active.
			if files, _ := journal.List(r.dir, p.Experiment); len(files) != 2 {
				t.Fatalf("journal files while active: %v", files)
			}
			t0 := time.Now()
			c.stop(r)
			r.wait(t)
			if c.reason == plan.ReasonDeadline && time.Now().Before(p.Deadline) {
				t.Fatalf("returned %s before the deadline", time.Until(p.Deadline))
			}
			if r.err != nil {
				t.Fatalf("err = %v", r.err)
			}
			r.checkEnd(t, c.reason)
			r.checkJournalEmpty(t)
			if !r.res.OK() {
				t.Fatalf("result not OK: %+v", r.res)
			}
			// Targets are injected and recovered at once (issue 17): per target the order
			// is resolved, injected, recovered; the note follows both injections.
			evs := r.ev.list(t)
			if got := types(evs); got != "started,resolved,resolved,injected,injected,note,recovered,recovered,exit" &&
				got != "started,resolved,injected,resolved,injected,note,recovered,recovered,exit" &&
				got != "started,resolved,resolved,injected,note,injected,recovered,recovered,exit" {
				t.Fatalf("events %s", got)
			}
			for _, tg := range []string{"default/web-0/app", "default/web-1/app"} {
				var seq []string
				for _, e := range evs {
					if e.Target == tg {
						seq = append(seq, e.Type)
					}
				}
				if strings.Join(seq, ",") != "resolved,injected,recovered" {
					t.Fatalf("events of %s: %v", tg, seq)
				}
			}
			for _, e := range evs {
				if (e.Type == plan.EventInjected || e.Type == plan.EventRecovered) && (len(e.Objects) != 1 || e.Objects[0].Kind != "noop") {
					t.Fatalf("objects of %s %s: %v", e.Type, e.Target, e.Objects)
				}
			}
			t.Logf("%s: stop→return %s", c.name, time.Since(t0))
		})
	}
}

func TestHeartbeatEvents(t *testing.T) {
	r := start(t, testPlan(1, plan.Noop{}), func(o *Options) { o.HeartbeatInterval = 20 * time.Millisecond })
	r.ev.waitFor(t, plan.EventHeartbeat, 3)
	r.stdin.Close()
	r.wait(t)
	r.checkEnd(t, plan.ReasonEOF)
}

func TestFailApply(t *testing.T) {
	r := start(t, testPlan(2, plan.Noop{FailApply: true}), nil)
	r.wait(t)
	r.checkEnd(t, plan.ReasonFailed)
	if !errors.Is(r.err, ErrApply) || errors.Is(r.err, ErrRecover) {
		t.Fatalf("err = %v, want ErrApply only", r.err)
	}
	for _, tr := range r.res.Targets {
		// Applied nothing, and the recorded entry was recovered from the journal.
		if tr.Injected || !tr.Recovered || !strings.Contains(tr.Error, "on purpose") {
			t.Fatalf("target result %+v", tr)
		}
	}
	r.checkJournalEmpty(t)
	if n := r.ev.count(t, plan.EventError); n != 2 {
		t.Fatalf("%d error events, want 2", n)
	}
}

func TestFailRecover(t *testing.T) {
	r := start(t, testPlan(1, plan.Noop{FailRecover: true}), nil)
	r.ev.waitFor(t, plan.EventInjected, 1)
	r.stdin.Close()
	r.wait(t)
	r.checkEnd(t, plan.ReasonEOF)
	if !errors.Is(r.err, ErrRecover) {
		t.Fatalf("err = %v, want ErrRecover", r.err)
	}
	if tr := r.res.Targets[0]; !tr.Injected || tr.Recovered || tr.Error == "" {
		t.Fatalf("target result %+v", tr)
	}
	// What could not be removed stays in the journal for the next agent or the sweep.
	if files, _ := journal.List(r.dir, "exp-test"); len(files) != 1 {
		t.Fatalf("journal files = %v, want the unrecovered one", files)
	}
}

func TestResolveFailureOnOneTarget(t *testing.T) {
	r := start(t, testPlan(2, plan.Noop{}), func(o *Options) { o.Resolver = fakeResolver{fail: map[string]bool{"web-0": true}} })
	r.ev.waitFor(t, plan.EventInjected, 1)
	r.stdin.Close()
	r.wait(t)
	r.checkEnd(t, plan.ReasonEOF)
	if !errors.Is(r.err, ErrApply) {
		t.Fatalf("err = %v", r.err)
	}
	if a, b := r.res.Targets[0], r.res.Targets[1]; a.Injected || a.Error == "" || !b.Injected || !b.Recovered {
		t.Fatalf("results %+v %+v", a, b)
	}
	r.checkJournalEmpty(t)
}

// successorResolver resolves web-0 as the container resolver does when the kubelet
// replaced the planned container: the target names the successor's ID.
type successorResolver struct{}

func (successorResolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	ft, _ := fakeResolver{}.Resolve(ctx, t)
	if t.Pod == "web-0" {
		ft.ContainerID = "containerd://" + strings.Repeat("f", 64)
		ft.ResolvedBy = "containerd, as the successor of restarted container " + t.RuntimeID()[:12]
	}
	return ft, nil
}

// TestSuccessorNoted: a target resolved to the successor of its planned container is
// injected and the agent says so, naming both containers; the other target says nothing.
func TestSuccessorNoted(t *testing.T) {
	r := start(t, testPlan(2, plan.Noop{}), func(o *Options) { o.Resolver = successorResolver{} })
	r.ev.waitFor(t, plan.EventInjected, 2)
	r.stdin.Close()
	r.wait(t)
	r.checkEnd(t, plan.ReasonEOF)
	var notes, resolved []string
	for _, e := range r.ev.list(t) {
		switch e.Type {
		case plan.EventNote:
			if strings.Contains(e.Message, "successor") {
				notes = append(notes, e.Target+": "+e.Message)
			}
		case plan.EventResolved:
			resolved = append(resolved, e.Target+": "+e.Message)
		}
	}
	want := "default/web-0/app: container 000000000000 restarted before injection; injecting into its successor ffffffffffff"
	if len(notes) != 1 || notes[0] != want {
		t.Fatalf("notes %q, want [%q]", notes, want)
	}
	if len(resolved) != 2 || !slices.ContainsFunc(resolved, func(s string) bool {
		return strings.HasPrefix(s, "default/web-0/app: container ffffffffffff: pid 4242") && strings.HasSuffix(s, "found via containerd, as the successor of restarted container 000000000000")
	}) {
		t.Fatalf("resolved events %q, want web-0's to name the successor", resolved)
	}
	if a, b := r.res.Targets[0], r.res.Targets[1]; !a.Injected || !a.Recovered || !b.Injected || !b.Recovered {
		t.Fatalf("results %+v %+v", a, b)
	}
}

func TestInvalidPlan(t *testing.T) {
	for name, mod := range map[string]func(*plan.Plan){
		"version":            func(p *plan.Plan) { p.Version = 99 },
		"no deadline":        func(p *plan.Plan) { p.Deadline = time.Time{} },
		"unknown kind":       func(p *plan.Plan) { p.Fault.Kind = "warp" },
		"experiment escapes": func(p *plan.Plan) { p.Experiment = "../etc" },
	} {
		t.Run(name, func(t *testing.T) {
			p := testPlan(1, plan.Noop{})
			mod(p)
			r := start(t, p, nil)
			r.wait(t)
			r.checkEnd(t, plan.ReasonFailed)
			if !errors.Is(r.err, ErrPlan) || r.res.Error == "" {
				t.Fatalf("err %v, result %+v", r.err, r.res)
			}
		})
	}
}

func TestDeadlineAlreadyPassed(t *testing.T) {
	p := testPlan(1, plan.Noop{})
	p.Deadline = time.Now().Add(-time.Second)
	r := start(t, p, nil)
	r.wait(t)
	r.checkEnd(t, plan.ReasonDeadline)
	if r.ev.count(t, plan.EventInjected) != 0 {
		t.Fatal("injected after the deadline")
	}
}

// leftJournal writes what a killed agent would leave: a journal with one noop entry.
func leftJournal(t *testing.T, dir string, p *plan.Plan) string {
	j, err := journal.Create(dir, journal.Meta{Experiment: p.Experiment, Deadline: p.Deadline, Restart: 0}, p.Targets[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := j.Record(journal.Entry{Type: noop.EntryType, Data: json.RawMessage(`{"target":"x"}`), Object: noop.Object(p.Targets[0])}); err != nil {
		t.Fatal(err)
	}
	return j.Path()
}

func TestRestartWithoutHeartbeat(t *testing.T) {
	p := testPlan(1, plan.Noop{})
	p.HeartbeatTimeout = plan.Duration(300 * time.Millisecond)
	dir := t.TempDir()
	path := leftJournal(t, dir, p)
	r := start(t, p, func(o *Options) { o.JournalDir = dir })
	r.dir = dir
	r.wait(t)
	r.checkEnd(t, plan.ReasonNoHeartbeat)
	if r.err != nil {
		t.Fatalf("err = %v", r.err)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatal("old journal not recovered")
	}
	r.checkJournalEmpty(t)
	evs := r.ev.list(t)
	if got := types(evs); got != "started,note,recovered,note,exit" {
		t.Fatalf("events %s", got)
	}
	for _, e := range evs {
		if e.Restart != 1 {
			t.Fatalf("event %s restart %d, want 1", e.Type, e.Restart)
		}
	}
}

func TestRestartWithHeartbeatResumes(t *testing.T) {
	for _, detached := range []bool{false, true} {
		t.Run(fmt.Sprintf("detached=%v", detached), func(t *testing.T) {
			p := testPlan(1, plan.Noop{})
			p.Detached = detached
			p.HeartbeatTimeout = plan.Duration(5 * time.Second)
			dir := t.TempDir()
			leftJournal(t, dir, p)
			r := start(t, p, func(o *Options) { o.JournalDir = dir })
			r.dir = dir
			r.ev.waitFor(t, plan.EventRecovered, 1)
			if !detached {
				io.WriteString(r.stdin, "heartbeat\n")
			}
			r.ev.waitFor(t, plan.EventInjected, 1)
			f, err := journal.Read(journal.PathFor(dir, p.Experiment, p.Targets[0]))
			if err != nil {
				t.Fatal(err)
			}
			if f.Restart != 1 {
				t.Fatalf("new journal restart = %d, want 1", f.Restart)
			}
			io.WriteString(r.stdin, "stop\n")
			r.wait(t)
			r.checkEnd(t, plan.ReasonStopped)
			r.checkJournalEmpty(t)
			if !r.res.OK() {
				t.Fatalf("result %+v", r.res)
			}
		})
	}
}

func TestLockHeldByAnotherAgent(t *testing.T) {
	p := testPlan(1, plan.Noop{})
	dir := t.TempDir()
	l, err := journal.TryLock(dir, p.Experiment)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release()
	r := start(t, p, func(o *Options) { o.JournalDir = dir })
	r.dir = dir
	r.wait(t)
	r.checkEnd(t, plan.ReasonFailed)
	if !errors.Is(r.err, journal.ErrLocked) {
		t.Fatalf("err = %v", r.err)
	}
}

func TestSweepsOtherExperiments(t *testing.T) {
	p := testPlan(1, plan.Noop{})
	dir := t.TempDir()
	other := testPlan(1, plan.Noop{})
	other.Experiment = "exp-dead"
	other.Deadline = time.Now().Add(-time.Minute)
	leftJournal(t, dir, other)
	r := start(t, p, func(o *Options) { o.JournalDir = dir })
	r.dir = dir
	r.ev.waitFor(t, plan.EventInjected, 1)
	if _, err := os.Stat(filepath.Join(dir, "exp-dead")); !os.IsNotExist(err) {
		t.Fatal("dead experiment not swept")
	}
	r.stdin.Close()
	r.wait(t)
	evs := r.ev.list(t)
	if evs[1].Type != plan.EventNote || !strings.Contains(evs[1].Message, "exp-dead") {
		t.Fatalf("second event %+v, want the sweep note", evs[1])
	}
}

func TestEncodeResultFits(t *testing.T) {
	res := &plan.Result{Experiment: "e", Node: "n", Reason: "failed", Error: strings.Repeat("x", 5000)}
	for i := range 20 {
		res.Targets = append(res.Targets, plan.TargetResult{Target: fmt.Sprintf("ns/pod-%d/c", i), Error: strings.Repeat("é", 300)})
	}
	b := EncodeResult(res)
	if len(b) > MaxResultBytes {
		t.Fatalf("%d bytes", len(b))
	}
	var got plan.Result
	if err := json.Unmarshal(b, &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Targets) != 20 || got.Reason != "failed" {
		t.Fatalf("lost targets: %d", len(got.Targets))
	}
	for i := range 200 {
		res.Targets = append(res.Targets, plan.TargetResult{Target: fmt.Sprintf("namespace/a-long-pod-name-%d/container", i)})
	}
	if b := EncodeResult(res); len(b) > MaxResultBytes || !json.Valid(b) || !strings.Contains(string(b), "omitted") {
		t.Fatalf("%d bytes: %.200s", len(b), b)
	}
	small := &plan.Result{Experiment: "e", Targets: []plan.TargetResult{{Target: "a", Error: "short"}}}
	if b, _ := json.Marshal(small); string(EncodeResult(small)) != string(b) {
		t.Fatal("small result altered")
	}
}

func TestCountersEvents(t *testing.T) {
	for _, c := range []struct {
		name      string
		perRead   uint64
		noTraffic bool
	}{{"traffic", 5, false}, {"none", 0, true}} {
		t.Run(c.name, func(t *testing.T) {
			p := testPlan(1, plan.Noop{Counting: &plan.NoopCounting{PerRead: c.perRead}})
			r := start(t, p, func(o *Options) {
				o.CounterInterval = 10 * time.Millisecond
				o.NoTrafficAfter = 50 * time.Millisecond
			})
			r.ev.waitFor(t, plan.EventCounters, 10)
			r.stdin.Close()
			r.wait(t)
			r.checkEnd(t, plan.ReasonEOF)
			var last plan.Event
			flagged, notes := false, 0
			for _, ev := range r.ev.list(t) {
				if ev.Type == plan.EventCounters {
					last = ev
					flagged = flagged || ev.NoTraffic
				}
				if ev.Type == plan.EventNote && strings.HasPrefix(ev.Message, "no traffic matched yet") {
					notes++
				}
			}
			if len(last.Counters) != 2 || last.Target == "" {
				t.Fatalf("last counters event %+v", last)
			}
			if got := last.Counters[0].Value; (got == 0) != c.noTraffic || c.perRead > 0 && got%c.perRead != 0 {
				t.Errorf("noop packets %d with %d per read", got, c.perRead)
			}
			if flagged != c.noTraffic || last.NoTraffic != c.noTraffic || notes != map[bool]int{true: 1}[c.noTraffic] {
				t.Errorf("no-traffic flag seen %v, on the last event %v, %d note(s); want %v", flagged, last.NoTraffic, notes, c.noTraffic)
			}
		})
	}
}
