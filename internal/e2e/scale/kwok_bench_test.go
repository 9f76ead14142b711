package scale

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/history"
	"github.com/kubectl-chaos/kubectl-chaos/internal/session"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
	"k8s.io/client-go/rest"
)

// envInt reads a size from the environment (make bench-scale SCALE_NODES=…).
func envInt(name string, def int) int {
	if n, err := strconv.Atoi(os.Getenv(name)); err == nil && n > 0 {
		return n
	}
	return def
}

const targetNS = "scale"

// BenchmarkKwok: SCALE_NODES kwok nodes (100), SCALE_PODS target pods (1000), one
// experiment over all of them, then SCALE_ONE_BY_ONE (20) of the same pods each in an
// experiment of its own, one after the other.
func BenchmarkKwok(b *testing.B) {
	nodes, pods := envInt("SCALE_NODES", 100), envInt("SCALE_PODS", 1000)
	oneByOne := min(envInt("SCALE_ONE_BY_ONE", 20), pods)
	c := startCluster(b)
	c.populate(b, nodes, pods, targetNS)
	node := startNodeSide(b, envKubeconfig+"="+c.kubeconfig)
	b.Run(fmt.Sprintf("nodes=%d/pods=%d/all", nodes, pods), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			r := runCLI(b, c, node, pods, "-l", "app=scale")
			r.waitGone(b, node, nodes)
			r.report(b, "all at once", nodes, pods)
			// The requests must follow the nodes (one create and one delete per helper,
			// a few lists and watches), not the pods; the targets' Events are apart (one
			// per target and step, asynchronous) and at most 2 per target pod.
			if got := r.counter.total(); got > 3*nodes+30 {
				b.Errorf("%d API requests for %d nodes and %d pods (%s): more than 3 per node + 30", got, nodes, pods, r.counter.summary())
			}
			if ev := r.counter.events(); ev > 2*pods {
				b.Errorf("%d Events for %d target pods (%s): more than inject + recover per pod", ev, pods, r.counter.summary())
			}
		}
	})
	b.Run(fmt.Sprintf("nodes=%d/pods=%d/one-by-one", nodes, oneByOne), func(b *testing.B) {
		for i := 0; i < b.N; i++ {
			var wall, active time.Duration
			requests := 0
			var heap, rss float64
			var cpu time.Duration
			for p := 0; p < oneByOne; p++ {
				r := runCLI(b, c, node, 1, fmt.Sprintf("app-%04d", p))
				wall += r.returned
				active += r.active
				requests += r.counter.total()
				heap, rss = max(heap, r.mem.HeapPeakMiB), max(rss, r.mem.RSSPeakMiB)
				cpu += r.mem.CPU
			}
			per := wall / time.Duration(oneByOne)
			b.ReportMetric(per.Seconds(), "s/pod")
			b.ReportMetric(float64(requests)/float64(oneByOne), "requests/pod")
			addRow("| one by one: %d of the pods, each its own experiment | 1 each | 1 each | | | %s per pod | | %s per pod → %s for all %d | | %.1f per pod → %d for all %d | | %s per pod | %.1f | %.0f |",
				oneByOne, ms(active/time.Duration(oneByOne)), ms(per), ms(per*time.Duration(pods)), pods,
				float64(requests)/float64(oneByOne), requests*pods/oneByOne, pods, ms(cpu/time.Duration(oneByOne)), heap, rss)
		}
	})
}

// cliRun is one run of the CLI: times from its start, the requests it made, its memory.
type cliRun struct {
	start    time.Time
	active   time.Duration // every target active (its progress line)
	stopped  time.Time     // Ctrl-C
	returned time.Duration
	counter  *counter
	mem      memResult
	rep      *session.Report
	lastGone time.Duration
	stats    *nodeStats
}

