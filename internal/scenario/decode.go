package scenario

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"go.yaml.in/yaml/v3"
)

// decoder walks the YAML node tree, keeping the first refusal (file, line, field).
type decoder struct {
	file string
	err  *Error
}

func (d *decoder) fail(line int, field, format string, a ...any) {
	if d.err == nil {
		d.err = &Error{File: d.file, Line: line, Field: field, Msg: fmt.Sprintf(format, a...)}
	}
}

// obj is one YAML mapping being decoded: every key must be read, or it is refused.
type obj struct {
	d     *decoder
	path  string
	n     *yaml.Node
	vals  map[string]*yaml.Node
	lines map[string]int
	order []string
	used  map[string]bool
}

func (d *decoder) obj(n *yaml.Node, path string) *obj {
	o := &obj{d: d, path: path, n: n, vals: map[string]*yaml.Node{}, lines: map[string]int{}, used: map[string]bool{}}
	if n == nil {
		return o
	}
	if n.Kind != yaml.MappingNode {
		d.fail(n.Line, path, "must be a mapping (key: value lines), got %s", kindName(n))
		return o
	}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		if _, dup := o.vals[k.Value]; dup {
			d.fail(k.Line, o.at(k.Value), "is given twice")
			continue
		}
		o.vals[k.Value], o.lines[k.Value] = v, k.Line
		o.order = append(o.order, k.Value)
	}
	return o
}

func kindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.AliasNode:
		return "an alias"
	}
	if n.Tag == "!!null" {
		return "nothing"
	}
	return fmt.Sprintf("%q", n.Value)
}

func (o *obj) at(key string) string {
	if o.path == "" {
		return key
	}
	return o.path + "." + key
}

// line is the line of key, or of the mapping when key is absent.
func (o *obj) line(key string) int {
	if l, ok := o.lines[key]; ok {
		return l
	}
	if o.n != nil {
		return o.n.Line
	}
	return 1
}

func (o *obj) has(key string) bool { _, ok := o.vals[key]; return ok }

// node returns key's value and marks it read.
func (o *obj) node(key string) *yaml.Node {
	o.used[key] = true
	return o.vals[key]
}

// done refuses every key nobody read, naming the accepted ones.
func (o *obj) done(accepted ...string) {
	for _, k := range o.order {
		if !o.used[k] {
			sort.Strings(accepted)
			o.d.fail(o.lines[k], o.at(k), "unknown field (accepted here: %s)", strings.Join(accepted, ", "))
			return
		}
	}
}

func (o *obj) scalar(key string) (string, bool) {
	n := o.node(key)
	if n == nil {
		return "", false
	}
	if n.Kind != yaml.ScalarNode || n.Tag == "!!null" {
		o.d.fail(o.line(key), o.at(key), "must be a single value, got %s", kindName(n))
		return "", false
	}
	return n.Value, true
}

func (o *obj) str(key string, required bool) string {
	s, ok := o.scalar(key)
	if !ok && required && !o.has(key) {
		o.d.fail(o.line(key), o.at(key), "is required")
	}
	if ok && required && strings.TrimSpace(s) == "" {
		o.d.fail(o.line(key), o.at(key), "must not be empty")
	}
	return s
}

func (o *obj) dur(key string, def, lo, hi time.Duration) time.Duration {
	s, ok := o.scalar(key)
	if !ok {
		return def
	}
	d, err := time.ParseDuration(s)
	if err != nil {
		o.d.fail(o.line(key), o.at(key), "must be a duration with a unit like 30s, 2m or 1h30m, got %q", s)
		return def
	}
	if d < lo || d > hi {
		o.d.fail(o.line(key), o.at(key), "must be between %s and %s, got %s", lo, hi, d)
	}
	return d
}

func (o *obj) integer(key string, def, lo, hi int) int {
	s, ok := o.scalar(key)
	if !ok {
		return def
	}
	n, err := strconv.Atoi(s)
	if err != nil || n < lo || n > hi {
		o.d.fail(o.line(key), o.at(key), "must be a whole number between %d and %d, got %q", lo, hi, s)
		return def
	}
	return n
}

