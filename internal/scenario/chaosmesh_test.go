package scenario_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

func loadFile(t *testing.T, path string) (*scenario.Scenario, error) {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return load(t, path, string(data), nil)
}

// faults lists the fault steps' options in order.
func faults(s *scenario.Scenario) (verbs []string, opts []*experiment.Options) {
	var walk func([]*scenario.Step)
	walk = func(steps []*scenario.Step) {
		for _, st := range steps {
			if st.Fault != nil {
				verbs = append(verbs, st.Fault.Verb)
				opts = append(opts, st.Fault.Options)
			}
			walk(st.Parallel)
			walk(st.Serial)
		}
	}
	walk(s.Steps)
	return verbs, opts
}

func TestChaosMeshImportOfEachKind(t *testing.T) {
	cases := map[string]struct {
		verbs string
		check func(t *testing.T, s *scenario.Scenario, o []*experiment.Options)
	}{
		"networkchaos.yaml": {"network delay", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			d := o[0].Fault.Network.Delay
			if d.Latency.D() != 200*time.Millisecond || d.Jitter.D() != 10*time.Millisecond || d.Correlation != 25 ||
				o[0].Target.Mode != "one" || o[0].Target.LabelSelector != "app=web" || o[0].Target.Namespace != "shop" || o[0].Duration != 2*time.Minute {
				t.Errorf("delay = %+v, target %+v, duration %s", d, o[0].Target, o[0].Duration)
			}
		}},
		"networkchaos-partition.yaml": {"network partition", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			p := o[0].Fault.Network
			if p.Partition == nil || len(p.Partition.To) != 1 || p.Partition.To[0] != "app=db" || p.Partition.Direction != "both" {
				t.Errorf("partition = %+v", p.Partition)
			}
		}},
		"podchaos.yaml": {"pod kill", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if o[0].Target.Mode != "one" || o[0].Fault.Pod == nil {
				t.Errorf("pod kill = %+v %+v", o[0].Target, o[0].Fault.Pod)
			}
		}},
		"stresschaos.yaml": {"stress cpu,stress memory", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if s.Steps[0].Parallel == nil || o[0].Target.Container != "app" || o[0].Fault.Stress.CPU == nil || o[1].Fault.Stress.Memory == nil {
				t.Errorf("stress = %+v / %+v", o[0].Fault.Stress, o[1].Fault.Stress)
			}
		}},
		"iochaos.yaml": {"io latency", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			io := o[0].Fault.IO
			if io == nil || io.Path != "/var/lib/data" || io.Percent != 50 {
				t.Errorf("io = %+v", io)
			}
		}},
		"timechaos.yaml": {"time shift", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if o[0].Fault.Time == nil {
				t.Errorf("time = %+v", o[0].Fault)
			}
		}},
		"dnschaos.yaml": {"network dns", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if o[0].Fault.DNS == nil || len(o[0].Fault.DNS.Patterns) != 2 {
				t.Errorf("dns = %+v", o[0].Fault.DNS)
			}
		}},
		"httpchaos.yaml": {"http abort", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			h := o[0].Fault.HTTP
			if h == nil || h.Port != 80 || (h.Direction != "" && h.Direction != "ingress") || o[0].Target.LabelSelector != "app=web" || o[0].Duration != time.Minute {
				t.Errorf("http abort = %+v", h)
			}
		}},
		"httpchaos-delay.yaml": {"http delay", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if h := o[0].Fault.HTTP; h == nil || h.Delay.D() != 300*time.Millisecond || h.Port != 80 {
				t.Errorf("http delay = %+v", h)
			}
		}},
		"httpchaos-replace.yaml": {"http replace", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			h := o[0].Fault.HTTP
			if h == nil || h.Code != 503 || h.Body == nil || *h.Body != "overloaded" || len(h.Headers) != 1 || h.Headers[0].Name != "Retry-After" ||
				h.Headers[0].Value != "30" || h.Path != "/api/*" || h.Method != "GET" || h.Port != 8080 || o[0].Target.Mode != "one" {
				t.Errorf("http replace = %+v", h)
			}
		}},
		"httpchaos-patch.yaml": {"http patch", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			h := o[0].Fault.HTTP
			if h == nil || h.Body == nil || *h.Body != `{"degraded": true}` || len(h.Headers) != 1 || h.Headers[0].Name != "X-Chaos" || h.Headers[0].Value != "on" {
				t.Errorf("http patch = %+v", h)
			}
		}},
		"schedule.yaml": {"network loss", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			if s.Schedule != "5 * * * *" || o[0].Fault.Network.Loss == nil || o[0].Duration != 30*time.Second {
				t.Errorf("schedule %q loss %+v", s.Schedule, o[0].Fault.Network.Loss)
			}
		}},
		"workflow.yaml": {"network delay,stress cpu,pod kill", func(t *testing.T, s *scenario.Scenario, o []*experiment.Options) {
			root := s.Steps[0]
			if root.Serial == nil || len(root.Serial) != 3 || root.Serial[0].Parallel == nil || root.Serial[1].Wait != 10*time.Second {
				t.Errorf("workflow steps = %+v", root)
			}
			if o[0].Duration != 40*time.Second {
				t.Errorf("deadline did not become the duration: %s", o[0].Duration)
			}
		}},
	}
	files, _ := filepath.Glob("testdata/chaosmesh/*.yaml")
	seen := 0
	for _, f := range files {
		c, ok := cases[filepath.Base(f)]
		if !ok {
			continue
		}
		seen++
		t.Run(filepath.Base(f), func(t *testing.T) {
			s, err := loadFile(t, f)
			if err != nil {
				t.Fatal(err)
			}
			verbs, opts := faults(s)
			if got := strings.Join(verbs, ","); got != c.verbs {
				t.Fatalf("verbs = %s, want %s", got, c.verbs)
			}
			c.check(t, s, opts)
		})
	}
	if seen != len(cases) {
		t.Errorf("found %d of the %d testdata files", seen, len(cases))
	}
}

