//go:build e2e

package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// fetchResult is the echo server's GET /fetch answer: one HTTP request made from inside
// that pod (tools/echo/fetch.go).
type fetchResult struct {
	Code   int               `json:"code"`
	Body   string            `json:"body"`
	Header map[string]string `json:"header"`
	Ms     float64           `json:"ms"`
	Error  string            `json:"error,omitempty"`
}

func (r fetchResult) String() string {
	if r.Error != "" {
		return "error " + r.Error
	}
	return fmt.Sprintf("%d %q in %.1fms", r.Code, strings.TrimSpace(r.Body), r.Ms)
}

func (r fetchResult) ok() bool {
	return r.Error == "" && r.Code == 200 && strings.HasPrefix(r.Body, "ok ")
}

// fetchFrom makes the pod at podIP GET http://target:8080/path.
func fetchFrom(t *testing.T, podIP, target, path string) fetchResult {
	t.Helper()
	u := fmt.Sprintf("http://%s:8080/fetch?%s", podIP, url.Values{"url": {"http://" + target + ":8080" + path}}.Encode())
	resp, err := (&http.Client{Timeout: 15 * time.Second}).Get(u)
	if err != nil {
		return fetchResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	var r fetchResult
	if err := json.NewDecoder(resp.Body).Decode(&r); err != nil {
		return fetchResult{Error: err.Error()}
	}
	return r
}

// direct is a GET from this test, i.e. from the node's address (where kubelet's probes
// come from).
func direct(target, path string) fetchResult {
	start := time.Now()
	resp, err := (&http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}).Get("http://" + target + ":8080" + path)
	if err != nil {
		return fetchResult{Error: err.Error()}
	}
	defer resp.Body.Close()
	buf := make([]byte, 4096)
	n, _ := resp.Body.Read(buf)
	return fetchResult{Code: resp.StatusCode, Body: string(buf[:n]), Ms: float64(time.Since(start).Microseconds()) / 1000}
}

