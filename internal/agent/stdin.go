package agent

import (
	"bufio"
	"io"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

type stdinMsg int

const (
	msgHeartbeat stdinMsg = iota
	msgStop
	msgEOF
)

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
		for sc.Scan() {
			switch strings.TrimSpace(sc.Text()) {
			case plan.StdinHeartbeat:
				if !send(msgHeartbeat) {
					return
				}
			case plan.StdinStop:
				if !send(msgStop) {
					return
				}
			}
		}
		send(msgEOF)
	}()
	return ch
}
