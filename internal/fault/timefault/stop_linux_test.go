package timefault

// The stop paths of the real agent other than kill -9 (crash_linux_test.go): the TTL,
// stdin EOF (the CLI killed or gone) and SIGTERM (the helper pod deleted) each restore
// every patched process before the agent exits, and leave no journal.

import (
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/agent/agentbin"
)

func TestAgentStopPaths(t *testing.T) {
	bins := buildProgs(t)
	bin := agentbin.Path(t) // before any plan: the build may take minutes under load
	const offset = 2 * time.Hour
	cases := []struct {
		name string
		ttl  time.Duration
		stop func(ar *agentRun)
	}{
		// Long enough to inject and measure on a loaded machine, short enough to wait for.
		{"TTL", 15 * time.Second, nil},
		{"stdin EOF", 5 * time.Minute, func(ar *agentRun) { ar.stdin.Close() }},
		{"SIGTERM", 5 * time.Minute, func(ar *agentRun) { ar.cmd.Process.Signal(syscall.SIGTERM) }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := newContainer(t)
			var ps []*prog
			for _, name := range []string{"go", "glibc-dynamic"} {
				if b, ok := bins[name]; ok {
					ps = append(ps, launch(t, c.CgroupDir, name, b))
				}
			}
			dir := t.TempDir()
			p := timePlan(c, "tf-stop-", offset, tc.ttl)
			ar := startAgent(t, bin, c, dir, p)
			boot, _ := hostClocks(t)
			for _, q := range ps {
				checkReal(t, q, q.next(t, boot), offset.Seconds())
			}
			from := p.Deadline
			if tc.stop != nil {
				from = time.Now()
				tc.stop(ar)
			}
			exited := make(chan error, 1)
			go func() {
				for ar.events.Scan() {
				}
				exited <- ar.cmd.Wait()
			}()
			select {
			case err := <-exited:
				t.Logf("%s: agent exited (%v) %s after the stop", tc.name, err, time.Since(from).Round(time.Millisecond))
			case <-time.After(time.Until(from) + 60*time.Second):
				t.Fatalf("%s: the agent did not exit within 60s of the stop; stderr:\n%s", tc.name, ar.stderr.String())
			}
			boot, _ = hostClocks(t)
			for _, q := range ps {
				checkReal(t, q, q.next(t, boot), 0)
				if !q.alive() {
					t.Errorf("%s died", q.name)
				}
			}
			if ents, _ := os.ReadDir(dir); len(ents) != 0 {
				t.Errorf("journal directory not empty after the agent exited: %v", ents)
			}
		})
	}
}