// TestHTTPAbort: requests from another pod into the target to --path get the asked
// status and body, other paths the application's answer; requests from the node's
// address (kubelet probes) are untouched; after Ctrl-C every answer is real again.
func TestHTTPAbort(t *testing.T) {
	sc := newScenario(t)
	pods := sc.Echo("web", 1)
	cli := sc.Echo("cli", 1)[0]
	web := pods[0]
	if r := fetchFrom(t, cli, web, "/fail"); !r.ok() {
		t.Fatalf("before the fault: %s", r)
	}
	sc.TrackTargets("web")
	runFault(sc, faultRun[fetchResult]{
		Args:    []string{"http", "abort", "deploy/web", "--port", "8080", "--path", "/fail", "--code", "503", "--body", "chaos", "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() fetchResult { return fetchFrom(t, cli, web, "/fail") }),
		Active:  func(r fetchResult) bool { return r.Code == 503 },
		During: func(s *session) {
			for range 5 {
				if r := fetchFrom(t, cli, web, "/fail"); r.Code != 503 || r.Body != "chaos" {
					t.Errorf("matching path: %s, want 503 chaos", r)
				}
				if r := fetchFrom(t, cli, web, "/other"); !r.ok() {
					t.Errorf("other path: %s, want the application's answer", r)
				}
				if r := direct(web, "/fail"); !r.ok() {
					t.Errorf("from the node's address (probes): %s, want the application's answer", r)
				}
			}
		},
		Gone: func(r fetchResult) bool { return r.ok() },
		After: func(s *session) {
			if out := s.Output(); !strings.Contains(out, "altered") {
				t.Errorf("the agent reported no counters:\n%s", out)
			}
		},
	})
}

// median of n fetches.
func medianMs(n int, f func() fetchResult) (float64, []fetchResult) {
	var ms []float64
	var all []fetchResult
	for range n {
		r := f()
		all = append(all, r)
		ms = append(ms, r.Ms)
	}
	slices.Sort(ms)
	return ms[len(ms)/2], all
}

// TestHTTPDelay: the target's own requests (egress) to --path arrive --delay later
// (median within 10 % plus the baseline of the same run), other paths as fast as before.
func TestHTTPDelay(t *testing.T) {
	const delay = 400.0
	sc := newScenario(t)
	web := sc.Echo("web", 1)[0]
	srv := sc.Echo("srv", 1)[0]
	base, all := medianMs(5, func() fetchResult { return fetchFrom(t, web, srv, "/slow") })
	for _, r := range all {
		if !r.ok() {
			t.Fatalf("before the fault: %s", r)
		}
	}
	sc.TrackTargets("web")
	runFault(sc, faultRun[fetchResult]{
		Args: []string{"http", "delay", "deploy/web", "--direction", "egress", "--port", "8080", "--path", "/slow",
			"--delay", fmt.Sprintf("%dms", int(delay)), "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() fetchResult { return fetchFrom(t, web, srv, "/slow") }),
		Active:  func(r fetchResult) bool { return r.ok() && r.Ms >= delay*0.9 },
		During: func(s *session) {
			got, all := medianMs(5, func() fetchResult { return fetchFrom(t, web, srv, "/slow") })
			t.Logf("baseline median %.1fms, with --delay %.0fms: median %.1fms (%v)", base, delay, got, all)
			if added := got - base; added < delay*0.9 || added > delay*1.1+base {
				t.Errorf("added %.1fms, want %.0fms ±10%%", added, delay)
			}
			fast, all := medianMs(5, func() fetchResult { return fetchFrom(t, web, srv, "/fast") })
			if fast > base+delay/2 {
				t.Errorf("other path: median %.1fms (%v), baseline %.1fms", fast, all, base)
			}
		},
		Gone: func(r fetchResult) bool { return r.ok() && r.Ms < delay/2 },
	})
}

// TestHTTPReplace: the server's answers to matching requests come back with the asked
// code and body.
func TestHTTPReplace(t *testing.T) {
	sc := newScenario(t)
	web := sc.Echo("web", 1)[0]
	cli := sc.Echo("cli", 1)[0]
	sc.TrackTargets("web")
	runFault(sc, faultRun[fetchResult]{
		Args:    []string{"http", "replace", "deploy/web", "--port", "8080", "--method", "GET", "--code", "500", "--body", "replaced", "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() fetchResult { return fetchFrom(t, cli, web, "/") }),
		Active:  func(r fetchResult) bool { return r.Code == 500 && r.Body == "replaced" },
		Gone:    func(r fetchResult) bool { return r.ok() },
	})
}

// TestHTTPPatch: a JSON answer gets the merge patch and the added header.
func TestHTTPPatch(t *testing.T) {
	sc := newScenario(t)
	web := sc.Echo("web", 1)[0]
	cli := sc.Echo("cli", 1)[0]
	sc.TrackTargets("web")
	patched := func(r fetchResult) bool {
		var v map[string]any
		return r.Code == 200 && json.Unmarshal([]byte(r.Body), &v) == nil && v["chaos"] == true && v["udpSink"] != nil &&
			r.Header["X-Chaos"] == "1"
	}
	runFault(sc, faultRun[fetchResult]{
		Args:    []string{"http", "patch", "deploy/web", "--port", "8080", "--path", "/count", "--body", `{"chaos":true}`, "--header", "X-Chaos=1", "--duration", "3m"},
		Measure: paced(200*time.Millisecond, func() fetchResult { return fetchFrom(t, cli, web, "/count") }),
		Active:  patched,
		During: func(s *session) {
			if r := fetchFrom(t, cli, web, "/"); !r.ok() {
				t.Errorf("other path: %s", r)
			}
		},
		Gone: func(r fetchResult) bool { return r.Code == 200 && !patched(r) && strings.Contains(r.Body, "udpSink") },
	})
}
