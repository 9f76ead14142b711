package agent

import (
	"fmt"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Defaults of the counter reports.
const (
	// DefaultCounterInterval is how often an attached agent reads and reports the
	// counters of its objects.
	DefaultCounterInterval = time.Second
	// DefaultNoTrafficAfter is how long a fault may see no matching traffic before it
	// is flagged "no traffic matched yet".
	DefaultNoTrafficAfter = 10 * time.Second
)

// counterWatch reads the counters of the active targets that have any (fault.Counting)
// and emits them as events; it flags a target whose traffic counters have not moved
// NoTrafficAfter after injection.
type counterWatch struct {
	r       *runner
	targets []*watchedTarget
}

type watchedTarget struct {
	at      *activeTarget
	c       fault.Counting
	since   time.Time
	flagged bool // the "no traffic" note was emitted
	failed  bool // reading failed once: said once, then quiet
}

func (r *runner) newCounterWatch(actives []*activeTarget) *counterWatch {
	w := &counterWatch{r: r}
	for _, at := range actives {
		if c, ok := at.a.(fault.Counting); ok {
			w.targets = append(w.targets, &watchedTarget{at: at, c: c, since: r.o.Now()})
		}
	}
	return w
}

// interval is how often counters are read: every CounterInterval while an operator
// listens, every heartbeat when detached (the events then only reach the pod's log).
func (r *runner) counterInterval() time.Duration {
	if r.p.Detached || r.stdin == nil {
		return r.o.HeartbeatInterval
	}
	if r.o.CounterInterval > 0 {
		return r.o.CounterInterval
	}
	return DefaultCounterInterval
}

// report reads and emits every target's counters once.
func (w *counterWatch) report() {
	if w == nil {
		return
	}
	after := w.r.o.NoTrafficAfter
	if after <= 0 {
		after = DefaultNoTrafficAfter
	}
	for _, t := range w.targets {
		cs, err := t.c.ReadCounters()
		target := t.at.t.String()
		if err != nil {
			if !t.failed {
				t.failed = true
				w.r.emit(plan.Event{Type: plan.EventNote, Target: target, Message: "reading the fault's counters", Error: err.Error()})
			}
			continue
		}
		if len(cs) == 0 {
			continue
		}
		ev := plan.Event{Type: plan.EventCounters, Target: target, Counters: cs}
		traffic, any := trafficSeen(cs)
		idle := any && !traffic && w.r.o.Now().Sub(t.since) >= after
		switch {
		case traffic:
			if t.flagged {
				w.r.emit(plan.Event{Type: plan.EventNote, Target: target, Message: "traffic matched the fault now"})
			}
			t.flagged = false
		case idle:
			ev.NoTraffic = true
			if !t.flagged {
				t.flagged = true
				w.r.emit(plan.Event{Type: plan.EventNote, Target: target, Message: fmt.Sprintf(
					"no traffic matched yet: %s after injection, none of the fault's counters moved (does the target send or receive what the filter selects?)",
					w.r.o.Now().Sub(t.since).Round(time.Second))})
			}
		}
		w.r.emit(ev)
	}
}

// trafficSeen says whether any traffic counter is above 0, and whether there is any.
func trafficSeen(cs []plan.Counter) (seen, any bool) {
	for _, c := range cs {
		if c.Traffic {
			any = true
			if c.Value > 0 {
				seen = true
			}
		}
	}
	return seen, any
}
