package scenario

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
)

// Load parses a scenario (or Chaos Mesh) file, applies the --set parameters and
// validates everything, each fault step through its verb, before anything is created.
// Every refusal is an *Error naming file, line and field (wrapped as a usage error).
func Load(ctx context.Context, file string, data []byte, set map[string]string, verbs *Verbs) (*Scenario, error) {
	s, err := parse(file, data, set, verbs)
	if err == nil {
		err = build(ctx, file, s, verbs)
	}
	if err != nil {
		return nil, exit.UsageError(err)
	}
	return s, nil
}

var yamlLine = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`line (\d+)`) })

func parse(file string, data []byte, set map[string]string, verbs *Verbs) (*Scenario, error) {
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line := 1
		if m := yamlLine().FindStringSubmatch(err.Error()); m != nil {
			line, _ = strconv.Atoi(m[1])
		}
		return nil, &Error{File: file, Line: line, Msg: "not valid YAML: " + strings.TrimPrefix(err.Error(), "yaml: ")}
	}
	if doc.Kind != yaml.DocumentNode || len(doc.Content) == 0 {
		return nil, &Error{File: file, Line: 1, Msg: "the file is empty"}
	}
	d := &decoder{file: file}
	root := d.obj(doc.Content[0], "")
	if d.err != nil {
		return nil, d.err
	}
	av, kind := root.str("apiVersion", true), root.str("kind", true)
	if d.err != nil {
		return nil, d.err
	}
	if strings.HasPrefix(av, chaosMeshGroup+"/") {
		return d.chaosMesh(root, av, kind, set, verbs)
	}
	if av != APIVersion {
		d.fail(root.line("apiVersion"), "apiVersion", "must be %s (or %s/v1alpha1 for a Chaos Mesh file), got %q", APIVersion, chaosMeshGroup, av)
		return nil, d.err
	}
	if kind != Kind {
		d.fail(root.line("kind"), "kind", "must be %s, got %q", Kind, kind)
		return nil, d.err
	}
	s := &Scenario{File: file, Source: Kind}
	md := d.obj(root.node("metadata"), "metadata")
	s.Name = md.str("name", true)
	if errs := validation.IsDNS1123Subdomain(s.Name); s.Name != "" && len(errs) > 0 {
		d.fail(md.line("name"), "metadata.name", "must be a DNS name (lower case, digits, - and .), got %q", s.Name)
	}
	s.Description = md.str("description", false)
	md.done("name", "description")
	if !root.has("spec") {
		d.fail(root.line("spec"), "spec", "is required")
	}
	spec := d.obj(root.node("spec"), "spec")
	root.done("apiVersion", "kind", "metadata", "spec")
	if d.err != nil {
		return nil, d.err
	}
	s.Parameters = d.parameters(spec, set)
	for _, k := range spec.order {
		if k != "parameters" {
			d.substitute(spec.vals[k], spec.at(k), s.Parameters)
		}
	}
	s.Duration = spec.dur("duration", DefaultTotal, time.Second, MaxTotal)
	s.Namespace = spec.str("namespace", false)
	if errs := validation.IsDNS1123Label(s.Namespace); s.Namespace != "" && len(errs) > 0 {
		d.fail(spec.line("namespace"), "spec.namespace", "must be a namespace name, got %q", s.Namespace)
	}
	if nodes, ok := spec.seq("probes"); ok {
		for i, n := range nodes {
			s.Probes = append(s.Probes, d.probe(n, fmt.Sprintf("spec.probes[%d]", i), true))
		}
	}
	steps, ok := spec.seq("steps")
	if !ok || len(steps) == 0 {
		d.fail(spec.line("steps"), "spec.steps", "needs at least one step")
	}
	s.Steps = d.steps(steps, "spec.steps", verbs, 0, new(int))
	spec.done("parameters", "duration", "namespace", "probes", "steps")
	if d.err != nil {
		return nil, d.err
	}
	return s, nil
}

