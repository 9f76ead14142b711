package app

import (
	"encoding/json"
	"strings"
	"testing"
)

// The client-side filters are said in the dry run, human and JSON.
func TestDryRunSaysFilters(t *testing.T) {
	c := webCluster() // web-1, web-2 on node-a, web-3 on node-b
	r := run(t, c, "network", "delay", "deploy/web", "--latency", "10ms", "--node", "node-b", "--dry-run")
	if r.err != nil {
		t.Fatalf("%v\n%s", r.err, r.errOut)
	}
	for _, want := range []string{"Filter:      --node node-b (client-side: kept 1 of 4 matched pods)", "web-3"} {
		if !strings.Contains(r.out, want) {
			t.Errorf("dry run lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "web-1") {
		t.Errorf("dry run targets web-1 on node-a:\n%s", r.out)
	}
	r = run(t, c, "network", "delay", "deploy/web", "--latency", "10ms", "--mode", "random-max-percent=50", "--seed", "3", "-o", "json", "--dry-run")
	var d struct {
		Mode    string
		Targets []struct{ Pod string }
	}
	if err := json.Unmarshal([]byte(r.out), &d); err != nil || d.Mode != "random-max-percent=50" || len(d.Targets) < 1 || len(d.Targets) > 2 {
		t.Errorf("random-max-percent=50 of 3: %v %+v", err, d)
	}
	noWrites(t, c)
}
