package experiment

import (
	"bytes"
	"context"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui/live"
)

// sessionOutput is how an attached session shows itself on stderr (data, the report,
// always goes to stdout):
//   - --quiet: only errors;
//   - stderr a terminal: the live view, redrawn every second, with keys when stdin is a
//     terminal too (s stops the selected node, S all, as Ctrl-C);
//   - otherwise: one timestamped line per event, and each target's counters as rates
//     every 10 s (live.Lines).
type sessionOutput struct {
	events   func(plan.Event)
	progress io.Writer
	stopNode chan string
	view     *live.View
	quiet    bool
}

// newSessionOutput picks the output for p; cancel stops the whole session (the S key).
func newSessionOutput(o *Options, p *Prepared, ev *eventPrinter, cancel context.CancelFunc) *sessionOutput {
	s := &sessionOutput{stopNode: make(chan string, 4)}
	errOut := o.IO.ErrOut
	if o.Quiet {
		s.quiet = true
		s.progress = quietProgress(errOut)
		s.events = func(e plan.Event) {
			if e.Type == plan.EventError {
				ev.Print(e)
			}
		}
		return s
	}
	m := live.NewModel(live.Header{Experiment: p.ID, Fault: p.Fault.Summary(), Deadline: p.Deadline,
		Targets: len(p.Selection.Targets), Nodes: p.Selection.Nodes})
	f, isFile := errOut.(*os.File)
	if !o.IO.IsStderrTTY() || o.Detach || !isFile {
		lines := live.NewLines(m, errOut, 0)
		// Timestamped like the event lines, so a log of the run reads in order.
		s.progress = &lineFilter{w: errOut, line: func(l string) (string, bool) { return time.Now().Format("15:04:05") + " " + l, true }}
		s.events = func(e plan.Event) {
			m.Event(e)
			lines.Counters(e)
			ev.Print(e)
		}
		return s
	}
	vo := live.ViewOptions{Out: errOut, Styles: ui.NewStyles(errOut, o.IO.ErrColorEnabled()),
		Width: func() int { w, _, _ := term.GetSize(int(f.Fd())); return w },
		StopNode: func(n string) {
			select {
			case s.stopNode <- n:
			default:
			}
		},
		StopAll: cancel}
	if in, ok := o.IO.In.(*os.File); ok && o.IO.IsStdinTTY() {
		vo.Keys = in
	}
	s.view = live.StartView(m, vo)
	s.progress = &lineFilter{w: io.Discard, line: func(l string) (string, bool) { m.Progress(l); return "", false }}
	s.events = m.Event
	return s
}

// close ends the live view (its last frame stays on the terminal).
func (s *sessionOutput) close() {
	if s.view != nil {
		s.view.Close()
	}
}

// after is where progress goes once the session is over: stderr, unless --quiet.
func (s *sessionOutput) after(errOut io.Writer) io.Writer {
	if s.quiet {
		return s.progress
	}
	return errOut
}

// quietProgress is --quiet's progress: only the lines that report an error reach w.
func quietProgress(w io.Writer) io.Writer {
	return &lineFilter{w: w, line: func(l string) (string, bool) { return l, strings.HasPrefix(l, "error") }}
}

// lineFilter writes each complete line through line to w (or drops it).
type lineFilter struct {
	mu   sync.Mutex
	w    io.Writer
	line func(string) (string, bool)
	buf  bytes.Buffer
}

func (l *lineFilter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf.Write(p)
	for {
		i := bytes.IndexByte(l.buf.Bytes(), '\n')
		if i < 0 {
			return len(p), nil
		}
		line := strings.TrimRight(string(l.buf.Next(i+1)), "\n")
		if out, ok := l.line(line); ok {
			if _, err := io.WriteString(l.w, out+"\n"); err != nil {
				return len(p), err
			}
		}
	}
}
