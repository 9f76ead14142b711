package live

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

var t0 = time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)

// session is two nodes: one target dropping traffic (its counters move), one that
// matched nothing (flagged), and a node whose agent has not spoken yet.
func session() *Model {
	m := NewModel(Header{Experiment: "chaos-4b43abcd", Fault: "network loss 30% (udp port 7610)", Deadline: t0.Add(5 * time.Minute),
		Targets: 3, Nodes: []string{"node-a", "node-b", "node-c"}})
	at := func(s float64) time.Time { return t0.Add(time.Duration(s * float64(time.Second))) }
	objs := []plan.Object{
		{Kind: "nft-table", Spec: "netdev kubectl_chaos_chaos_4b43abcd_0123456789ab (owner)"},
		{Kind: "nft-chain", Interface: "eth0", Spec: "egress hook priority -500: udp port 7610 numgen random mod 10000 < 3000 drop"},
		{Kind: "nft-chain", Interface: "eth1", Spec: "egress hook priority -500"},
	}
	for _, e := range []plan.Event{
		{Time: at(0), Type: plan.EventStarted, Node: "node-a"},
		{Time: at(0.1), Type: plan.EventResolved, Node: "node-a", Target: "default/web-1/app"},
		{Time: at(0.2), Type: plan.EventInjected, Node: "node-a", Target: "default/web-1/app", Objects: objs},
		{Time: at(0), Type: plan.EventStarted, Node: "node-b"},
		{Time: at(0.3), Type: plan.EventInjected, Node: "node-b", Target: "shop/cart-7d9f/cart", Objects: objs[:1]},
		{Time: at(0.3), Type: plan.EventNote, Node: "node-b", Message: "sch_netem is missing on node node-b: loss is done with nftables"},
		{Time: at(10), Type: plan.EventCounters, Node: "node-a", Target: "default/web-1/app", Counters: []plan.Counter{
			{Name: "nft matched", Value: 8000, Traffic: true}, {Name: "nft dropped", Value: 2400}}},
		{Time: at(11), Type: plan.EventCounters, Node: "node-a", Target: "default/web-1/app", Counters: []plan.Counter{
			{Name: "nft matched", Value: 8812, Traffic: true}, {Name: "nft dropped", Value: 2640}, {Name: "nfqueue held", Value: 3, Gauge: true}}},
		{Time: at(11), Type: plan.EventCounters, Node: "node-b", Target: "shop/cart-7d9f/cart", NoTraffic: true, Counters: []plan.Counter{
			{Name: "nft matched", Value: 0, Traffic: true}, {Name: "nft dropped", Value: 0}}},
		{Time: at(11), Type: plan.EventNote, Node: "node-b", Target: "shop/cart-7d9f/cart", Message: "no traffic matched yet: 11s after injection, none of the fault's counters moved"},
	} {
		m.Event(e)
	}
	return m
}

func golden(t *testing.T, name, got string) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./internal/ui/live -update)", err)
	}
	if got != string(want) {
		t.Errorf("%s differs (go test ./internal/ui/live -update rewrites it):\n--- got\n%s--- want\n%s", name, got, want)
	}
}

func TestRenderGolden(t *testing.T) {
	time.Local = time.UTC
	for _, w := range []int{80, 120} {
		m := session()
		m.Move(1) // node-b selected
		got := m.Render(ui.NewStyles(&bytes.Buffer{}, false), w, t0.Add(71*time.Second), true)
		for i, l := range strings.Split(strings.TrimSuffix(got, "\n"), "\n") {
			if n := len([]rune(l)); n > w {
				t.Errorf("width %d: line %d has %d columns: %q", w, i+1, n, l)
			}
		}
		golden(t, fmt.Sprintf("live-%d.golden", w), got)
	}
}

// Color only where the caller's styles allow it (NO_COLOR and non-terminals get none).
func TestRenderColor(t *testing.T) {
	m := session()
	plain := m.Render(ui.NewStyles(&bytes.Buffer{}, false), 120, t0, true)
	color := m.Render(ui.NewStyles(&bytes.Buffer{}, true), 120, t0, true)
	if strings.Contains(plain, "\x1b[") || !strings.Contains(color, "\x1b[") {
		t.Errorf("escape codes: plain %v, color %v", strings.Contains(plain, "\x1b["), strings.Contains(color, "\x1b["))
	}
}