var phases = []string{"before", "during", "after"}

func (d *decoder) probe(n *yaml.Node, path string, top bool) *Probe {
	o := d.obj(n, path)
	p := &Probe{Pos: Pos{Line: n.Line, Field: path}}
	p.Name = o.str("name", false)
	accepted := []string{"name", "timeout", "abortOn", "http", "command", "condition", "prometheus"}
	p.Timeout = o.dur("timeout", DefaultTimeout, 10*time.Millisecond, MaxTimeout)
	p.AbortOn = o.boolean("abortOn")
	if top {
		accepted = append(accepted, "when", "interval")
		p.When = o.list("when")
		if len(p.When) == 0 {
			d.fail(o.line("when"), o.at("when"), "is required: before, during and/or after")
		}
		for _, w := range p.When {
			if !contains(phases, w) {
				d.fail(o.line("when"), o.at("when"), "must be before, during or after, got %q", w)
			}
		}
		p.Interval = o.dur("interval", DefaultInterval, MinInterval, MaxTimeout)
		if p.AbortOn && !p.Has("during") {
			d.fail(o.line("abortOn"), o.at("abortOn"), "needs when: during (a probe only aborts while the steps run)")
		}
	}
	kinds := 0
	for _, k := range []string{"http", "command", "condition", "prometheus"} {
		if o.has(k) {
			kinds++
		}
	}
	if kinds != 1 {
		d.fail(n.Line, path, "needs exactly one of http, command, condition, prometheus (has %d)", kinds)
	}
	if o.has("http") {
		p.HTTP = d.httpProbe(d.obj(o.node("http"), o.at("http")))
	}
	if o.has("command") {
		p.Command = d.command(d.obj(o.node("command"), o.at("command")), false)
	}
	if o.has("condition") {
		p.Condition = d.condition(d.obj(o.node("condition"), o.at("condition")))
	}
	if o.has("prometheus") {
		p.Prometheus = d.prometheus(d.obj(o.node("prometheus"), o.at("prometheus")))
	}
	o.done(accepted...)
	return p
}

func contains(list []string, s string) bool {
	for _, e := range list {
		if e == s {
			return true
		}
	}
	return false
}

func (d *decoder) checkURL(o *obj, key string) string {
	u := o.str(key, true)
	if pu, err := url.Parse(u); u != "" && (err != nil || (pu.Scheme != "http" && pu.Scheme != "https") || pu.Host == "") {
		d.fail(o.line(key), o.at(key), "must be an http:// or https:// URL, got %q", u)
	}
	return u
}

func (d *decoder) httpProbe(o *obj) *HTTPProbe {
	h := &HTTPProbe{URL: d.checkURL(o, "url")}
	h.Method = strings.ToUpper(o.str("method", false))
	if h.Method == "" {
		h.Method = "GET"
	}
	if !contains([]string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}, h.Method) {
		d.fail(o.line("method"), o.at("method"), "must be an HTTP method (GET, HEAD, POST, …), got %q", h.Method)
	}
	for _, s := range o.list("status") {
		c, err := strconv.Atoi(s)
		if err != nil || c < 100 || c > 599 {
			d.fail(o.line("status"), o.at("status"), "must be HTTP status codes 100-599, got %q", s)
		}
		h.Status = append(h.Status, c)
	}
	h.MaxLatency = o.dur("maxLatency", 0, time.Millisecond, MaxTimeout)
	h.Body = o.str("body", false)
	if _, err := regexp.Compile(h.Body); err != nil {
		d.fail(o.line("body"), o.at("body"), "must be a regular expression: %v", err)
	}
	if len(h.Status) == 0 && h.MaxLatency == 0 && h.Body == "" {
		h.Status = []int{200}
	}
	o.done("url", "method", "status", "maxLatency", "body")
	return h
}

