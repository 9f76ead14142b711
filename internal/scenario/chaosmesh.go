package scenario

import (
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"
)

// chaosMeshGroup is the API group of Chaos Mesh resources (v1alpha1).
const chaosMeshGroup = "chaos-mesh.org"

// cm maps one Chaos Mesh resource onto fault steps. Every field is either mapped onto
// a verb's flag (whose validation then runs as for any step) or refused by name.
type cm struct {
	*decoder
	verbs *Verbs
	ns    string // metadata.namespace: Chaos Mesh's default for the selector
}

// cmKinds maps the experiment kinds to their spec key inside Schedule and Workflow.
var cmKinds = map[string]string{
	"NetworkChaos": "networkChaos", "PodChaos": "podChaos", "StressChaos": "stressChaos",
	"IOChaos": "ioChaos", "TimeChaos": "timeChaos", "DNSChaos": "dnsChaos", "HTTPChaos": "httpChaos",
}

func (d *decoder) chaosMesh(root *obj, apiVersion, kind string, set map[string]string, verbs *Verbs) (*Scenario, error) {
	c := &cm{decoder: d, verbs: verbs}
	if apiVersion != chaosMeshGroup+"/v1alpha1" {
		d.fail(root.line("apiVersion"), "apiVersion", "Chaos Mesh files are %s/v1alpha1, got %q", chaosMeshGroup, apiVersion)
		return nil, d.err
	}
	if len(set) > 0 {
		d.fail(root.line("kind"), "kind", "--set: a Chaos Mesh file has no parameters")
		return nil, d.err
	}
	md := d.obj(root.node("metadata"), "metadata")
	s := &Scenario{File: d.file, Source: kind, Duration: DefaultTotal, Parameters: map[string]string{}}
	s.Name = md.str("name", true)
	c.ns = md.str("namespace", false)
	s.Namespace = c.ns
	md.used["labels"], md.used["annotations"] = true, true
	md.done("name", "namespace", "labels", "annotations")
	spec := d.obj(root.node("spec"), "spec")
	root.done("apiVersion", "kind", "metadata", "spec")
	if d.err != nil {
		return nil, d.err
	}
	switch kind {
	case "Schedule":
		s.Steps = c.schedule(spec, s)
	case "Workflow":
		s.Steps = c.workflow(spec)
	default:
		if _, ok := cmKinds[kind]; !ok {
			d.fail(root.line("kind"), "kind", "Chaos Mesh kind %q is not imported (NetworkChaos, PodChaos, StressChaos, IOChaos, TimeChaos, DNSChaos, HTTPChaos, Schedule, Workflow)", kind)
			return nil, d.err
		}
		s.Steps = c.experiment(kind, spec, "", 0)
	}
	if d.err != nil {
		return nil, d.err
	}
	s.Duration = max(s.Duration, estimateCap(s.Steps))
	return s, nil
}

// estimateCap lets an imported experiment's own durations set the run's bound.
func estimateCap(steps []*Step) time.Duration {
	var longest time.Duration
	each(steps, func(st *Step, _ string) {
		if st.Fault != nil {
			for _, f := range st.Fault.Fields {
				if f.Name == "duration" && len(f.Values) == 1 {
					if d, err := time.ParseDuration(f.Values[0]); err == nil {
						longest += d
					}
				}
			}
		}
		longest += st.Wait
	})
	return min(longest+5*time.Minute, MaxTotal)
}