func TestRates(t *testing.T) {
	m := session()
	got := m.counters("node-a", "default/web-1/app")
	if want := "nft matched 812/s (8812) · nft dropped 240/s (2640) · nfqueue held 3"; got != want {
		t.Errorf("counters %q, want %q", got, want)
	}
}

// Stressor counters: CPU time as the CPUs it uses, sizes in binary units.
func TestUnits(t *testing.T) {
	m := NewModel(Header{Experiment: "x", Nodes: []string{"n"}})
	for i, ms := range []uint64{12000, 13980} {
		m.Event(plan.Event{Time: t0.Add(time.Duration(i) * time.Second), Type: plan.EventCounters, Node: "n", Target: "ns/p/c",
			Counters: []plan.Counter{{Name: "stressor cpu", Value: ms, Unit: plan.UnitCPUMillis},
				{Name: "stressor held", Value: 96 << 20, Unit: plan.UnitBytes, Gauge: true},
				{Name: "cgroup oom kills", Value: 0, Unit: "processes"}}})
	}
	got := m.counters("n", "ns/p/c")
	if want := "stressor cpu 1.98 CPU (14s) · stressor held 96Mi · cgroup oom kills 0.0/s (0)"; got != want {
		t.Errorf("counters %q, want %q", got, want)
	}
}

func TestLines(t *testing.T) {
	time.Local = time.UTC
	m := NewModel(Header{Experiment: "x", Nodes: []string{"n"}})
	var b bytes.Buffer
	l := NewLines(m, &b, 10*time.Second)
	for i := range 25 {
		e := plan.Event{Time: t0.Add(time.Duration(i) * time.Second), Type: plan.EventCounters, Node: "n", Target: "ns/p/c",
			Counters: []plan.Counter{{Name: "nft matched", Value: uint64(100 * i), Traffic: true}}, NoTraffic: i == 0 || i == 1}
		m.Event(e)
		l.Counters(e)
	}
	want := "21:00:00 n counters ns/p/c: nft matched 0 · no traffic matched yet\n" +
		"21:00:02 n counters ns/p/c: nft matched 100/s (200)\n" +
		"21:00:12 n counters ns/p/c: nft matched 100/s (1200)\n" +
		"21:00:22 n counters ns/p/c: nft matched 100/s (2200)\n"
	if b.String() != want {
		t.Errorf("lines:\n%s\nwant:\n%s", b.String(), want)
	}
}

// syncBuf is a terminal stand-in the view writes to from its redraw goroutine.
type syncBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuf) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuf) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The view redraws in place (back to its first line, clear, the frame), keys select and
// stop nodes, and Close leaves the last frame without the key help and the cursor shown.
func TestViewRedrawAndKeys(t *testing.T) {
	m := session()
	var out syncBuf
	var stopped []string
	all := 0
	v := StartView(m, ViewOptions{Out: &out, Interval: 10 * time.Millisecond, Width: func() int { return 100 },
		Now: func() time.Time { return t0 }, StopNode: func(n string) { stopped = append(stopped, n) }, StopAll: func() { all++ }})
	time.Sleep(50 * time.Millisecond)
	for _, k := range []string{"j", "j", "s", "\x1b[A", "s", "S", "x"} {
		v.key(k)
	}
	v.Close()
	got := out.String()
	frame := m.Render(nil, 99, t0, false)
	lines := strings.Count(frame, "\n")
	if !strings.HasPrefix(got, "\x1b[?25l\x1b[J") || !strings.Contains(got, fmt.Sprintf("\x1b[%dF\x1b[J", lines)) ||
		!strings.HasSuffix(got, strings.ReplaceAll(frame, "\n", "\r\n")+"\x1b[?25h") {
		t.Errorf("redraw sequence wrong:\n%q", got)
	}
	if strings.Join(stopped, ",") != "node-c,node-b" || all != 1 {
		t.Errorf("stopped %v, stop all %d: want node-c,node-b and 1", stopped, all)
	}
	if !strings.Contains(m.Render(nil, 120, t0, false), "node node-c  starting, stop asked") {
		t.Errorf("a node asked to stop is not marked")
	}
}
