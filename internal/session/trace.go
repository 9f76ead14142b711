package session

import (
	"context"
	"log/slog"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// trace logs one step of the session at info level (-v), with its wall-clock time, so
// the time to an active fault can be split into phases (make bench-e2e reads these
// lines and the agent's marks).
func (r *runner) trace(step string, h *helper, at time.Time) {
	if !slog.Default().Enabled(r.bg, slog.LevelInfo) {
		return
	}
	name := ""
	if h != nil {
		name = h.name
	}
	slog.Info("session step", "step", step, "helper", name, "at", at.UTC().Format(time.RFC3339Nano),
		"since", at.Sub(r.start).Round(100*time.Microsecond).String())
}

// traceMarks logs the agent's marks that came with its first injected event.
func (r *runner) traceMarks(h *helper, marks []plan.Mark) {
	for _, m := range marks {
		r.trace("agent-"+m.Name, h, m.At)
	}
}

// Step logs a step of the command before its session starts (the CLI's own start,
// its target resolution), in the session steps' format, at info level (-v).
func Step(step string, at time.Time) {
	if !slog.Default().Enabled(context.Background(), slog.LevelInfo) {
		return
	}
	slog.Info("session step", "step", step, "helper", "", "at", at.UTC().Format(time.RFC3339Nano))
}