// experiment maps one experiment spec (a whole resource, or the embedded spec of a
// Schedule or a Workflow task). deadline, when set, is the Workflow task's deadline.
func (c *cm) experiment(kind string, o *obj, deadline string, deadlineLine int) []*Step {
	fs := &FaultStep{TargetsField: o.at("selector")}
	accepted := c.common(o, fs)
	if deadline != "" && !o.has("duration") {
		fs.Fields = append(fs.Fields, FieldValue{Name: "duration", Values: []string{deadline}, Line: deadlineLine, Field: "deadline"})
	}
	step := func(f *FaultStep) *Step { return &Step{Pos: Pos{Line: o.line(""), Field: o.path}, Fault: f} }
	var steps []*Step
	switch kind {
	case "NetworkChaos":
		accepted = append(accepted, c.network(o, fs)...)
	case "PodChaos":
		accepted = append(accepted, c.pod(o, fs)...)
	case "StressChaos":
		var more []*FaultStep
		more, accepted = c.stress(o, fs, accepted)
		for _, f := range more {
			steps = append(steps, step(f))
		}
	case "IOChaos":
		accepted = append(accepted, c.io(o, fs)...)
	case "TimeChaos":
		fs.Verb = "time shift"
		c.field(o, fs, "timeOffset", "offset")
		c.field(o, fs, "clockIds", "clocks")
		accepted = append(accepted, "timeOffset", "clockIds")
	case "DNSChaos":
		accepted = append(accepted, c.dns(o, fs)...)
	case "HTTPChaos":
		accepted = append(accepted, c.http(o, fs)...)
	}
	o.done(accepted...)
	if c.err != nil {
		return nil
	}
	if len(steps) == 0 {
		steps = []*Step{step(fs)}
	}
	c.verbsCheck(o, steps)
	if len(steps) > 1 {
		return []*Step{{Pos: Pos{Line: o.line(""), Field: o.path}, Parallel: steps}}
	}
	return steps
}

// verbsCheck refuses a mapping onto a verb that does not exist in this build.
func (c *cm) verbsCheck(o *obj, steps []*Step) {
	for _, st := range steps {
		if _, ok := c.verbs.Get(st.Fault.Verb); !ok {
			c.fail(o.line(""), o.path, "maps onto %q, which this build does not have", st.Fault.Verb)
		}
	}
}

// field maps the Chaos Mesh key onto flag (a scalar or a list).
func (c *cm) field(o *obj, fs *FaultStep, key, flag string) {
	if !o.has(key) {
		return
	}
	fs.Fields = append(fs.Fields, FieldValue{Name: flag, Values: o.list(key), Line: o.line(key), Field: o.at(key)})
}

func (c *cm) set(o *obj, fs *FaultStep, key, flag, value string) {
	fs.Fields = append(fs.Fields, FieldValue{Name: flag, Values: []string{value}, Line: o.line(key), Field: o.at(key)})
}

// common maps selector, mode/value, duration and containerNames.
func (c *cm) common(o *obj, fs *FaultStep) []string {
	fs.Namespace = c.ns
	c.field(o, fs, "duration", "duration")
	c.mode(o, fs, o.str("mode", false), o.str("value", false))
	if names := o.list("containerNames"); len(names) > 1 {
		c.fail(o.line("containerNames"), o.at("containerNames"), "one container per experiment here (-c), got %d", len(names))
	} else if len(names) == 1 {
		c.set(o, fs, "containerNames", "container", names[0])
	}
	if o.has("selector") {
		c.selector(c.obj(o.node("selector"), o.at("selector")), fs)
	} else {
		c.fail(o.line("selector"), o.at("selector"), "is required")
	}
	return []string{"selector", "mode", "value", "duration", "containerNames"}
}

func (c *cm) mode(o *obj, fs *FaultStep, mode, value string) {
	switch mode {
	case "", "all":
		c.set(o, fs, "mode", "mode", "all")
	case "one":
		c.set(o, fs, "mode", "mode", "one")
	case "fixed":
		c.set(o, fs, "value", "mode", "fixed="+value)
	case "fixed-percent":
		c.set(o, fs, "value", "mode", "percent="+value)
	case "random-max-percent":
		c.set(o, fs, "value", "mode", "random-max-percent="+value)
	default:
		c.fail(o.line("mode"), o.at("mode"), "mode %q is not supported (one, all, fixed, fixed-percent, random-max-percent)", mode)
	}
}

