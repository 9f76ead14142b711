package agent

import (
	"bytes"
	"io"
	"sync"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// pageDropper passes the agent's event lines through and drops the executable's
// read-only pages (dropExecPages) shortly after the last "injected" event, when the
// inject path is done and the agent settles into waiting for heartbeats.
type pageDropper struct {
	w     io.Writer
	drop  func() int
	mu    sync.Mutex
	timer *time.Timer
}

// dropDelay lets the other targets' injections finish before the drop.
const dropDelay = 200 * time.Millisecond

var injectedEvent = []byte(`"type":"` + plan.EventInjected + `"`)

func newPageDropper(w io.Writer) *pageDropper { return &pageDropper{w: w, drop: dropExecPages} }

func (d *pageDropper) Write(p []byte) (int, error) {
	n, err := d.w.Write(p)
	if bytes.Contains(p, injectedEvent) {
		d.mu.Lock()
		if d.timer == nil {
			d.timer = time.AfterFunc(dropDelay, func() { d.drop() })
		} else {
			d.timer.Reset(dropDelay)
		}
		d.mu.Unlock()
	}
	return n, err
}

func (d *pageDropper) stop() {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.timer != nil {
		d.timer.Stop()
	}
}
