package session

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// The stdin protocol (docs/agent.md): the CLI writes a heartbeat line the moment an
// attach is up and every HeartbeatInterval after; to stop an agent it writes a stop
// line and closes stdin (EOF, which alone also means "the operator is gone"). The agent
// writes one JSON event per line on stdout.

// attachment is one attach stream to one container instance of a helper.
type attachment struct {
	restart  int32
	cmds     chan string // lines for the agent's stdin; "" closes stdin
	closed   bool        // stdin close queued
	cmdsDone bool
	cancel   context.CancelFunc
	started  time.Time
	gotEvent bool
	ended    bool // the stream is gone: stdin no longer reaches this agent
	endedAt  time.Time
	// probe: started before the pod status showed the container running (early
	// attach); until it carries an event it may not have reached any agent, and its
	// failure then only means "not yet".
	probe bool
}

// deaf: the stream ended before the stop request, so the stop line never reached the
// agent; only deleting the pod (SIGTERM) stops it.
func (a *attachment) deaf(stopAt time.Time) bool {
	return a == nil || (a.ended && a.endedAt.Before(stopAt))
}

// lineEvent is one event line from an attachment, or (end set) the end of that
// attachment: both travel on one channel so the end comes after the last event.
type lineEvent struct {
	h   *helper
	att *attachment
	ev  plan.Event
	at  time.Time
	end *attachEnd
}

type attachEnd struct {
	h   *helper
	att *attachment
	err error
}

// startAttach attaches to the helper's container (restart -1: not known yet, a probe):
// three goroutines, one writing stdin, one reading events, one holding the stream.
func (r *runner) startAttach(h *helper, restart int32, probe bool) {
	actx, cancel := context.WithCancel(r.bg)
	att := &attachment{restart: restart, cmds: make(chan string, 64), cancel: cancel, started: time.Now(), probe: probe}
	h.att = att
	r.atts = append(r.atts, att)
	r.trace("attach-start", h, att.started)
	h.streamLostAt = time.Time{}
	h.sawExit = false

	if r.phase == phaseRunning {
		// A heartbeat at once: an agent waiting for its operator hears it now.
		r.send(att, plan.StdinHeartbeat)
	} else {
		// Restarted while we stop: tell the new agent at once.
		h.stopAt = time.Now()
		r.stopAgent(att)
	}
	stdinR, stdinW := io.Pipe()
	stdoutR, stdoutW := io.Pipe()
	readerDone := make(chan struct{})
	ns := h.pod.Namespace // h is the loop's: read it here, not in the goroutines
	r.wg.Add(3)
	go r.writeStdin(att, stdinW)
	go r.readEvents(h, att, stdoutR, readerDone)
	go func() { // the attach stream itself
		defer r.wg.Done()
		err := r.o.Attacher.Attach(actx, ns, h.name, helperpod.ContainerName, stdinR, stdoutW)
		stdoutW.Close()
		<-readerDone
		stdinR.CloseWithError(errors.New("attach stream ended"))
		select {
		case r.evCh <- lineEvent{h: h, att: att, end: &attachEnd{h: h, att: att, err: err}}:
		case <-r.quit:
		}
	}()
}

// writeStdin is the only writer of the agent's stdin: the queued lines, then EOF.
func (r *runner) writeStdin(att *attachment, stdin *io.PipeWriter) {
	defer r.wg.Done()
	for line := range att.cmds {
		if line == "" {
			stdin.Close()
			return
		}
		if _, err := io.WriteString(stdin, line+"\n"); err != nil {
			return
		}
	}
	stdin.Close()
}

// readEvents reads one plan.Event per line of the agent's stdout onto evCh; a line
// that is not an event becomes a note.
func (r *runner) readEvents(h *helper, att *attachment, stdout *io.PipeReader, done chan<- struct{}) {
	defer r.wg.Done()
	defer close(done)
	sc := bufio.NewScanner(stdout)
	sc.Buffer(make([]byte, 64*1024), 1<<20)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" {
			continue
		}
		var ev plan.Event
		if err := json.Unmarshal([]byte(line), &ev); err != nil || ev.Type == "" {
			ev = plan.Event{Time: time.Now(), Type: plan.EventNote, Message: truncate(line, 500)}
		}
		select {
		case r.evCh <- lineEvent{h: h, att: att, ev: ev, at: time.Now()}:
		case <-r.quit:
			stdout.CloseWithError(io.ErrClosedPipe)
			return
		}
	}
	stdout.CloseWithError(io.ErrClosedPipe)
}

// send queues a line for the agent's stdin ("" closes it). Never blocks: a heartbeat is
// dropped if the stream is backed up; stop and close always fit (a pool's plan lines
// leave them room).
func (r *runner) send(att *attachment, line string) {
	if att == nil || att.closed || att.cmdsDone {
		return
	}
	if line == plan.StdinHeartbeat && len(att.cmds) > 0 {
		return
	}
	select {
	case att.cmds <- line:
		if line == "" {
			att.closed = true
		}
	default:
	}
}

// stopAgent asks the agent behind att to stop: the stop line, then EOF.
func (r *runner) stopAgent(att *attachment) {
	r.send(att, plan.StdinStop)
	r.send(att, "")
}

// closeAttachment ends the stdin writer of att (closing stdin = EOF to the agent).
func (r *runner) closeAttachment(att *attachment) {
	if att == nil || att.cmdsDone {
		return
	}
	att.cmdsDone = true
	close(att.cmds)
}
