package scenario

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// ProbeResult is one run of a probe.
type ProbeResult struct {
	Probe   string        `json:"probe"`
	Phase   string        `json:"phase"`
	At      time.Time     `json:"at"`
	Took    time.Duration `json:"tookNs"`
	OK      bool          `json:"ok"`
	Message string        `json:"message"`
}

// Checker runs probes; Client is asked for lazily (only condition probes need it).
type Checker struct {
	Client    func() (kubernetes.Interface, error)
	Namespace string
	HTTP      *http.Client
}

// Check runs p once, bounded by its timeout.
func (c *Checker) Check(ctx context.Context, p *Probe, phase string) ProbeResult {
	ctx, cancel := context.WithTimeout(ctx, p.Timeout)
	defer cancel()
	start := time.Now()
	var msg string
	var err error
	switch {
	case p.HTTP != nil:
		msg, err = c.http(ctx, p.HTTP)
	case p.Command != nil:
		msg, err = runCommand(ctx, p.Command)
	case p.Condition != nil:
		msg, err = c.condition(ctx, p.Condition)
	default:
		msg, err = c.prometheus(ctx, p.Prometheus)
	}
	r := ProbeResult{Probe: p.Title(), Phase: phase, At: start.UTC(), Took: time.Since(start), OK: err == nil, Message: msg}
	if err != nil {
		r.Message = err.Error()
		if ctx.Err() != nil && !errors.Is(err, context.Canceled) {
			r.Message += fmt.Sprintf(" (timeout %s)", p.Timeout)
		}
	}
	return r
}

func (c *Checker) client() *http.Client {
	if c.HTTP != nil {
		return c.HTTP
	}
	return http.DefaultClient
}

// latencyMargin is how long past maxLatency an HTTP probe still waits for its answer:
// long enough that a reply just over the bound is reported with the latency it had,
// short enough that the probe fails at about maxLatency, not at its timeout.
func latencyMargin(maxLatency time.Duration) time.Duration {
	return min(max(maxLatency/10, 20*time.Millisecond), time.Second)
}

func (c *Checker) http(ctx context.Context, h *HTTPProbe) (string, error) {
	var giveUp time.Duration
	if h.MaxLatency > 0 {
		var cancel context.CancelFunc
		giveUp = h.MaxLatency + latencyMargin(h.MaxLatency)
		ctx, cancel = context.WithTimeout(ctx, giveUp)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, h.Method, h.URL, nil)
	if err != nil {
		return "", err
	}
	start := time.Now()
	late := func(err error) error {
		if giveUp > 0 && errors.Is(err, context.DeadlineExceeded) && time.Since(start) >= giveUp {
			return fmt.Errorf("%s %s: no answer within %s, more than maxLatency %s", h.Method, h.URL, giveUp, h.MaxLatency)
		}
		return err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		if lerr := late(err); lerr != err {
			return "", lerr
		}
		return "", fmt.Errorf("%s %s: %w", h.Method, h.URL, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxBodyBytes))
	took := time.Since(start)
	if err != nil {
		if lerr := late(err); lerr != err {
			return "", lerr
		}
		return "", fmt.Errorf("%s %s: reading the body: %w", h.Method, h.URL, err)
	}
	msg := fmt.Sprintf("%s %s: %d in %s", h.Method, h.URL, resp.StatusCode, took.Round(time.Microsecond))
	if len(h.Status) > 0 && !containsInt(h.Status, resp.StatusCode) {
		return msg, fmt.Errorf("%s, want status %v", msg, h.Status)
	}
	if h.MaxLatency > 0 && took > h.MaxLatency {
		return msg, fmt.Errorf("%s, more than maxLatency %s", msg, h.MaxLatency)
	}
	if h.Body != "" && !regexp.MustCompile(h.Body).Match(body) {
		return msg, fmt.Errorf("%s, body does not match %q", msg, h.Body)
	}
	return msg, nil
}

func containsInt(list []int, n int) bool {
	for _, e := range list {
		if e == n {
			return true
		}
	}
	return false
}

// runCommand runs c (a program, or a line through sh -c) and checks its exit code.
func runCommand(ctx context.Context, c *Command) (string, error) {
	var cmd *exec.Cmd
	if c.Shell != "" {
		cmd = exec.CommandContext(ctx, "sh", "-c", c.Shell)
	} else {
		cmd = exec.CommandContext(ctx, c.Run[0], c.Run[1:]...)
	}
	cmd.WaitDelay = time.Second
	out, err := cmd.CombinedOutput()
	code := 0
	var ee *exec.ExitError
	switch {
	case errors.As(err, &ee):
		code = ee.ExitCode()
	case err != nil:
		return "", fmt.Errorf("%s: %w", c.Text(), err)
	}
	msg := fmt.Sprintf("%s: exit %d", c.Text(), code)
	if tail := lastLine(out); tail != "" {
		msg += ": " + tail
	}
	if code != c.ExitCode {
		if ctx.Err() != nil {
			return msg, fmt.Errorf("%s: killed: %w", c.Text(), ctx.Err())
		}
		return msg, fmt.Errorf("%s, want exit %d", msg, c.ExitCode)
	}
	return msg, nil
}

