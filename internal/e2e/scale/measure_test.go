package scale

import (
	"bytes"
	"fmt"
	"net/http"
	"os"
	"regexp"
	"runtime"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"k8s.io/client-go/rest"
)

// counter counts the CLI's requests to the API server by verb and resource ("create
// pods", "watch pods") and notes when the helper creates and deletes were sent and
// answered.
type counter struct {
	mu     sync.Mutex
	counts map[string]int
	first  map[string]time.Time // per "verb resource": first sent
	last   map[string]time.Time // per "verb resource": last answered
}

func newCounter() *counter {
	return &counter{counts: map[string]int{}, first: map[string]time.Time{}, last: map[string]time.Time{}}
}

// wrap is a ConfigFlags.WrapConfigFn: every client built from the config counts.
func (c *counter) wrap(cfg *rest.Config) *rest.Config {
	cfg.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		return roundTripper(func(req *http.Request) (*http.Response, error) {
			key := requestKey(req)
			c.mu.Lock()
			c.counts[key]++
			if _, ok := c.first[key]; !ok {
				c.first[key] = time.Now()
			}
			c.mu.Unlock()
			resp, err := rt.RoundTrip(req)
			c.mu.Lock()
			c.last[key] = time.Now()
			c.mu.Unlock()
			return resp, err
		})
	})
	return cfg
}

type roundTripper func(*http.Request) (*http.Response, error)

func (f roundTripper) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// requestKey is "verb resource" of an API request, as the API server's audit log names
// them: get/list/watch/create/update/patch/delete.
func requestKey(r *http.Request) string {
	segs := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case len(segs) >= 2 && segs[0] == "api":
		segs = segs[2:]
	case len(segs) >= 3 && segs[0] == "apis":
		segs = segs[3:]
	default:
		return "discovery " + r.URL.Path
	}
	if len(segs) == 0 {
		return "discovery " + r.URL.Path
	}
	resource, name := segs[0], ""
	if len(segs) > 1 {
		name = segs[1]
	}
	if segs[0] == "namespaces" && len(segs) >= 3 {
		resource, name = segs[2], ""
		if len(segs) > 3 {
			name = segs[3]
		}
		if len(segs) > 4 {
			resource += "/" + segs[4]
		}
	}
	verb := strings.ToLower(r.Method)
	switch r.Method {
	case http.MethodGet:
		switch q := r.URL.Query(); {
		case q.Get("watch") == "true" || q.Get("watch") == "1":
			verb = "watch"
		case name == "":
			verb = "list"
		}
	case http.MethodPost:
		verb = "create"
	case http.MethodPut:
		verb = "update"
	}
	return verb + " " + resource
}

// total is the requests the experiment itself makes; the targets' Kubernetes Events
// (one per target pod and step, written asynchronously and rate-limited: issue 14) are
// counted apart, by events.
func (c *counter) total() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.counts {
		if !isEvents(k) {
			n += v
		}
	}
	return n
}

// events is the requests on events (the targets' Kubernetes Events).
func (c *counter) events() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for k, v := range c.counts {
		if isEvents(k) {
			n += v
		}
	}
	return n
}

func isEvents(key string) bool { return strings.HasSuffix(key, " events") }

// summary is "create pods 100, delete pods 100, …", largest first.
func (c *counter) summary() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	keys := make([]string, 0, len(c.counts))
	for k := range c.counts {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if c.counts[keys[i]] != c.counts[keys[j]] {
			return c.counts[keys[i]] > c.counts[keys[j]]
		}
		return keys[i] < keys[j]
	})
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = fmt.Sprintf("%s %d", k, c.counts[k])
	}
	return strings.Join(parts, ", ")
}

func (c *counter) count(key string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.counts[key]
}

func (c *counter) lastAt(key string) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.last[key]
}

// memSampler follows the Go heap in use (peak) and the process's peak RSS from the
// moment it starts (VmHWM is reset through clear_refs).
type memSampler struct {
	base     runtime.MemStats
	cpu      time.Duration
	peakHeap uint64
	stop     chan struct{}
	done     chan struct{}
}

func startMem() *memSampler {
	runtime.GC()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
	m := &memSampler{stop: make(chan struct{}), done: make(chan struct{})}
	runtime.ReadMemStats(&m.base)
	m.cpu = cpuTime()
	m.peakHeap = m.base.HeapInuse
	go func() {
		defer close(m.done)
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		var s runtime.MemStats
		for {
			select {
			case <-m.stop:
				return
			case <-t.C:
				runtime.ReadMemStats(&s)
				m.peakHeap = max(m.peakHeap, s.HeapInuse)
			}
		}
	}()
	return m
}

// memResult: the heap's peak above what was in use at the start, the bytes allocated
// meanwhile, the process's peak RSS (MiB).
type memResult struct {
	HeapPeakMiB, HeapBaseMiB, AllocMiB, RSSPeakMiB float64
	// CPU is the process's CPU time (user + system) meanwhile.
	CPU time.Duration
}

func (m *memSampler) end() memResult {
	close(m.stop)
	<-m.done
	var s runtime.MemStats
	runtime.ReadMemStats(&s)
	const mib = 1 << 20
	return memResult{
		HeapPeakMiB: float64(m.peakHeap-min(m.peakHeap, m.base.HeapInuse)) / mib,
		HeapBaseMiB: float64(m.base.HeapInuse) / mib,
		AllocMiB:    float64(s.TotalAlloc-m.base.TotalAlloc) / mib,
		RSSPeakMiB:  float64(vmHWM()) / 1024,
		CPU:         cpuTime() - m.cpu,
	}
}

// vmHWM is the process's peak RSS in KiB (0 if unknown).
func vmHWM() int {
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for _, l := range strings.Split(string(b), "\n") {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmHWM:" {
			n, _ := strconv.Atoi(f[1])
			return n
		}
	}
	return 0
}

// progressWatch is the CLI's stderr: kept, and watched for "fault active on N/N".
type progressWatch struct {
	mu     sync.Mutex
	buf    bytes.Buffer
	want   int
	active chan struct{}
	at     time.Time
	once   sync.Once
}

var activeLine = regexp.MustCompile(`fault active on (\d+)/(\d+) targets`)

func newProgressWatch(want int) *progressWatch {
	return &progressWatch{want: want, active: make(chan struct{})}
}

func (p *progressWatch) Write(b []byte) (int, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.buf.Write(b)
	for _, m := range activeLine.FindAllSubmatch(b, -1) {
		if n, _ := strconv.Atoi(string(m[1])); n >= p.want {
			p.once.Do(func() { p.at = time.Now(); close(p.active) })
		}
	}
	return len(b), nil
}

func (p *progressWatch) String() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.buf.String()
}

// rows are the benchmark results, printed as one table after the run (TestMain).
var (
	rowsMu sync.Mutex
	rows   []string
)

func addRow(format string, a ...any) {
	rowsMu.Lock()
	rows = append(rows, fmt.Sprintf(format, a...))
	rowsMu.Unlock()
}

func ms(d time.Duration) string {
	if d <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.2f s", d.Seconds())
}
