package probe

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// IOReport is what the echo workload's IO mode (`echo iowork DIR`) serves on /io: the
// writes it made since the last reset, through a file it opens for each write (fresh)
// and through one it opened at start and holds (held).
type IOReport struct {
	Fresh IOStats `json:"fresh"`
	Held  IOStats `json:"held"`
	// FUSE counts the FUSE mounts in the workload's own mount table.
	FUSE int `json:"fuse"`
}

// IOStats are the calls of one kind: how many, the errors by message, the latency.
type IOStats struct {
	Ops    int            `json:"ops"`
	Errors map[string]int `json:"errors,omitempty"`
	P50Ms  float64        `json:"p50Ms"`
	P90Ms  float64        `json:"p90Ms"`
}

// ErrorRate is the percentage of calls that failed with msg ("" = any error).
func (s IOStats) ErrorRate(msg string) float64 {
	if s.Ops == 0 {
		return 0
	}
	n := 0
	for k, v := range s.Errors {
		if msg == "" || k == msg {
			n += v
		}
	}
	return 100 * float64(n) / float64(s.Ops)
}

// IOWorker appends size bytes every interval to DIR/fresh.dat (open, write, close) and
// to DIR/held.log (a descriptor opened once, before any fault), measuring each write.
type IOWorker struct {
	mu          sync.Mutex
	fresh, held ioSamples
}

type ioSamples struct {
	lat  []time.Duration
	errs map[string]int
}

func (s *ioSamples) add(d time.Duration, err error) {
	if err != nil {
		var en syscall.Errno
		msg := err.Error()
		if errors.As(err, &en) {
			msg = en.Error()
		}
		if s.errs == nil {
			s.errs = map[string]int{}
		}
		s.errs[msg]++
	}
	s.lat = append(s.lat, d)
}

func (s *ioSamples) stats() IOStats {
	return IOStats{Ops: len(s.lat), Errors: s.errs, P50Ms: Percentile(s.lat, 50), P90Ms: Percentile(s.lat, 90)}
}

// Run writes until stop is closed.
func (w *IOWorker) Run(dir string, interval time.Duration, size int, stop <-chan struct{}) error {
	held, err := os.OpenFile(filepath.Join(dir, "held.log"), os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	defer held.Close()
	buf := []byte(strings.Repeat("x", size-1) + "\n")
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
		t := time.Now()
		err := appendOnce(filepath.Join(dir, "fresh.dat"), buf)
		d := time.Since(t)
		t = time.Now()
		_, herr := held.Write(buf)
		hd := time.Since(t)
		w.mu.Lock()
		w.fresh.add(d, err)
		w.held.add(hd, herr)
		w.mu.Unlock()
	}
}

func appendOnce(path string, b []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(b)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}

// Report returns the stats since the last reset, and resets them if asked.
func (w *IOWorker) Report(reset bool) IOReport {
	w.mu.Lock()
	defer w.mu.Unlock()
	r := IOReport{Fresh: w.fresh.stats(), Held: w.held.stats(), FUSE: fuseMounts()}
	if reset {
		w.fresh, w.held = ioSamples{}, ioSamples{}
	}
	return r
}

func fuseMounts() int {
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		return -1
	}
	return strings.Count(string(b), " - fuse")
}
