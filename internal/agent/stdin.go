package agent

import (
	"bufio"
	"io"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

type msgKind int

const (
	msgHeartbeat msgKind = iota
	msgStop
	msgEOF
	msgPlan // a serving agent's "plan KEY JSON"; arg is "KEY JSON"
)

// stdinMsg is one line of the operator's stdin. arg is a stop or heartbeat line's step
// ID ("" = the whole agent) or a plan line's "KEY JSON".
type stdinMsg struct {
	kind msgKind
	arg  string
}

// maxLine bounds one stdin line (a step plan with its targets).
const maxLine = 1 << 20

// readStdin turns the operator's stdin lines into messages; EOF (or a read error) is
// the last one. Unknown lines are ignored.
func readStdin(r io.Reader, done <-chan struct{}) <-chan stdinMsg {
	ch := make(chan stdinMsg, 8)
	send := func(m stdinMsg) bool {
		select {
		case ch <- m:
			return true
		case <-done:
			return false
		}
	}
	go func() {
		sc := bufio.NewScanner(r)
		sc.Buffer(make([]byte, 64*1024), maxLine)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			cmd, arg, _ := strings.Cut(line, " ")
			var m stdinMsg
			switch {
			case cmd == plan.StdinHeartbeat:
				// "heartbeat STEP": a warm helper's step's own dead-man switch.
				m = stdinMsg{kind: msgHeartbeat, arg: strings.TrimSpace(arg)}
			case cmd == plan.StdinStop:
				m = stdinMsg{kind: msgStop, arg: strings.TrimSpace(arg)}
			case cmd == plan.StdinPlan && arg != "":
				m = stdinMsg{kind: msgPlan, arg: arg}
			default:
				continue
			}
			if !send(m) {
				return
			}
		}
		send(stdinMsg{kind: msgEOF})
	}()
	return ch
}
