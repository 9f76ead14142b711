package http_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/redirect/rtest"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// counters reads the fault's counters (fault.Counting) by name.
func counters(t *testing.T, a fault.Active) map[string]uint64 {
	t.Helper()
	c, ok := a.(fault.Counting)
	if !ok {
		t.Fatalf("%T has no counters", a)
	}
	cs, err := c.ReadCounters()
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]uint64{}
	for _, x := range cs {
		m[x.Name] = x.Value
		if x.Name == "http matched" && !x.Traffic {
			t.Errorf("http matched is not a traffic counter")
		}
	}
	return m
}

// TestCountersMoveWithRequests: the counters the live view shows stay 0 without
// traffic, count requests the filter does not select as seen but not matched, and for
// the selected path count every request as matched and exactly the ones whose body the
// client saw replaced (--percent 50) as altered.
func TestCountersMoveWithRequests(t *testing.T) {
	p := rtest.NewPair(t)
	server(t, p)
	body := "replaced"
	a, rec := apply(t, p, plan.HTTP{Action: plan.HTTPReplace, Port: 8080, Path: "/hit", Body: &body, Percent: 50})
	time.Sleep(500 * time.Millisecond)
	if m := counters(t, a); m["http requests"] != 0 || m["http matched"] != 0 || m["http connections"] != 0 {
		t.Errorf("without traffic: %v", m)
	}
	c := client(p.Peer, true)
	base := fmt.Sprintf("http://%s:8080", p.PodIP)
	const miss, hit = 40, 200
	for range miss {
		if r := get(c, "GET", base+"/miss"); r.err != nil || r.code != 200 || r.body == body {
			t.Fatalf("GET /miss: %+v", r)
		}
	}
	m := counters(t, a)
	if m["http requests"] != miss || m["http matched"] != 0 || m["http altered"] != 0 {
		t.Errorf("after %d requests the filter does not select: %v", miss, m)
	}
	replaced := 0
	for range hit {
		r := get(c, "GET", base+"/hit")
		switch {
		case r.err != nil || r.code != 200:
			t.Fatalf("GET /hit: %+v", r)
		case r.body == body:
			replaced++
		case !strings.Contains(r.body, "from "):
			t.Fatalf("GET /hit: neither replaced nor the application's answer: %q", r.body)
		}
	}
	m = counters(t, a)
	t.Logf("%d of %d bodies replaced; counters %v", replaced, hit, m)
	if m["http requests"] != miss+hit || m["http matched"] != hit {
		t.Errorf("requests %d matched %d, want %d and %d", m["http requests"], m["http matched"], miss+hit, hit)
	}
	if m["http altered"] != uint64(replaced) {
		t.Errorf("http altered %d, the client saw %d bodies replaced", m["http altered"], replaced)
	}
	if replaced == 0 || replaced == hit {
		t.Errorf("--percent 50 replaced %d of %d", replaced, hit)
	}
	if m["http connections"] == 0 || m["http errors"] != 0 {
		t.Errorf("connections %d errors %d", m["http connections"], m["http errors"])
	}
	rec()
}
