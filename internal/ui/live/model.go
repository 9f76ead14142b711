// Package live is what an attached session shows while the fault runs: on a terminal a
// view redrawn every second (targets grouped by node, phase, time left, what was
// injected, the agent's counters as rates, keys to stop one node or all); elsewhere
// plain timestamped lines, with the counters every few seconds. The model is fed the
// agents' events and knows nothing of the cluster.
package live

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Header is what the view says about the experiment.
type Header struct {
	Experiment string
	Fault      string
	Deadline   time.Time
	Targets    int
	Nodes      []string // every node with a helper, so a node is shown before its agent speaks
}

// Model is the state of the view; safe for concurrent use.
type Model struct {
	mu       sync.Mutex
	h        Header
	nodes    []*node
	selected int
	log      []string
	stopping bool
}

type node struct {
	name    string
	phase   string
	stop    bool // the operator asked this node to stop
	targets []*target
}

type target struct {
	name      string
	phase     string
	objects   []string
	cur, prev []plan.Counter
	curAt     time.Time
	prevAt    time.Time
	noTraffic bool
	err       string
}

// maxLog is how many recent event lines the view keeps.
const maxLog = 4

// NewModel starts a view of the experiment in h.
func NewModel(h Header) *Model {
	m := &Model{h: h}
	for _, n := range h.Nodes {
		m.node(n)
	}
	return m
}

func (m *Model) node(name string) *node {
	for _, n := range m.nodes {
		if n.name == name {
			return n
		}
	}
	n := &node{name: name, phase: "starting"}
	m.nodes = append(m.nodes, n)
	sort.Slice(m.nodes, func(i, j int) bool { return m.nodes[i].name < m.nodes[j].name })
	return n
}

func (n *node) target(name string) *target {
	for _, t := range n.targets {
		if t.name == name {
			return t
		}
	}
	t := &target{name: name, phase: "resolving"}
	n.targets = append(n.targets, t)
	return t
}

// Event takes in one agent event.
func (m *Model) Event(e plan.Event) {
	m.mu.Lock()
	defer m.mu.Unlock()
	n := m.node(e.Node)
	var t *target
	if e.Target != "" {
		t = n.target(e.Target)
	}
	switch e.Type {
	case plan.EventStarted:
		n.phase = "agent running"
		if e.Restart > 0 {
			n.phase = fmt.Sprintf("agent running (restart %d)", e.Restart)
		}
	case plan.EventResolved:
		t.phase = "resolved"
	case plan.EventInjected:
		t.phase = "active"
		t.objects = t.objects[:0]
		for _, o := range e.Objects {
			where := o.Kind
			if o.Interface != "" {
				where += " on " + o.Interface
			}
			t.objects = append(t.objects, where+": "+o.Spec)
		}
	case plan.EventCounters:
		t.prev, t.prevAt = t.cur, t.curAt
		t.cur, t.curAt = e.Counters, e.Time
		t.noTraffic = e.NoTraffic
	case plan.EventRecovered:
		t.phase = "recovered"
		t.noTraffic = false
	case plan.EventError:
		if t != nil {
			t.phase, t.err = "error", firstLine(e.Error)
		}
		m.addLog(e)
	case plan.EventExit:
		n.phase = "agent exited (" + e.Reason + ")"
	case plan.EventNote:
		m.addLog(e)
	}
}

func (m *Model) addLog(e plan.Event) {
	line := e.Time.Local().Format("15:04:05") + " " + e.Node + " " + e.Type
	if e.Target != "" {
		line += " " + e.Target
	}
	if e.Message != "" {
		line += ": " + e.Message
	}
	if e.Error != "" {
		line += ": " + e.Error
	}
	m.log = append(m.log, firstLine(line))
	if len(m.log) > maxLog {
		m.log = m.log[len(m.log)-maxLog:]
	}
}

// Progress takes in one progress line of the session ("stopping…").
func (m *Model) Progress(line string) {
	m.mu.Lock()
	defer m.mu.Unlock()
	line = strings.TrimSpace(line)
	if line == "" {
		return
	}
	if line == "stopping…" {
		m.stopping = true
	}
	m.log = append(m.log, time.Now().Local().Format("15:04:05")+" "+firstLine(line))
	if len(m.log) > maxLog {
		m.log = m.log[len(m.log)-maxLog:]
	}
}

// Move moves the selection by d nodes.
func (m *Model) Move(d int) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.nodes) == 0 {
		return
	}
	m.selected = (m.selected + d + len(m.nodes)) % len(m.nodes)
}

// Selected is the selected node's name and marks it as asked to stop when stop is set.
func (m *Model) Selected(stop bool) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	if len(m.nodes) == 0 {
		return ""
	}
	n := m.nodes[min(m.selected, len(m.nodes)-1)]
	if stop {
		n.stop = true
	}
	return n.name
}

// rate is the counter's rate per second between the last two reads, or false.
func (t *target) rate(c plan.Counter) (float64, bool) {
	if c.Gauge || t.prevAt.IsZero() || !t.curAt.After(t.prevAt) {
		return 0, false
	}
	for _, p := range t.prev {
		if p.Name == c.Name && c.Value >= p.Value {
			return float64(c.Value-p.Value) / t.curAt.Sub(t.prevAt).Seconds(), true
		}
	}
	return 0, false
}

// counterText is the counters of t in words: rates for running totals (with the total),
// levels as they are.
func (t *target) counterText() string {
	var parts []string
	for _, c := range t.cur {
		switch r, ok := t.rate(c); {
		case c.Gauge:
			parts = append(parts, c.Name+" "+formatValue(c))
		case ok && c.Unit == plan.UnitCPUMillis:
			// CPU-milliseconds per second of wall time: the CPUs used.
			parts = append(parts, fmt.Sprintf("%s %.2f CPU (%s)", c.Name, r/1000, formatValue(c)))
		case ok:
			parts = append(parts, fmt.Sprintf("%s %s/s (%s)", c.Name, formatRate(r), formatValue(c)))
		default:
			parts = append(parts, c.Name+" "+formatValue(c))
		}
	}
	return strings.Join(parts, " · ")
}

// formatValue is a counter's value in its unit: sizes as 96Mi, CPU time as 12.3s.
func formatValue(c plan.Counter) string {
	switch c.Unit {
	case plan.UnitBytes:
		return plan.FormatBytes(c.Value)
	case plan.UnitCPUMillis:
		return (time.Duration(c.Value) * time.Millisecond).Round(100 * time.Millisecond).String()
	}
	return strconv.FormatUint(c.Value, 10)
}

func formatRate(r float64) string {
	switch {
	case r >= 10000:
		return fmt.Sprintf("%.0fk", r/1000)
	case r >= 100:
		return fmt.Sprintf("%.0f", r)
	default:
		return fmt.Sprintf("%.1f", r)
	}
}

func firstLine(s string) string {
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		return s[:i]
	}
	return s
}