func (d *decoder) command(o *obj, step bool) *Command {
	c := &Command{Run: o.list("run"), Shell: o.str("shell", false)}
	if (len(c.Run) == 0) == (c.Shell == "") {
		d.fail(o.line(""), o.path, "needs exactly one of run (a program and its arguments) or shell (a line for sh -c)")
	}
	c.ExitCode = o.integer("exitCode", 0, 0, 255)
	accepted := []string{"run", "shell", "exitCode"}
	if step {
		c.Timeout = o.dur("timeout", time.Minute, 10*time.Millisecond, MaxTimeout)
		accepted = append(accepted, "timeout")
	}
	o.done(accepted...)
	return c
}

func (d *decoder) condition(o *obj) *ConditionProbe {
	c := &ConditionProbe{Namespace: o.str("namespace", false), Selector: o.str("selector", true)}
	if _, err := labels.Parse(c.Selector); c.Selector != "" && err != nil {
		d.fail(o.line("selector"), o.at("selector"), "must be a label selector like app=web: %v", err)
	}
	c.MinReady = o.integer("minReady", 1, 1, 100000)
	o.done("namespace", "selector", "minReady")
	return c
}

func (d *decoder) prometheus(o *obj) *PrometheusProbe {
	p := &PrometheusProbe{URL: d.checkURL(o, "url"), Query: o.str("query", true), Min: o.number("min"), Max: o.number("max")}
	if p.Min == nil && p.Max == nil {
		d.fail(o.line(""), o.path, "needs min and/or max: the range every sample of the query must lie in")
	}
	if p.Min != nil && p.Max != nil && *p.Min > *p.Max {
		d.fail(o.line("min"), o.at("min"), "must not exceed max (%g > %g)", *p.Min, *p.Max)
	}
	o.done("url", "query", "min", "max")
	return p
}

var stepBodies = []string{"fault", "wait", "probe", "command", "parallel", "serial"}

func (d *decoder) steps(nodes []*yaml.Node, path string, verbs *Verbs, depth int, count *int) []*Step {
	if depth > MaxDepth {
		d.fail(1, path, "steps nest deeper than %d levels", MaxDepth)
		return nil
	}
	var out []*Step
	names := map[string]bool{}
	for i, n := range nodes {
		*count++
		if *count > MaxSteps {
			d.fail(n.Line, path, "more than %d steps", MaxSteps)
			return out
		}
		s := d.step(n, fmt.Sprintf("%s[%d]", path, i), verbs, depth, count)
		if s.Name != "" && names[s.Name] {
			d.fail(n.Line, s.Field+".name", "%q is the name of an earlier step", s.Name)
		}
		names[s.Name] = true
		out = append(out, s)
	}
	return out
}

func (d *decoder) step(n *yaml.Node, path string, verbs *Verbs, depth int, count *int) *Step {
	o := d.obj(n, path)
	s := &Step{Pos: Pos{Line: n.Line, Field: path}, Name: o.str("name", false)}
	var bodies []string
	for _, b := range stepBodies {
		if o.has(b) {
			bodies = append(bodies, b)
		}
	}
	if len(bodies) != 1 {
		d.fail(n.Line, path, "a step needs exactly one of %s (has %d)", strings.Join(stepBodies, ", "), len(bodies))
		return s
	}
	switch b := bodies[0]; b {
	case "fault":
		s.Fault = d.fault(d.obj(o.node(b), o.at(b)), verbs)
	case "wait":
		s.Wait = o.dur(b, 0, time.Millisecond, MaxWait)
	case "probe":
		s.Probe = d.probe(o.node(b), o.at(b), false)
	case "command":
		s.Command = d.command(d.obj(o.node(b), o.at(b)), true)
	default:
		nodes, _ := o.seq(b)
		if len(nodes) == 0 {
			d.fail(o.line(b), o.at(b), "needs at least one step")
		}
		sub := d.steps(nodes, o.at(b), verbs, depth+1, count)
		if sub == nil {
			sub = []*Step{}
		}
		if b == "parallel" {
			s.Parallel = sub
		} else {
			s.Serial = sub
		}
	}
	o.done(append([]string{"name"}, stepBodies...)...)
	return s
}

