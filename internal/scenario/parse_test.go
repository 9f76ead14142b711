package scenario_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

const good = `apiVersion: kubectl-chaos/v1
kind: Scenario
metadata:
  name: web-latency
  description: web stays fast under 100ms of extra latency
spec:
  duration: 10m
  namespace: shop
  parameters:
    latency: 100ms
    ready: "2"
  probes:
  - name: web-ready
    when: [before, during, after]
    interval: 2s
    abortOn: true
    condition:
      selector: app=web
      minReady: ${ready}
  steps:
  - name: slow
    fault:
      verb: network delay
      targets: deploy/web
      latency: ${latency}
      duration: 1m
      port: [80, 443]
  - wait: 5s
  - parallel:
    - fault:
        verb: stress cpu
        targets: [deploy/web]
        workers: 1
        duration: 30s
    - command:
        run: [kubectl, get, pods]
  - probe:
      http:
        url: http://localhost:8080/healthz
        status: [200, 204]
        maxLatency: 300ms
`

func TestLoadGood(t *testing.T) {
	s, err := load(t, "good.yaml", good, map[string]string{"latency": "250ms"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Name != "web-latency" || s.Duration != 10*time.Minute || len(s.Steps) != 4 || len(s.Probes) != 1 {
		t.Fatalf("scenario = %+v", s)
	}
	d := s.Steps[0].Fault.Options
	if d.Fault.Network == nil || d.Fault.Network.Delay == nil || d.Fault.Network.Delay.Latency.D() != 250*time.Millisecond {
		t.Errorf("--set latency did not reach the fault: %+v", d.Fault)
	}
	if d.Duration != time.Minute || d.Target.Namespace != "shop" || len(d.Target.Args) != 1 || d.Target.Args[0] != "deploy/web" {
		t.Errorf("options = duration %s ns %s args %v", d.Duration, d.Target.Namespace, d.Target.Args)
	}
	if s.Probes[0].Condition.MinReady != 2 || !s.Probes[0].AbortOn {
		t.Errorf("probe = %+v", s.Probes[0])
	}
	st := s.Steps[2].Parallel[0].Fault.Options
	if st.Fault.Stress == nil || st.Duration != 30*time.Second {
		t.Errorf("stress step = %+v", st.Fault)
	}
}

// edit returns good with old replaced by new (old must be there).
func edit(t *testing.T, old, new string) string {
	t.Helper()
	if !strings.Contains(good, old) {
		t.Fatalf("the good file has no %q", old)
	}
	return strings.Replace(good, old, new, 1)
}

func TestLoadRefusesBadFiles(t *testing.T) {
	cases := []struct {
		name, old, new string
		set            map[string]string
		want           string // file:line: field prefix
	}{
		{"yaml syntax", "  name: web-latency\n", "  name: [web\n", nil, "bad.yaml:3: not valid YAML"},
		{"api version", "kubectl-chaos/v1", "kubectl-chaos/v2", nil, "bad.yaml:1: apiVersion:"},
		{"kind", "kind: Scenario", "kind: Game", nil, "bad.yaml:2: kind:"},
		{"unknown top key", "kind: Scenario\n", "kind: Scenario\nstatus: {}\n", nil, "bad.yaml:3: status: unknown field"},
		{"no name", "  name: web-latency\n", "", nil, "bad.yaml:4: metadata.name: is required"},
		{"bad name", "name: web-latency", "name: Web_Latency", nil, "bad.yaml:4: metadata.name:"},
		{"unknown metadata", "  description:", "  labels: x\n  description:", nil, "bad.yaml:5: metadata.labels: unknown field"},
		{"duration unit", "duration: 10m", "duration: 600", nil, "bad.yaml:7: spec.duration: must be a duration"},
		{"duration too long", "duration: 10m", "duration: 48h", nil, "bad.yaml:7: spec.duration: must be between"},
		{"namespace", "namespace: shop", "namespace: Shop!", nil, "bad.yaml:8: spec.namespace:"},
		{"undeclared set", "", "", map[string]string{"nope": "1"}, "bad.yaml:10: spec.parameters.nope: --set nope"},
		{"undeclared ref", "latency: ${latency}", "latency: ${lat}", nil, "bad.yaml:25: spec.steps[0].fault.latency: ${lat} is not a parameter"},
		{"param without default", "    ready: \"2\"", "    ready:", nil, "bad.yaml:11: spec.parameters.ready: has no default"},
		{"bad param name", "    ready: \"2\"", "    2ready: \"2\"", nil, "bad.yaml:11: spec.parameters.2ready:"},
		{"probe when", "when: [before, during, after]", "when: [before, sometimes]", nil, "bad.yaml:14: spec.probes[0].when: must be before, during or after"},
		{"probe no when", "    when: [before, during, after]\n", "", nil, "bad.yaml:13: spec.probes[0].when: is required"},
		{"probe interval", "interval: 2s", "interval: 1ms", nil, "bad.yaml:15: spec.probes[0].interval: must be between"},
		{"probe two kinds", "    condition:\n", "    http: {url: http://x}\n    condition:\n", nil, "bad.yaml:13: spec.probes[0]: needs exactly one of"},
		{"abortOn type", "abortOn: true", "abortOn: yes please", nil, "bad.yaml:16: spec.probes[0].abortOn: must be true or false"},
		{"abortOn without during", "when: [before, during, after]", "when: [before, after]", nil, "bad.yaml:16: spec.probes[0].abortOn: needs when: during"},
		{"minReady", "minReady: ${ready}", "minReady: 0", nil, "bad.yaml:19: spec.probes[0].condition.minReady: must be a whole number"},
		{"selector", "selector: app=web", "selector: app==web=x", nil, "bad.yaml:18: spec.probes[0].condition.selector:"},
		{"no steps", "  steps:\n", "  steps: []\n  nothing:\n", nil, "bad.yaml:20: spec.steps: needs at least one step"},
		{"step two bodies", "  - wait: 5s", "  - wait: 5s\n    command: {shell: 'true'}", nil, "bad.yaml:28: spec.steps[1]: a step needs exactly one of"},
		{"step unknown key", "  - wait: 5s", "  - wait: 5s\n    retries: 3", nil, "bad.yaml:29: spec.steps[1].retries: unknown field"},
		{"wait unit", "wait: 5s", "wait: five", nil, "bad.yaml:28: spec.steps[1].wait: must be a duration"},
		{"unknown verb", "verb: network delay", "verb: network slow", nil, "bad.yaml:23: spec.steps[0].fault.verb: \"network slow\" is not a fault verb"},
		{"unknown flag", "      port: [80, 443]", "      speed: 3", nil, "bad.yaml:27: spec.steps[0].fault.speed: not a flag of network delay"},
		{"run-level flag", "      port: [80, 443]", "      dry-run: true", nil, "bad.yaml:27: spec.steps[0].fault.dry-run: not a step field"},
		{"missing required flag", "      latency: ${latency}\n", "", nil, "bad.yaml:23: spec.steps[0].fault.latency: is required"},
		{"flag value type", "latency: ${latency}", "latency: soon", nil, "bad.yaml:25: spec.steps[0].fault.latency:"},
		{"flag range (kind's Validate)", "latency: ${latency}", "latency: 100h", nil, "bad.yaml:25: spec.steps[0].fault.latency: --latency"},
		{"fault duration range", "      duration: 1m\n      port", "      duration: 0s\n      port", nil, "bad.yaml:26: spec.steps[0].fault.duration: --duration"},
		{"list for scalar flag", "latency: ${latency}", "latency: [1ms, 2ms]", nil, "bad.yaml:25: spec.steps[0].fault.latency: must be a single value"},
		{"no target", "      targets: deploy/web\n", "", nil, "bad.yaml:21: spec.steps[0].fault.targets: no target"},
		{"bad target kind", "targets: deploy/web", "targets: widget/web", nil, "bad.yaml:21: spec.steps[0].fault.targets: target \"widget/web\""},
		{"nested bad flag", "        workers: 1", "        workers: many", nil, "bad.yaml:33: spec.steps[2].parallel[0].fault.workers:"},
		{"empty parallel", "  - parallel:\n", "  - parallel: []\n  - serial:\n", nil, "bad.yaml:29: spec.steps[2].parallel: needs at least one step"},
		{"command both", "run: [kubectl, get, pods]", "{run: [kubectl], shell: ls}", nil, "bad.yaml:36: spec.steps[2].parallel[1].command: needs exactly one of run"},
		{"command exit code", "run: [kubectl, get, pods]", "run: [kubectl]\n        exitCode: 300", nil, "bad.yaml:37: spec.steps[2].parallel[1].command.exitCode:"},
		{"http url", "url: http://localhost:8080/healthz", "url: localhost:8080", nil, "bad.yaml:39: spec.steps[3].probe.http.url: must be an http"},
		{"http status", "status: [200, 204]", "status: [200, 999]", nil, "bad.yaml:40: spec.steps[3].probe.http.status:"},
		{"http body regexp", "maxLatency: 300ms", "body: \"(\"", nil, "bad.yaml:41: spec.steps[3].probe.http.body: must be a regular expression"},
		{"step probe when", "  - probe:\n", "  - probe:\n      when: during\n", nil, "bad.yaml:38: spec.steps[3].probe.when: unknown field"},
		{"duplicate key", "  - name: slow\n", "  - name: slow\n    name: fast\n", nil, "bad.yaml:22: spec.steps[0].name: is given twice"},
		{"duplicate step name", "  - wait: 5s", "  - name: slow\n    wait: 5s", nil, "bad.yaml:28: spec.steps[1].name: \"slow\" is the name"},
		{"total too short", "duration: 10m", "duration: 30s", nil, "bad.yaml:1: spec.duration: the steps need"},
		{"prometheus no bound", "      http:\n        url: http://localhost:8080/healthz\n        status: [200, 204]\n        maxLatency: 300ms\n",
			"      prometheus:\n        url: http://prom:9090\n        query: up\n", nil, "bad.yaml:39: spec.steps[3].probe.prometheus: needs min and/or max"},
	}
	if len(cases) < 30 {
		t.Fatalf("only %d bad files", len(cases))
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			text := good
			if c.old != "" || c.new != "" {
				text = edit(t, c.old, c.new)
			}
			_, err := load(t, "bad.yaml", text, c.set)
			if err == nil {
				t.Fatalf("accepted:\n%s", text)
			}
			if exit.Code(err) != exit.Usage {
				t.Errorf("exit code %d, want %d", exit.Code(err), exit.Usage)
			}
			var se *scenario.Error
			if !errors.As(err, &se) {
				t.Errorf("not a *scenario.Error: %T %v", err, err)
			}
			if !strings.HasPrefix(err.Error(), c.want) {
				t.Errorf("got  %v\nwant prefix %s", err, c.want)
			}
		})
	}
}