// selector maps namespaces, labelSelectors, expressionSelectors, fieldSelectors and pods.
func (c *cm) selector(o *obj, fs *FaultStep) {
	if nss := o.list("namespaces"); len(nss) > 1 {
		c.fail(o.line("namespaces"), o.at("namespaces"), "one namespace per experiment here, got %d", len(nss))
	} else if len(nss) == 1 {
		fs.Namespace = nss[0]
	}
	var sel []string
	sel = append(sel, c.pairs(o, "labelSelectors", "=")...)
	if nodes, ok := o.seq("expressionSelectors"); ok {
		for i, n := range nodes {
			sel = append(sel, c.expression(c.obj(n, fmt.Sprintf("%s[%d]", o.at("expressionSelectors"), i))))
		}
	}
	if len(sel) > 0 {
		c.set(o, fs, "labelSelectors", "selector", strings.Join(sel, ","))
	}
	if fsel := c.pairs(o, "fieldSelectors", "="); len(fsel) > 0 {
		c.set(o, fs, "fieldSelectors", "field-selector", strings.Join(fsel, ","))
	}
	c.nodes(o, fs)
	if o.has("pods") {
		po := c.obj(o.node("pods"), o.at("pods"))
		for _, ns := range po.order {
			if fs.Namespace != "" && ns != fs.Namespace || len(po.order) > 1 {
				c.fail(po.line(ns), po.at(ns), "one namespace per experiment here")
			}
			fs.Namespace = ns
			for _, name := range po.list(ns) {
				fs.Targets = append(fs.Targets, "pod/"+name)
			}
		}
	}
	o.done("namespaces", "labelSelectors", "expressionSelectors", "fieldSelectors", "pods",
		"nodes", "nodeSelectors", "annotationSelectors")
}

// nodes maps nodes, nodeSelectors and annotationSelectors onto --node, --node-selector
// and --annotation (filtered client-side).
func (c *cm) nodes(o *obj, fs *FaultStep) {
	c.field(o, fs, "nodes", "node")
	if ns := c.pairs(o, "nodeSelectors", "="); len(ns) > 0 {
		c.set(o, fs, "nodeSelectors", "node-selector", strings.Join(ns, ","))
	}
	for _, a := range c.pairs(o, "annotationSelectors", "=") {
		c.set(o, fs, "annotationSelectors", "annotation", a)
	}
}

func (c *cm) pairs(o *obj, key, sep string) []string {
	if !o.has(key) {
		return nil
	}
	m := c.obj(o.node(key), o.at(key))
	var out []string
	for _, k := range m.order {
		v := m.str(k, false)
		out = append(out, k+sep+v)
	}
	sort.Strings(out)
	return out
}

func (c *cm) expression(o *obj) string {
	key, op, vals := o.str("key", true), o.str("operator", true), o.list("values")
	o.done("key", "operator", "values")
	switch op {
	case "In":
		return key + " in (" + strings.Join(vals, ",") + ")"
	case "NotIn":
		return key + " notin (" + strings.Join(vals, ",") + ")"
	case "Exists":
		return key
	case "DoesNotExist":
		return "!" + key
	}
	c.fail(o.line("operator"), o.at("operator"), "must be In, NotIn, Exists or DoesNotExist, got %q", op)
	return ""
}

// sub decodes an optional nested mapping.
func (c *cm) sub(o *obj, key string) *obj {
	if !o.has(key) {
		return nil
	}
	return c.obj(o.node(key), o.at(key))
}

func (c *cm) pod(o *obj, fs *FaultStep) []string {
	switch a := o.str("action", true); a {
	case "pod-kill":
		fs.Verb = "pod kill"
		if g := o.str("gracePeriod", false); g != "" && g != "0" {
			c.set(o, fs, "gracePeriod", "grace-period", g)
		} else if g == "0" {
			c.set(o, fs, "gracePeriod", "force", "true")
		}
	case "pod-failure":
		fs.Verb = "pod failure"
	case "container-kill":
		fs.Verb = "container kill"
	default:
		c.fail(o.line("action"), o.at("action"), "action %q is not supported (pod-kill, pod-failure, container-kill)", a)
	}
	return []string{"action", "gracePeriod"}
}

func (c *cm) stress(o *obj, fs *FaultStep, accepted []string) ([]*FaultStep, []string) {
	st := c.sub(o, "stressors")
	if st == nil {
		c.fail(o.line("stressors"), o.at("stressors"), "is required (cpu and/or memory)")
		return nil, accepted
	}
	var out []*FaultStep
	for _, kind := range []string{"cpu", "memory"} {
		so := c.sub(st, kind)
		if so == nil {
			continue
		}
		f := *fs
		f.Fields = append([]FieldValue{}, fs.Fields...)
		f.Verb = "stress " + kind
		c.field(so, &f, "workers", "workers")
		if kind == "cpu" {
			c.field(so, &f, "load", "load")
			so.done("workers", "load")
		} else {
			c.field(so, &f, "size", "size")
			so.done("workers", "size")
		}
		out = append(out, &f)
	}
	st.done("cpu", "memory")
	if len(out) == 0 && c.err == nil {
		c.fail(o.line("stressors"), o.at("stressors"), "needs cpu and/or memory")
	}
	return out, append(accepted, "stressors")
}

