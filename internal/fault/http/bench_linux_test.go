package http_test

import (
	"fmt"
	nethttp "net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// BenchmarkRequest is the latency a client in the peer namespace sees for a request into
// the pod that no rule matches, on a fresh connection and on a keep-alive one: straight
// to the application (no fault), then through the agent's proxy (TPROXY, a fault active
// on another path). The difference is the no-fault overhead of the HTTP path.
//
//	go test -run '^$' -bench BenchmarkRequest ./internal/fault/http/
func BenchmarkRequest(b *testing.B) {
	p := rtest.NewPair(b)
	server(b, p)
	url := fmt.Sprintf("http://%s:8080/ok", p.PodIP)
	run := func(b *testing.B, keepAlive bool) {
		c := client(p.Peer, keepAlive)
		defer c.CloseIdleConnections()
		for b.Loop() {
			timed(b, c, url)
		}
	}
	for _, ka := range []bool{false, true} {
		b.Run("direct/"+conn(ka), func(b *testing.B) { run(b, ka) })
	}
	_, rec := apply(b, p, plan.HTTP{Action: plan.HTTPAbort, Port: 8080, Path: "/never", Code: 503})
	defer rec()
	for _, ka := range []bool{false, true} {
		b.Run("proxy/"+conn(ka), func(b *testing.B) { run(b, ka) })
	}
}

func conn(keepAlive bool) string {
	if keepAlive {
		return "keepalive"
	}
	return "fresh"
}

// cpuTime is the user+system CPU time a process used so far.
func cpuTime(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatal(err)
	}
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64) // utime, stime: fields 14 and 15 of stat
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+stime) * 10 * time.Millisecond // USER_HZ 100
}

// BenchmarkAgentCPU is the CPU the agent (a child process running the proxy, as in the
// helper pod) uses while clients send 1000 requests/s for 5 s through it into the pod,
// matched by the rule (delay 1ms: parsed, matched, held, forwarded) or not; over 8
// keep-alive connections, or a fresh connection per request. Reported as cpu-% of one
// core (metric cpu%) with the rate reached.
//
//	go test -run '^$' -bench BenchmarkAgentCPU -benchtime 1x ./internal/fault/http/
func BenchmarkAgentCPU(b *testing.B) {
	p := rtest.NewPair(b)
	server(b, p)
	cmd := startChild(b, p, `{"action":"delay","port":8080,"path":"/hit","delay":"1ms"}`, b.TempDir())
	const rate, secs, workers = 1000, 5, 8
	for _, tc := range []struct {
		path      string
		keepAlive bool
	}{{"/hit", true}, {"/pass", true}, {"/pass", false}} {
		b.Run(strings.TrimPrefix(tc.path, "/")+"/"+conn(tc.keepAlive), func(b *testing.B) {
			url := fmt.Sprintf("http://%s:8080%s", p.PodIP, tc.path)
			cpu0, start := cpuTime(b, cmd.Process.Pid), time.Now()
			var wg sync.WaitGroup
			var mu sync.Mutex
			done, failed := 0, 0
			for range workers {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c := client(p.Peer, tc.keepAlive)
					defer c.CloseIdleConnections()
					tick := time.NewTicker(time.Second * workers / rate)
					defer tick.Stop()
					for range rate * secs / workers {
						<-tick.C
						r := get(c, "GET", url)
						mu.Lock()
						if r.err != nil || r.code != nethttp.StatusOK {
							failed++
						} else {
							done++
						}
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			wall := time.Since(start)
			cpu := cpuTime(b, cmd.Process.Pid) - cpu0
			b.ReportMetric(100*cpu.Seconds()/wall.Seconds(), "cpu%")
			b.ReportMetric(float64(done)/wall.Seconds(), "req/s")
			if failed > 0 {
				b.Errorf("%d of %d requests failed", failed, done+failed)
			}
		})
	}
}
