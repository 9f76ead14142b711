package live

import (
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// DefaultLineInterval is how often, without a terminal, a target's counters are printed.
const DefaultLineInterval = 10 * time.Second

// Lines prints what the view shows as plain timestamped lines (stderr is not a
// terminal): the counters of each target as rates, every Interval and whenever the
// no-traffic flag changes. Other events are printed by the caller.
type Lines struct {
	m        *Model
	w        io.Writer
	interval time.Duration
	mu       sync.Mutex
	last     map[string]time.Time
	flag     map[string]bool
}

// NewLines prints m's counters on w every interval (<= 0: DefaultLineInterval).
func NewLines(m *Model, w io.Writer, interval time.Duration) *Lines {
	if interval <= 0 {
		interval = DefaultLineInterval
	}
	return &Lines{m: m, w: w, interval: interval, last: map[string]time.Time{}, flag: map[string]bool{}}
}

// Counters takes in a counters event (already given to the model) and prints a line
// when it is time.
func (l *Lines) Counters(e plan.Event) {
	if e.Type != plan.EventCounters {
		return
	}
	key := e.Node + "|" + e.Target
	l.mu.Lock()
	defer l.mu.Unlock()
	if last, ok := l.last[key]; ok && e.Time.Sub(last) < l.interval && l.flag[key] == e.NoTraffic {
		return
	}
	l.last[key], l.flag[key] = e.Time, e.NoTraffic
	text := l.m.counters(e.Node, e.Target)
	if e.NoTraffic {
		text += " · no traffic matched yet"
	}
	fmt.Fprintf(l.w, "%s %s counters %s: %s\n", e.Time.Local().Format("15:04:05"), e.Node, e.Target, text)
}

// counters is one target's counters in words.
func (m *Model) counters(nodeName, targetName string) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.node(nodeName).target(targetName).counterText()
}
