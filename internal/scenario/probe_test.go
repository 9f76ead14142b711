package scenario

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
)

func f64(v float64) *float64 { return &v }

func readyPod(name string, ready bool) *corev1.Pod {
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "shop", Labels: map[string]string{"app": "web"}},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning, Conditions: []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}},
	}
}

// Each probe kind passes against a system that holds and fails, with the reason in its
// message, against one that does not.
func TestProbes(t *testing.T) {
	slow := 300 * time.Millisecond
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow":
			time.Sleep(slow)
		case "/err":
			w.WriteHeader(503)
		case "/api/v1/query":
			q := r.URL.Query().Get("query")
			fmt.Fprintf(w, `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1700000000,"%s"]}]}}`, q)
			return
		}
		fmt.Fprint(w, "hello ok")
	}))
	defer srv.Close()
	cs := fake.NewClientset(readyPod("web-1", true), readyPod("web-2", true), readyPod("web-3", false))
	c := &Checker{Client: func() (kubernetes.Interface, error) { return cs, nil }, Namespace: "shop"}
	cases := []struct {
		name string
		p    Probe
		ok   bool
		msg  string
	}{
		{"http ok", Probe{HTTP: &HTTPProbe{URL: srv.URL, Method: "GET", Status: []int{200}, Body: "ok$"}}, true, ": 200 in"},
		{"http status", Probe{HTTP: &HTTPProbe{URL: srv.URL + "/err", Method: "GET", Status: []int{200}}}, false, "want status [200]"},
		{"http body", Probe{HTTP: &HTTPProbe{URL: srv.URL, Method: "GET", Body: "^bye"}}, false, "body does not match"},
		{"http latency", Probe{HTTP: &HTTPProbe{URL: srv.URL + "/slow", Method: "GET", MaxLatency: slow / 3}}, false, "more than maxLatency"},
		{"http timeout", Probe{HTTP: &HTTPProbe{URL: srv.URL + "/slow", Method: "GET"}, Timeout: slow / 3}, false, "timeout"},
		{"command ok", Probe{Command: &Command{Shell: "echo fine"}}, true, "exit 0: fine"},
		{"command exit", Probe{Command: &Command{Run: []string{"sh", "-c", "exit 3"}}}, false, "exit 3, want exit 0"},
		{"command expected exit", Probe{Command: &Command{Shell: "exit 3", ExitCode: 3}}, true, "exit 3"},
		{"condition ok", Probe{Condition: &ConditionProbe{Selector: "app=web", MinReady: 2}}, true, "2 of 3 pod(s)"},
		{"condition short", Probe{Condition: &ConditionProbe{Selector: "app=web", MinReady: 3}}, false, "want at least 3"},
		{"prometheus ok", Probe{Prometheus: &PrometheusProbe{URL: srv.URL, Query: "0.01", Max: f64(0.05)}}, true, "0.01 = 0.01"},
		{"prometheus above", Probe{Prometheus: &PrometheusProbe{URL: srv.URL, Query: "0.2", Max: f64(0.05)}}, false, "outside <= 0.05"},
		{"prometheus below", Probe{Prometheus: &PrometheusProbe{URL: srv.URL, Query: "1", Min: f64(2)}}, false, "outside >= 2"},
		{"prometheus down", Probe{Prometheus: &PrometheusProbe{URL: "http://127.0.0.1:1", Query: "1", Min: f64(0)}}, false, "prometheus http://127.0.0.1:1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.p.Timeout == 0 {
				tc.p.Timeout = 5 * time.Second
			}
			r := c.Check(context.Background(), &tc.p, "during")
			if r.OK != tc.ok || !strings.Contains(r.Message, tc.msg) {
				t.Errorf("ok=%v %q, want ok=%v with %q", r.OK, r.Message, tc.ok, tc.msg)
			}
		})
	}
}

// TestHTTPProbeFailsAtMaxLatency: against a server that does not answer for 5 s, an HTTP
// probe with maxLatency fails at about maxLatency (plus its small margin), not at its
// 10 s timeout; the same server answering at once passes (the baseline of this run).
func TestHTTPProbeFailsAtMaxLatency(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/hang" {
			select {
			case <-time.After(5 * time.Second):
			case <-r.Context().Done():
			}
		}
		fmt.Fprint(w, "ok")
	}))
	defer srv.Close()
	c := &Checker{}
	const maxLatency = 300 * time.Millisecond
	fast := c.Check(context.Background(), &Probe{HTTP: &HTTPProbe{URL: srv.URL + "/", Method: "GET", MaxLatency: maxLatency}, Timeout: 10 * time.Second}, "during")
	if !fast.OK {
		t.Fatalf("baseline: %s", fast.Message)
	}
	r := c.Check(context.Background(), &Probe{HTTP: &HTTPProbe{URL: srv.URL + "/hang", Method: "GET", MaxLatency: maxLatency}, Timeout: 10 * time.Second}, "during")
	t.Logf("baseline answered in %s; the hanging request failed after %s: %s", fast.Took, r.Took, r.Message)
	if r.OK || !strings.Contains(r.Message, "more than maxLatency 300ms") {
		t.Errorf("ok=%v %q, want a failure naming maxLatency", r.OK, r.Message)
	}
	// Lower bound: not before maxLatency plus the margin. Upper bound: the margin
	// (30 ms) plus 1 s of scheduling slack on this loaded machine, far below the 5 s the
	// server holds the request (where the probe failed before it was bounded).
	if giveUp := maxLatency + latencyMargin(maxLatency); r.Took < giveUp || r.Took > giveUp+fast.Took+time.Second {
		t.Errorf("failed after %s, want %s … %s", r.Took, giveUp, giveUp+fast.Took+time.Second)
	}
}