func TestChaosMeshRefusesUnsupportedFieldsByName(t *testing.T) {
	base, err := os.ReadFile("testdata/chaosmesh/networkchaos.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ old, new, want string }{
		{"action: delay", "action: netem", "cm.yaml:7: spec.action: action \"netem\" is not supported"},
		{"mode: one", "mode: random-most", "cm.yaml:8: spec.mode:"},
		{"    labelSelectors:", "    podPhaseSelectors: [Running]\n    labelSelectors:", "cm.yaml:10: spec.selector.podPhaseSelectors: unknown field"},
		{"    correlation: \"25\"", "    correlation: \"25\"\n    reorder: {reorder: \"10\"}", "cm.yaml:16: spec.delay.reorder: unknown field"},
		{"  duration: 2m", "  duration: 2m\n  remoteCluster: east", "cm.yaml:17: spec.remoteCluster: unknown field"},
		{"  duration: 2m", "  duration: 2m\n  direction: from", "cm.yaml:17: spec.direction: direction \"from\" is supported for loss and partition only"},
		{"    latency: 200ms", "    latency: 2000s", "cm.yaml:13: spec.delay.latency: --latency"},
		{"kind: NetworkChaos", "kind: KernelChaos", "cm.yaml:2: kind: Chaos Mesh kind \"KernelChaos\" is not imported"},
	}
	checkRefusals(t, base, cases)
}

// Every HTTPChaos field with no counterpart is refused by name, with the line.
func TestChaosMeshHTTPRefusesByName(t *testing.T) {
	base, err := os.ReadFile("testdata/chaosmesh/httpchaos-replace.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct{ old, new, want string }{
		{"  port: 8080", "  port: 8080\n  request_headers: {X-A: b}", "cm.yaml:13: spec.request_headers: matching requests by header is not supported"},
		{"  port: 8080", "  port: 8080\n  response_headers: {X-A: b}", "cm.yaml:13: spec.response_headers: matching responses by header"},
		{"  port: 8080", "  port: 8080\n  code: 200", "cm.yaml:13: spec.code: matching requests by their response's status code"},
		{"  port: 8080", "  port: 8080\n  tls: {secretName: s}", "cm.yaml:13: spec.tls: Chaos Mesh decrypts"},
		{"  port: 8080", "  port: 8080\n  abort: true", "cm.yaml:16: spec.replace: one action per experiment here"},
		{"    code: 503", "    code: 503\n    path: /other", "cm.yaml:17: spec.replace.path: replacing the request's path is not supported"},
		{"    code: 503", "    code: 503\n    queries: {a: b}", "cm.yaml:17: spec.replace.queries:"},
		{"target: Response", "target: Request", "cm.yaml:11: spec.target: replace of the request is not supported"},
		{"target: Response", "target: Both", "cm.yaml:11: spec.target: must be Request or Response"},
		{"  port: 8080\n", "", "cm.yaml:7: spec.port: is required"},
		{"    body: b3ZlcmxvYWRlZA==", "    body: \"not base64!\"", "cm.yaml:17: spec.replace.body: must be base64"},
		{"    code: 503", "    code: 99", "cm.yaml:16: spec.replace.code: --code"},
	}
	checkRefusals(t, base, cases)
}

// checkRefusals loads base with each case's one edit (old → new) as cm.yaml and wants
// an error starting with want.
func checkRefusals(t *testing.T, base []byte, cases []struct{ old, new, want string }) {
	t.Helper()
	for _, c := range cases {
		if !strings.Contains(string(base), c.old) {
			t.Fatalf("no %q", c.old)
		}
		_, err := load(t, "cm.yaml", strings.Replace(string(base), c.old, c.new, 1), nil)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%q: got %v\nwant prefix %s", c.new, err, c.want)
		}
	}
}
