package live

import (
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/charmbracelet/x/ansi"

	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Keys is the key help line of the view.
const Keys = "↑/↓ select node · s stop node · S stop all · Ctrl-C stop all"

// Render draws the view at width columns (every line cut to fit, so nothing wraps and
// the redraw stays in place). keys adds the key help line.
func (m *Model) Render(st *ui.Styles, width int, now time.Time, keys bool) string {
	if st == nil {
		st = ui.NewStyles(io.Discard, false)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	var lines []string
	add := func(format string, a ...any) { lines = append(lines, fmt.Sprintf(format, a...)) }

	left := "deadline passed"
	if d := m.h.Deadline.Sub(now).Round(time.Second); d > 0 {
		left = d.String() + " left"
	}
	if m.stopping {
		left = "stopping"
	}
	add("%s · %s · %s", st.Bold(m.h.Experiment), m.h.Fault, left)
	add("%d target(s) on %d node(s)", m.h.Targets, len(m.nodes))
	if keys {
		add("%s", st.Faint(Keys))
	}
	for i, n := range m.nodes {
		mark := "  "
		if keys && i == m.selected {
			mark = "▸ "
		}
		phase := n.phase
		if n.stop && !strings.HasPrefix(phase, "agent exited") {
			phase += ", stop asked"
		}
		add("")
		add("%s%s %s  %s", mark, st.Bold("node"), st.Bold(n.name), st.Faint(phase))
		for _, t := range n.targets {
			add("    %-28s %s", t.name, m.phaseText(st, t))
			if c := t.counterText(); c != "" {
				add("      %s", c)
			}
			for j, o := range t.objects {
				if j == 2 {
					add("      %s", st.Faint(fmt.Sprintf("… %d more object(s)", len(t.objects)-2)))
					break
				}
				add("      %s", st.Faint(o))
			}
		}
	}
	if len(m.log) > 0 {
		add("")
		for _, l := range m.log {
			add("%s", st.Faint(l))
		}
	}
	for i, l := range lines {
		lines[i] = ansi.Truncate(l, width, "…")
	}
	return strings.Join(lines, "\n") + "\n"
}

func (m *Model) phaseText(st *ui.Styles, t *target) string {
	switch {
	case t.phase == "error":
		return st.Red("error: " + t.err)
	case t.phase == "active" && t.noTraffic:
		return st.Yellow("active · no traffic matched yet")
	case t.phase == "active", t.phase == "recovered":
		return st.Green(t.phase)
	}
	return t.phase
}