// runCLI runs `kubectl chaos stress cpu -n scale ARGS…` the way a user does (the real
// factory and kubeconfig; only the attacher points at the node side), waits until every
// one of want targets is active, then interrupts it (Ctrl-C) and waits for it to return.
func runCLI(tb testing.TB, c *cluster, node *nodeSideProc, want int, args ...string) *cliRun {
	tb.Helper()
	tb.Setenv(app.ConfigEnv, "/nonexistent/kubectl-chaos-scale.yaml")
	// Its history and locks go to a directory of its own, not the user's: every bench run
	// added its stress runs to `kubectl chaos history` on this machine.
	state := tb.TempDir()
	tb.Setenv(history.EnvStateDir, state)
	prog := newProgressWatch(want)
	var out strings.Builder
	f := factory.New(&ui.IOStreams{In: strings.NewReader(""), Out: &out, ErrOut: prog})
	r := &cliRun{counter: newCounter()}
	f.ConfigFlags.WrapConfigFn = r.counter.wrap
	att := session.NewAttacher(&rest.Config{Host: node.URL})
	f.Attacher = func() (session.Attacher, error) { return att, nil }
	root := app.NewRootCmd(f)
	root.SetArgs(append([]string{"stress", "cpu", "--load", "1", "-n", targetNS, "--kubeconfig", c.kubeconfig,
		"--max-targets", strconv.Itoa(max(want, 50)), "--duration", "10m", "--yes", "-o", "json"}, args...))

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	mem := startMem()
	r.start = time.Now()
	done := make(chan error, 1)
	go func() { done <- root.ExecuteContext(ctx) }()
	var err error
	select {
	case <-prog.active:
		r.active = prog.at.Sub(r.start)
		r.stopped = time.Now()
		cancel()
		err = <-done
	case err = <-done:
		tb.Fatalf("the CLI returned before every target was active: %v\n%s", err, tail([]byte(prog.String()), 4000))
	case <-time.After(5 * time.Minute):
		cancel()
		tb.Fatalf("not every target active after 5m:\n%s", tail([]byte(prog.String()), 4000))
	}
	r.returned = time.Since(r.start)
	r.mem = mem.end()
	var ee *exit.Error
	if !errors.As(err, &ee) || ee.Code != exit.Interrupted {
		tb.Fatalf("want exit %d (interrupted after a clean recovery), got %v\n%s", exit.Interrupted, err, tail([]byte(prog.String()), 4000))
	}
	r.rep = &session.Report{}
	if err := json.Unmarshal([]byte(out.String()), r.rep); err != nil {
		tb.Fatalf("final report: %v\n%s", err, out.String())
	}
	if _, err := os.Stat(filepath.Join(state, history.FileName)); err != nil {
		tb.Errorf("the run's history is not in the bench's own state directory: %v", err)
	}
	return r
}

// waitGone waits (bounded) until the node side saw every helper of this run go.
func (r *cliRun) waitGone(tb testing.TB, node *nodeSideProc, helpers int) {
	tb.Helper()
	names := map[string]bool{}
	for _, n := range r.rep.Nodes {
		names[n.Pod] = true
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		s, err := node.Stats()
		if err != nil {
			tb.Fatal(err)
		}
		gone := 0
		var last time.Time
		for k, at := range s.Gone {
			if _, name, _ := strings.Cut(k, "/"); names[name] {
				gone++
				if at.After(last) {
					last = at
				}
			}
		}
		if gone >= len(names) {
			r.lastGone = last.Sub(r.start)
			r.stats = s
			return
		}
		if time.Now().After(deadline) {
			tb.Fatalf("%d/%d helper pods gone after 60s", gone, len(names))
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// phase is the latest of the node side's per-helper times for this run's helpers.
func (r *cliRun) phase(m map[string]time.Time) time.Duration {
	var last time.Time
	for _, n := range r.rep.Nodes {
		for k, at := range m {
			if strings.HasSuffix(k, "/"+n.Pod) && at.After(last) {
				last = at
			}
		}
	}
	if last.IsZero() {
		return 0
	}
	return last.Sub(r.start)
}

// report adds the run's row and its metrics.
func (r *cliRun) report(b *testing.B, what string, nodes, pods int) {
	recovered := time.Duration(0)
	for _, n := range r.rep.Nodes {
		recovered = max(recovered, time.Duration(n.RecoverLatency))
	}
	created := time.Duration(0)
	if t := r.counter.lastAt("create pods"); !t.IsZero() {
		created = t.Sub(r.start)
	}
	b.ReportMetric(r.active.Seconds(), "s-active")
	b.ReportMetric(r.lastGone.Seconds(), "s-gone")
	b.ReportMetric(float64(r.counter.total()), "requests")
	b.ReportMetric(float64(r.counter.events()), "events")
	b.ReportMetric(r.mem.HeapPeakMiB, "MiB-heap")
	b.ReportMetric(r.mem.CPU.Seconds(), "s-cpu")
	b.Logf("requests: %s", r.counter.summary())
	addRow("| %s | %d | %d | %s | %s | %s | %s | %s | %s | %d (%s) | %d/%d | %s | %.1f | %.0f |",
		what, nodes, len(r.rep.Nodes), ms(created), ms(r.phase(r.stats.Running)), ms(r.active),
		ms(recovered), ms(r.returned), ms(r.lastGone), r.counter.total(), r.counter.summary(),
		r.stats.Attaches, r.stats.Refused, ms(r.mem.CPU), r.mem.HeapPeakMiB, r.mem.RSSPeakMiB)
}
