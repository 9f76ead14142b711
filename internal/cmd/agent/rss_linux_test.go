package agent

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func rssFileKiB(t *testing.T) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "RssFile:"); ok {
			n, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("RssFile %q: %v", v, err)
			}
			return n
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}

// TestDropExecPages: the test binary's read-only pages leave its RSS, and code and data
// that were dropped still work when touched again.
func TestDropExecPages(t *testing.T) {
	want := fmt.Sprintf("%x", sha256.Sum256([]byte("kubectl-chaos")))
	before := rssFileKiB(t)
	advised := dropExecPages()
	after := rssFileKiB(t)
	t.Logf("advised %.1f MiB of mappings; RssFile %d kB → %d kB", float64(advised)/(1<<20), before, after)
	if advised == 0 {
		t.Fatal("no read-only mapping of the executable was advised")
	}
	if after >= before {
		t.Fatalf("RssFile did not shrink: %d kB → %d kB", before, after)
	}
	if got := fmt.Sprintf("%x", sha256.Sum256([]byte("kubectl-chaos"))); got != want {
		t.Fatalf("sha256 after the drop = %s, want %s", got, want)
	}
}

// TestPageDropper: event lines pass through unchanged; the drop happens once, after the
// last of several injected events, and not for other events.
func TestPageDropper(t *testing.T) {
	var out bytes.Buffer
	var drops atomic.Int32
	d := &pageDropper{w: &out, drop: func() int { drops.Add(1); return 0 }}
	defer d.stop()
	lines := []string{
		`{"time":"t","type":"started","node":"n"}` + "\n",
		`{"time":"t","type":"resolved","node":"n"}` + "\n",
	}
	for _, l := range lines {
		d.Write([]byte(l))
	}
	time.Sleep(2 * dropDelay)
	if n := drops.Load(); n != 0 {
		t.Fatalf("%d drops before any injected event", n)
	}
	for range 3 {
		l := `{"time":"t","type":"injected","node":"n"}` + "\n"
		d.Write([]byte(l))
		lines = append(lines, l)
		time.Sleep(dropDelay / 4)
	}
	time.Sleep(3 * dropDelay)
	if n := drops.Load(); n != 1 {
		t.Fatalf("%d drops after three injected events in a row, want 1", n)
	}
	if out.String() != strings.Join(lines, "") {
		t.Fatalf("output changed:\n%s", out.String())
	}
}
