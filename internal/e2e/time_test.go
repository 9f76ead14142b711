//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"
)

// Time shift through the real plugin: the echo server's time.Now() (GET /time) is an
// hour behind the node's clock while the fault runs, and agrees with it again after
// Ctrl-C; the server process keeps serving and nothing is left on the node or in the
// container.
func TestTimeShift(t *testing.T) {
	sc := newScenario(t)
	ip := sc.Echo("web", 1)[0]
	skew := skewOf(t, ip)
	if d := skew(); d.Abs() > time.Second {
		t.Fatalf("before the fault the server's clock is %v from the node's", d)
	}
	sc.TrackTargets("web")
	const offset = -time.Hour
	near := func(want time.Duration) func(time.Duration) bool {
		return func(d time.Duration) bool { return (d - want).Abs() < time.Second }
	}
	runFault(sc, faultRun[time.Duration]{
		Args:    []string{"time", "shift", "deploy/web", "--offset", "-1h", "--duration", "3m"},
		Measure: paced(100*time.Millisecond, skew),
		Active:  near(offset),
		During: func(s *session) {
			var worst, sum time.Duration
			for range 20 {
				d := skew()
				sum += d
				worst = max(worst, (d - offset).Abs())
				time.Sleep(50 * time.Millisecond)
			}
			t.Logf("asked %v, seen %v on average, at most %v off, over 20 requests", offset, sum/20, worst)
			if worst > time.Second {
				t.Errorf("the server's clock strayed %v from the asked offset", worst)
			}
			if out := s.Output(); !strings.Contains(out, "(echo): shifted clock_gettime, gettimeofday, time -1h0m0s") {
				t.Errorf("no per-process report for the echo server:\n%s", out)
			}
		},
		Gone: near(0),
	})
}

// skewOf measures how far the server's time.Now() is from the node's clock: its answer
// against the middle of the request, as seen from the host (same machine, same clock).
func skewOf(t *testing.T, ip string) func() time.Duration {
	return func() time.Duration {
		t.Helper()
		d, err := skewErr(ip)
		if err != nil {
			t.Fatal(err)
		}
		return d
	}
}

// skewErr is one measurement of skewOf, for a server that may be restarting.
func skewErr(ip string) (time.Duration, error) {
	c := &http.Client{Timeout: 3 * time.Second}
	before := time.Now()
	resp, err := c.Get("http://" + ip + ":8080/time")
	after := time.Now()
	if err != nil {
		return 0, fmt.Errorf("GET /time of %s: %w", ip, err)
	}
	defer resp.Body.Close()
	var v struct {
		UnixNano int64 `json:"unixNano"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&v); err != nil {
		return 0, fmt.Errorf("decode /time of %s: %w", ip, err)
	}
	mid := before.Add(after.Sub(before) / 2)
	return time.Unix(0, v.UnixNano).Sub(mid), nil
}
