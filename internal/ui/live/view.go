package live

import (
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"golang.org/x/term"

	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// ViewOptions wire a terminal view.
type ViewOptions struct {
	Out    io.Writer // the terminal the view is drawn on (stderr)
	Styles *ui.Styles
	// Width returns the terminal's width; nil or <= 0: 80.
	Width func() int
	// Keys is the terminal to read keys from (stdin), nil for none. It is put in raw
	// mode while the view runs and restored by Close.
	Keys *os.File
	// StopNode stops one node's helper; StopAll stops every one (as Ctrl-C).
	StopNode func(node string)
	StopAll  func()
	// Interval between redraws; default 1s.
	Interval time.Duration
	Now      func() time.Time
}

// View redraws a Model in place on a terminal.
type View struct {
	m     *Model
	o     ViewOptions
	mu    sync.Mutex
	lines int // lines of the last frame
	done  chan struct{}
	wg    sync.WaitGroup
	raw   *term.State
	once  sync.Once
}

// StartView draws m every Interval until Close, and handles keys.
func StartView(m *Model, o ViewOptions) *View {
	if o.Interval <= 0 {
		o.Interval = time.Second
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	v := &View{m: m, o: o, done: make(chan struct{})}
	if o.Keys != nil {
		if st, err := term.MakeRaw(int(o.Keys.Fd())); err == nil {
			v.raw = st
			go v.readKeys() // not waited for: a read on a terminal cannot be interrupted
		}
	}
	io.WriteString(o.Out, "\x1b[?25l") // hide the cursor while redrawing
	v.draw(true)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		t := time.NewTicker(o.Interval)
		defer t.Stop()
		for {
			select {
			case <-v.done:
				return
			case <-t.C:
				v.draw(true)
			}
		}
	}()
	return v
}

// Redraw draws the view now (after a key or an event worth showing at once).
func (v *View) Redraw() { v.draw(true) }

// Close stops redrawing, draws the last frame without the key help, gives the terminal
// back its mode and shows the cursor.
func (v *View) Close() {
	v.once.Do(func() {
		close(v.done)
		v.wg.Wait()
		v.draw(false)
		if v.raw != nil {
			_ = term.Restore(int(v.o.Keys.Fd()), v.raw)
		}
		io.WriteString(v.o.Out, "\x1b[?25h")
	})
}

func (v *View) draw(keys bool) {
	w := 80
	if v.o.Width != nil {
		if x := v.o.Width(); x > 0 {
			w = x
		}
	}
	frame := v.m.Render(v.o.Styles, w-1, v.o.Now(), keys && v.raw != nil)
	v.mu.Lock()
	defer v.mu.Unlock()
	var b strings.Builder
	if v.lines > 0 {
		fmt.Fprintf(&b, "\x1b[%dF", v.lines) // back to the first line of the last frame
	}
	b.WriteString("\x1b[J") // clear it and what follows
	// Raw mode turns off the terminal's newline translation: end lines with \r\n.
	b.WriteString(strings.ReplaceAll(frame, "\n", "\r\n"))
	v.lines = strings.Count(frame, "\n")
	io.WriteString(v.o.Out, b.String())
}

// readKeys: arrows or j/k select a node, s stops it, S stops all, Ctrl-C is passed on
// as the interrupt it would have been without raw mode.
func (v *View) readKeys() {
	buf := make([]byte, 16)
	for {
		n, err := v.o.Keys.Read(buf)
		if err != nil {
			return
		}
		select {
		case <-v.done:
			return
		default:
		}
		if v.key(string(buf[:n])) {
			v.Redraw()
		}
	}
}

// key acts on one key press and says whether the view changed.
func (v *View) key(k string) bool {
	switch {
	case k == "\x1b[A" || k == "k":
		v.m.Move(-1)
	case k == "\x1b[B" || k == "j":
		v.m.Move(1)
	case k == "s":
		if name := v.m.Selected(true); name != "" && v.o.StopNode != nil {
			v.o.StopNode(name)
		}
	case k == "S" || k == "q":
		if v.o.StopAll != nil {
			v.o.StopAll()
		}
	case strings.Contains(k, "\x03"):
		interrupt()
	default:
		return false
	}
	return true
}

// interrupt raises SIGINT in this process, as the terminal would outside raw mode: the
// first stops the session, a second exits at once (main's signal handling).
func interrupt() {
	if p, err := os.FindProcess(os.Getpid()); err == nil {
		_ = p.Signal(os.Interrupt)
	}
}
