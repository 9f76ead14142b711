package app

import (
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// Without a terminal the session prints plain timestamped lines on stderr, with each
// target's counters (as rates once two reads are in); the report goes to stdout alone.
func TestLiveLinesWithCounters(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "3s", "--yes", "--count-per-read", "5")
	if err := r.wait(t, 30*time.Second); exit.Code(err) != exit.OK {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	errOut, out := r.errOut.String(), r.out.String()
	line := regexp.MustCompile(`(?m)^\d\d:\d\d:\d\d node-\S+ counters \S+: noop packets \S+ .*noop held 2$`)
	if n := len(line.FindAllString(errOut, -1)); n < 3 {
		t.Errorf("%d counter lines (want one per target at least), stderr:\n%s", n, errOut)
	}
	if strings.Contains(out, "counters") || !strings.Contains(out, "INJECTED") {
		t.Errorf("stdout is the report alone:\n%s", out)
	}
	t.Logf("stderr:\n%s", errOut)
}

// --quiet: nothing on stderr for a clean run; the report on stdout is unchanged.
func TestLiveQuiet(t *testing.T) {
	r := startLive(t, "noop", "deploy/web", "--duration", "1s", "--yes", "--quiet", "--count-per-read", "0")
	if err := r.wait(t, 30*time.Second); exit.Code(err) != exit.OK {
		t.Fatalf("exit %d (%v)\nstderr:\n%s", exit.Code(err), err, r.errOut.String())
	}
	if e := r.errOut.String(); e != "" {
		t.Errorf("stderr with --quiet:\n%s", e)
	}
	if out := r.out.String(); !strings.Contains(out, "completed") || !strings.Contains(out, "INJECTED") {
		t.Errorf("report:\n%s", out)
	}
}