var errnos = map[string]string{"1": "EPERM", "2": "ENOENT", "5": "EIO", "13": "EACCES", "28": "ENOSPC", "30": "EROFS", "122": "EDQUOT"}

func (c *cm) io(o *obj, fs *FaultStep) []string {
	c.field(o, fs, "volumePath", "path")
	c.field(o, fs, "path", "file-glob")
	c.field(o, fs, "percent", "percent")
	c.field(o, fs, "methods", "methods")
	switch a := o.str("action", true); a {
	case "latency":
		fs.Verb = "io latency"
		c.field(o, fs, "delay", "delay")
	case "fault":
		fs.Verb = "io fault"
		if e := o.str("errno", true); e != "" {
			name, ok := errnos[e]
			if !ok {
				c.fail(o.line("errno"), o.at("errno"), "errno %s is not mapped (%v)", e, errnoList())
			}
			c.set(o, fs, "errno", "errno", name)
		}
	case "attrOverride":
		fs.Verb = "io attr"
		if at := c.sub(o, "attr"); at != nil {
			c.perm(at, fs)
			for _, k := range []string{"size", "uid", "gid", "mtime"} {
				c.field(at, fs, k, k)
			}
			at.done("perm", "size", "uid", "gid", "mtime")
		}
	case "mistake":
		fs.Verb = "io mistake"
		c.mistake(o, fs)
	default:
		c.fail(o.line("action"), o.at("action"), "action %q is not supported (latency, fault, attrOverride, mistake)", a)
	}
	if fs.Verb == "io attr" {
		for _, f := range fs.Fields {
			if f.Name == "percent" || f.Name == "methods" {
				c.fail(f.Line, f.Field, "is not supported for attrOverride")
			}
		}
	}
	return []string{"action", "volumePath", "path", "percent", "methods", "delay", "errno", "attr", "mistake"}
}

// mistake maps mistake.maxLength onto --max-bytes. Ours replaces one run of random bytes
// per call: filling: random and maxOccurrences: 1 are what it does, the rest is refused.
// Chaos Mesh's percent defaults to 100; --percent is required here.
func (c *cm) mistake(o *obj, fs *FaultStep) {
	if !o.has("percent") {
		c.set(o, fs, "action", "percent", "100")
	}
	m := c.sub(o, "mistake")
	if m == nil {
		c.fail(o.line("mistake"), o.at("mistake"), "is required for action mistake")
		return
	}
	if f := m.str("filling", false); f != "" && f != "random" {
		c.fail(m.line("filling"), m.at("filling"), "only filling: random (a run of random bytes), got %q", f)
	}
	if n := m.str("maxOccurrences", false); n != "" && n != "1" {
		c.fail(m.line("maxOccurrences"), m.at("maxOccurrences"), "only maxOccurrences: 1 (one run of wrong bytes per call), got %s", n)
	}
	c.field(m, fs, "maxLength", "max-bytes")
	m.done("filling", "maxOccurrences", "maxLength")
}

// perm maps attr.perm, which Chaos Mesh writes in decimal (72 is 0110), onto --perm,
// which is octal.
func (c *cm) perm(at *obj, fs *FaultStep) {
	v := at.str("perm", false)
	if v == "" {
		return
	}
	n, err := strconv.ParseUint(v, 10, 32)
	if err != nil {
		c.fail(at.line("perm"), at.at("perm"), "must be a decimal number (Chaos Mesh's perm: 420 is 0644), got %q", v)
		return
	}
	c.set(at, fs, "perm", "perm", "0"+strconv.FormatUint(n, 8))
}

func errnoList() string {
	var out []string
	for k, v := range errnos {
		out = append(out, k+"="+v)
	}
	sort.Strings(out)
	return strings.Join(out, ", ")
}