func (o *obj) number(key string) *float64 {
	s, ok := o.scalar(key)
	if !ok {
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil {
		o.d.fail(o.line(key), o.at(key), "must be a number, got %q", s)
		return nil
	}
	return &f
}

func (o *obj) boolean(key string) bool {
	s, ok := o.scalar(key)
	if !ok {
		return false
	}
	switch s {
	case "true":
		return true
	case "false":
		return false
	}
	o.d.fail(o.line(key), o.at(key), "must be true or false, got %q", s)
	return false
}

// list reads a scalar or a list of scalars.
func (o *obj) list(key string) []string {
	n := o.node(key)
	if n == nil {
		return nil
	}
	if n.Kind == yaml.ScalarNode && n.Tag != "!!null" {
		return []string{n.Value}
	}
	if n.Kind != yaml.SequenceNode {
		o.d.fail(o.line(key), o.at(key), "must be a value or a list of values, got %s", kindName(n))
		return nil
	}
	var out []string
	for i, e := range n.Content {
		if e.Kind != yaml.ScalarNode || e.Tag == "!!null" {
			o.d.fail(e.Line, fmt.Sprintf("%s[%d]", o.at(key), i), "must be a single value, got %s", kindName(e))
			return nil
		}
		out = append(out, e.Value)
	}
	return out
}

// seq reads a list of mappings.
func (o *obj) seq(key string) ([]*yaml.Node, bool) {
	n := o.node(key)
	if n == nil {
		return nil, false
	}
	if n.Kind != yaml.SequenceNode {
		o.d.fail(o.line(key), o.at(key), "must be a list, got %s", kindName(n))
		return nil, false
	}
	return n.Content, true
}

// params replaces ${name} in every scalar with the parameter's value; $${ is a literal ${.
var paramRef = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`\$?\$\{([^}]*)\}`) })

func (d *decoder) substitute(n *yaml.Node, path string, params map[string]string) {
	if n == nil || d.err != nil {
		return
	}
	if n.Kind == yaml.ScalarNode && strings.Contains(n.Value, "${") {
		n.Value = paramRef().ReplaceAllStringFunc(n.Value, func(m string) string {
			if strings.HasPrefix(m, "$$") {
				return m[1:]
			}
			name := m[2 : len(m)-1]
			v, ok := params[name]
			if !ok {
				d.fail(n.Line, path, "${%s} is not a parameter (declare it under spec.parameters)", name)
			}
			return v
		})
		return
	}
	for i, c := range n.Content {
		p := path
		switch n.Kind {
		case yaml.MappingNode:
			if i%2 == 0 {
				continue
			}
			p = joinPath(path, n.Content[i-1].Value)
		case yaml.SequenceNode:
			p = fmt.Sprintf("%s[%d]", path, i)
		}
		d.substitute(c, p, params)
	}
}

func joinPath(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

var paramName = sync.OnceValue(func() *regexp.Regexp { return regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`) })

// parameters reads spec.parameters (name: default, null = must be --set) and applies set.
func (d *decoder) parameters(o *obj, set map[string]string) map[string]string {
	out := map[string]string{}
	po := d.obj(o.node("parameters"), o.at("parameters"))
	for _, name := range po.order {
		po.used[name] = true
		if !paramName().MatchString(name) {
			d.fail(po.line(name), po.at(name), "a parameter name is letters, digits and _ (not starting with a digit)")
			continue
		}
		v := po.vals[name]
		switch {
		case v.Kind != yaml.ScalarNode:
			d.fail(po.line(name), po.at(name), "a parameter's default must be a single value, got %s", kindName(v))
		case v.Tag == "!!null":
			if _, ok := set[name]; !ok {
				d.fail(po.line(name), po.at(name), "has no default: give it with --set %s=VALUE", name)
			}
		default:
			out[name] = v.Value
		}
	}
	names := make([]string, 0, len(set))
	for k := range set {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if _, ok := po.vals[k]; !ok {
			d.fail(po.line(""), po.at(k), "--set %s: the scenario declares no such parameter (declared: %s)", k, strings.Join(po.order, ", "))
			continue
		}
		out[k] = set[k]
	}
	return out
}