func (d *decoder) fault(o *obj, verbs *Verbs) *FaultStep {
	fs := &FaultStep{Verb: strings.Join(strings.Fields(o.str(keyVerb, true)), " ")}
	fs.Targets = o.list(keyTargets)
	fs.Namespace = o.str(keyNamespace, false)
	if d.err != nil {
		return fs
	}
	vb, ok := verbs.Get(fs.Verb)
	if !ok {
		d.fail(o.line(keyVerb), o.at(keyVerb), "%q is not a fault verb (%s)", fs.Verb, verbs.describe())
		return fs
	}
	for _, k := range o.order {
		if k == keyVerb || k == keyTargets || k == keyNamespace {
			continue
		}
		o.used[k] = true
		f, ok := vb.Field(k)
		if !ok {
			why := "not a flag of " + fs.Verb + " (kubectl chaos " + fs.Verb + " --help lists them)"
			if r, run := runLevel[k]; run {
				why = "not a step field: " + r
			}
			d.fail(o.line(k), o.at(k), "%s", why)
			return fs
		}
		var vals []string
		if f.IsList() {
			vals = o.list(k)
		} else if v, ok := o.scalar(k); ok {
			vals = []string{v}
		}
		fs.Fields = append(fs.Fields, FieldValue{Name: k, Values: vals, Line: o.line(k)})
	}
	for _, f := range vb.Fields {
		if f.Required && !o.has(f.Name) {
			d.fail(o.line(keyVerb), o.at(f.Name), "is required for %s (%s)", fs.Verb, f.Usage)
		}
	}
	return fs
}

// build runs every fault step through its verb (flags, units, validation) and checks
// the steps fit in the scenario's duration.
func build(ctx context.Context, file string, s *Scenario, verbs *Verbs) error {
	var err error
	each(s.Steps, func(st *Step, path string) {
		if err != nil || st.Fault == nil {
			return
		}
		fs := st.Fault
		if fs.Namespace == "" {
			fs.Namespace = s.Namespace
		}
		o, berr := verbs.Build(ctx, fs)
		if berr != nil {
			err = stepError(file, st, berr)
			return
		}
		fs.Options = o
	})
	if err != nil {
		return err
	}
	if need := estimate(s.Steps); need > s.Duration {
		return &Error{File: file, Line: 1, Field: "spec.duration", Msg: fmt.Sprintf("the steps need %s (faults last their duration, 5m by default), more than spec.duration %s", need, s.Duration)}
	}
	return nil
}

// stepError maps the verb's refusal (which names --flag) to the field and its line.
func stepError(file string, st *Step, err error) error {
	var ee *exit.Error
	msg := err.Error()
	if errors.As(err, &ee) && ee.Err != nil {
		msg = ee.Err.Error()
	}
	fs := st.Fault
	if f, ok := flagOf(msg, fs.Fields); ok {
		field := st.Field + ".fault." + f.Name
		if f.Field != "" {
			field = f.Field
		}
		return &Error{File: file, Line: f.Line, Field: field, Msg: msg}
	}
	if strings.Contains(msg, "target") || strings.Contains(msg, "TYPE/NAME") || strings.Contains(msg, "selector") {
		field := st.Field + ".fault.targets"
		if fs.TargetsField != "" {
			field = fs.TargetsField
		}
		return &Error{File: file, Line: st.Line, Field: field, Msg: msg}
	}
	return &Error{File: file, Line: st.Line, Field: st.Field + ".fault", Msg: msg}
}

// each visits every step, depth first.
func each(steps []*Step, fn func(*Step, string)) {
	for _, st := range steps {
		fn(st, st.Field)
		each(st.Parallel, fn)
		each(st.Serial, fn)
	}
}