func (c *cm) dns(o *obj, fs *FaultStep) []string {
	fs.Verb = "network dns"
	if p := o.list("patterns"); len(p) > 0 {
		c.set(o, fs, "patterns", "pattern", strings.Join(p, ","))
	}
	switch a := o.str("action", true); a {
	case "error":
		c.set(o, fs, "action", "error", "SERVFAIL")
	case "random":
		c.set(o, fs, "action", "random", "true")
	default:
		c.fail(o.line("action"), o.at("action"), "action %q is not supported (error, random)", a)
	}
	return []string{"action", "patterns"}
}

// schedule imports the embedded experiment and its cron, which kubectl chaos run fires
// on unless --schedule or --repeat is given.
func (c *cm) schedule(o *obj, s *Scenario) []*Step {
	s.Schedule, s.ScheduleLine = o.str("schedule", true), o.line("schedule")
	if p := o.str("concurrencyPolicy", false); p != "" && p != "Forbid" {
		c.fail(o.line("concurrencyPolicy"), o.at("concurrencyPolicy"), "only Forbid (overlapping runs are refused), got %q", p)
	}
	o.used["historyLimit"] = true // no resources are kept: nothing to limit
	typ := o.str("type", true)
	key, ok := cmKinds[typ]
	if !ok && c.err == nil {
		c.fail(o.line("type"), o.at("type"), "type %q is not imported (%s)", typ, "NetworkChaos, PodChaos, StressChaos, IOChaos, TimeChaos, DNSChaos, HTTPChaos")
	}
	var steps []*Step
	if ok {
		if !o.has(key) {
			c.fail(o.line(key), o.at(key), "is required for type %s", typ)
		} else {
			steps = c.experiment(typ, c.obj(o.node(key), o.at(key)), "", 0)
		}
	}
	o.done("schedule", "concurrencyPolicy", "historyLimit", "type", key)
	return steps
}

// workflow maps entry and templates (Serial, Parallel, Suspend and the chaos kinds).
func (c *cm) workflow(o *obj) []*Step {
	entry := o.str("entry", true)
	nodes, _ := o.seq("templates")
	o.done("entry", "templates")
	byName := map[string]*obj{}
	for i, n := range nodes {
		t := c.obj(n, fmt.Sprintf("%s[%d]", o.at("templates"), i))
		byName[t.str("name", true)] = t
	}
	if c.err != nil {
		return nil
	}
	if byName[entry] == nil {
		c.fail(o.line("entry"), o.at("entry"), "no template is called %q", entry)
		return nil
	}
	return c.template(byName, entry, 0)
}

func (c *cm) template(byName map[string]*obj, name string, depth int) []*Step {
	t := byName[name]
	if depth > MaxDepth {
		c.fail(t.line("name"), t.path, "templates nest deeper than %d levels (a cycle?)", MaxDepth)
		return nil
	}
	typ := t.str("templateType", true)
	pos := Pos{Line: t.line("name"), Field: t.path}
	switch typ {
	case "Serial", "Parallel":
		var sub []*Step
		for _, child := range t.list("children") {
			if byName[child] == nil {
				c.fail(t.line("children"), t.at("children"), "no template is called %q", child)
				return nil
			}
			sub = append(sub, c.template(byName, child, depth+1)...)
		}
		t.done("name", "templateType", "children")
		if typ == "Serial" {
			return []*Step{{Pos: pos, Name: name, Serial: sub}}
		}
		return []*Step{{Pos: pos, Name: name, Parallel: sub}}
	case "Suspend":
		d := t.dur("deadline", 0, time.Millisecond, MaxWait)
		t.done("name", "templateType", "deadline")
		return []*Step{{Pos: pos, Name: name, Wait: d}}
	}
	key, ok := cmKinds[typ]
	if !ok {
		c.fail(t.line("templateType"), t.at("templateType"), "templateType %q is not imported (Serial, Parallel, Suspend, NetworkChaos, PodChaos, StressChaos, IOChaos, TimeChaos, DNSChaos)", typ)
		return nil
	}
	deadline := t.str("deadline", false)
	if !t.has(key) {
		c.fail(t.line(key), t.at(key), "is required for templateType %s", typ)
		return nil
	}
	steps := c.experiment(typ, c.obj(t.node(key), t.at(key)), deadline, t.line("deadline"))
	t.done("name", "templateType", "deadline", key)
	for _, s := range steps {
		s.Name = name
	}
	return steps
}