func lastLine(out []byte) string {
	s := strings.TrimSpace(string(out))
	if i := strings.LastIndexByte(s, '\n'); i >= 0 {
		s = s[i+1:]
	}
	if len(s) > 200 {
		s = s[:200] + "…"
	}
	return s
}

func (c *Checker) condition(ctx context.Context, p *ConditionProbe) (string, error) {
	cs, err := c.Client()
	if err != nil {
		return "", err
	}
	ns := p.Namespace
	if ns == "" {
		ns = c.Namespace
	}
	pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: p.Selector})
	if err != nil {
		return "", fmt.Errorf("listing pods %s in %s: %w", p.Selector, ns, err)
	}
	ready := 0
	for i := range pods.Items {
		if podReady(&pods.Items[i]) {
			ready++
		}
	}
	msg := fmt.Sprintf("%d of %d pod(s) %s in %s Ready", ready, len(pods.Items), p.Selector, ns)
	if ready < p.MinReady {
		return msg, fmt.Errorf("%s, want at least %d", msg, p.MinReady)
	}
	return msg, nil
}

func podReady(p *corev1.Pod) bool {
	if p.DeletionTimestamp != nil || p.Status.Phase != corev1.PodRunning {
		return false
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// promResponse is the part of the Prometheus HTTP API answer we read.
type promResponse struct {
	Status string `json:"status"`
	Error  string `json:"error"`
	Data   struct {
		ResultType string          `json:"resultType"`
		Result     json.RawMessage `json:"result"`
	} `json:"data"`
}

func (c *Checker) prometheus(ctx context.Context, p *PrometheusProbe) (string, error) {
	u := strings.TrimRight(p.URL, "/") + "/api/v1/query?query=" + url.QueryEscape(p.Query)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return "", err
	}
	resp, err := c.client().Do(req)
	if err != nil {
		return "", fmt.Errorf("prometheus %s: %w", p.URL, err)
	}
	defer resp.Body.Close()
	var pr promResponse
	if err := json.NewDecoder(io.LimitReader(resp.Body, MaxBodyBytes)).Decode(&pr); err != nil {
		return "", fmt.Errorf("prometheus %s: HTTP %d, not a query answer: %w", p.URL, resp.StatusCode, err)
	}
	if pr.Status != "success" {
		return "", fmt.Errorf("prometheus %s: query %q: %s", p.URL, p.Query, pr.Error)
	}
	values, err := promValues(pr.Data.ResultType, pr.Data.Result)
	if err != nil {
		return "", fmt.Errorf("prometheus query %q: %w", p.Query, err)
	}
	if len(values) == 0 {
		return "", fmt.Errorf("prometheus query %q returned no sample", p.Query)
	}
	msg := fmt.Sprintf("%s = %s", p.Query, strings.Trim(fmt.Sprint(values), "[]"))
	for _, v := range values {
		if (p.Min != nil && v < *p.Min) || (p.Max != nil && v > *p.Max) {
			return msg, fmt.Errorf("%s, outside %s", msg, rangeText(p.Min, p.Max))
		}
	}
	return msg, nil
}

func rangeText(lo, hi *float64) string {
	switch {
	case lo != nil && hi != nil:
		return fmt.Sprintf("[%g, %g]", *lo, *hi)
	case lo != nil:
		return fmt.Sprintf(">= %g", *lo)
	}
	return fmt.Sprintf("<= %g", *hi)
}

// promValues reads the samples of a vector or scalar answer ([time, "value"] pairs).
func promValues(typ string, raw json.RawMessage) ([]float64, error) {
	var pairs [][]any
	switch typ {
	case "scalar":
		var one []any
		if err := json.Unmarshal(raw, &one); err != nil {
			return nil, err
		}
		pairs = append(pairs, one)
	case "vector":
		var vec []struct {
			Value []any `json:"value"`
		}
		if err := json.Unmarshal(raw, &vec); err != nil {
			return nil, err
		}
		for _, s := range vec {
			pairs = append(pairs, s.Value)
		}
	default:
		return nil, fmt.Errorf("answer of type %q, want an instant vector or a scalar", typ)
	}
	var out []float64
	for _, p := range pairs {
		if len(p) != 2 {
			return nil, fmt.Errorf("sample %v is not [time, value]", p)
		}
		s, _ := p[1].(string)
		v, err := strconv.ParseFloat(s, 64)
		if err != nil {
			return nil, fmt.Errorf("sample value %v: %w", p[1], err)
		}
		out = append(out, v)
	}
	return out, nil
}
