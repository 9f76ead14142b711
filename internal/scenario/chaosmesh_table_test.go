package scenario_test

import (
	"bufio"
	"os"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

// mappingDoc is the Chaos Mesh field mapping users read.
const mappingDoc = "../../docs/faults/chaos-mesh.md"

// cmBase is a minimal resource of each kind the table's rows change.
var cmBase = map[string]string{
	"NetworkChaos": `{action: partition, mode: all, selector: {labelSelectors: {app: web}}, externalTargets: [192.0.2.0/24]}`,
	"DNSChaos":     `{action: error, mode: all, selector: {labelSelectors: {app: web}}, patterns: [a.example]}`,
	"PodChaos":     `{action: pod-kill, mode: all, selector: {labelSelectors: {app: web}}}`,
	"StressChaos":  `{mode: all, selector: {labelSelectors: {app: web}}, stressors: {cpu: {workers: 1}}}`,
	"IOChaos":      `{action: latency, mode: all, selector: {labelSelectors: {app: db}}, volumePath: /data}`,
	"TimeChaos":    `{mode: all, selector: {labelSelectors: {app: web}}, timeOffset: 1h}`,
	"HTTPChaos":    `{mode: all, selector: {labelSelectors: {app: web}}, target: Request, port: 80, abort: true}`,
	"Schedule": `{schedule: "5 * * * *", type: NetworkChaos, networkChaos: {action: partition, mode: all,
		selector: {labelSelectors: {app: web}}, externalTargets: [192.0.2.0/24]}}`,
}

// cmActionBase is what an action needs besides the common fields (a row that sets
// the action gets its action's part, not the default's).
var cmActionBase = map[string]map[string]string{
	"IOChaos": {"latency": `{delay: 10ms}`, "fault": `{errno: 5, percent: 10}`, "mistake": `{mistake: {maxLength: 4}}`},
}

// mappingRow is one table row: set these spec fields, expect this verb and flag (or a
// refusal naming one of the fields).
type mappingRow struct {
	line    int
	kind    string
	assigns [][2]string // dotted path under spec, YAML value ("~" removes the field)
	refused bool
	verb    string
	flags   [][2]string // name, value ("-n" the namespace, "target" a target)
}

func readMappingRows(t *testing.T) []mappingRow {
	t.Helper()
	f, err := os.Open(mappingDoc)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var rows []mappingRow
	sc := bufio.NewScanner(f)
	for n := 1; sc.Scan(); n++ {
		cells := strings.Split(strings.Trim(sc.Text(), "|"), " | ")
		if len(cells) != 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), "`") {
			continue
		}
		r := mappingRow{line: n, kind: strings.TrimSpace(cells[0])}
		for _, a := range strings.Split(strings.Trim(strings.TrimSpace(cells[1]), "`"), "; ") {
			k, v, ok := strings.Cut(a, ": ")
			if !ok {
				t.Fatalf("%s:%d: field %q is not `path: value`", mappingDoc, n, a)
			}
			r.assigns = append(r.assigns, [2]string{k, v})
		}
		ours := strings.TrimSpace(cells[2])
		if strings.HasPrefix(ours, "refused") {
			r.refused = true
		} else {
			r.verb, r.flags = parseOurs(t, n, ours)
		}
		rows = append(rows, r)
	}
	return rows
}

// parseOurs reads `verb --flag value -l sel pod/NAME` (the first code span of the cell).
func parseOurs(t *testing.T, line int, cell string) (string, [][2]string) {
	parts := strings.Split(cell, "`")
	if len(parts) < 3 {
		t.Fatalf("%s:%d: %q is neither `verb …` nor refused", mappingDoc, line, cell)
	}
	var words []string
	for i, q := range strings.Split(parts[1], "'") { // 'quoted words' keep their spaces
		if i%2 == 1 {
			words = append(words, q)
		} else {
			words = append(words, strings.Fields(q)...)
		}
	}
	var verb []string
	var flags [][2]string
	for i := 0; i < len(words); i++ {
		w := words[i]
		switch {
		case strings.HasPrefix(w, "-") && i+1 < len(words):
			name := strings.TrimLeft(w, "-")
			switch w {
			case "-l":
				name = "selector"
			case "-c":
				name = "container"
			case "-n":
				name = "-n"
			}
			flags = append(flags, [2]string{name, words[i+1]})
			i++
		case strings.Contains(w, "/"):
			flags = append(flags, [2]string{"target", w})
		default:
			verb = append(verb, w)
		}
	}
	return strings.Join(verb, " "), flags
}

// resource is the row's Chaos Mesh file: the kind's minimal spec with the row's fields.
func (r mappingRow) resource(t *testing.T) string {
	t.Helper()
	var spec map[string]any
	if err := yaml.Unmarshal([]byte(cmBase[r.kind]), &spec); err != nil {
		t.Fatal(err)
	}
	action, _ := spec["action"].(string)
	for _, a := range r.assigns {
		if a[0] == "action" {
			action = a[1]
		}
	}
	if part := cmActionBase[r.kind][action]; part != "" {
		var extra map[string]any
		if err := yaml.Unmarshal([]byte(part), &extra); err != nil {
			t.Fatal(err)
		}
		for k, v := range extra {
			spec[k] = v
		}
	}
	for _, a := range r.assigns {
		path := strings.Split(a[0], ".")
		m := spec
		for _, p := range path[:len(path)-1] {
			sub, ok := m[p].(map[string]any)
			if !ok {
				sub = map[string]any{}
				m[p] = sub
			}
			m = sub
		}
		last := path[len(path)-1]
		if a[1] == "~" {
			delete(m, last)
			continue
		}
		var v any
		if err := yaml.Unmarshal([]byte(a[1]), &v); err != nil {
			t.Fatalf("%s:%d: value %q: %v", mappingDoc, r.line, a[1], err)
		}
		m[last] = v
	}
	doc := map[string]any{"apiVersion": "chaos-mesh.org/v1alpha1", "kind": r.kind,
		"metadata": map[string]any{"name": "row", "namespace": "shop"}, "spec": spec}
	b, err := yaml.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestChaosMeshMappingTable imports every row of docs/faults/chaos-mesh.md: a mapped row
// gives its verb with its flags, a refused row is refused naming one of its fields.
func TestChaosMeshMappingTable(t *testing.T) {
	rows := readMappingRows(t)
	if len(rows) < 60 {
		t.Fatalf("only %d rows read from %s", len(rows), mappingDoc)
	}
	for _, r := range rows {
		if cmBase[r.kind] == "" {
			t.Errorf("%s:%d: no minimal %s to import the row into", mappingDoc, r.line, r.kind)
			continue
		}
		text := r.resource(t)
		s, err := load(t, "row.yaml", text, nil)
		if r.refused {
			if err == nil {
				t.Errorf("%s:%d: %v is refused in the table but imported:\n%s", mappingDoc, r.line, r.assigns, text)
			} else if !namesField(err.Error(), r.assigns) {
				t.Errorf("%s:%d: refused, but the error does not name the field: %v", mappingDoc, r.line, err)
			}
			continue
		}
		if err != nil {
			t.Errorf("%s:%d: %v: %v\n%s", mappingDoc, r.line, r.assigns, err, text)
			continue
		}
		if st := findStep(s, r.verb); st == nil {
			t.Errorf("%s:%d: no %q step imported from %v", mappingDoc, r.line, r.verb, r.assigns)
		} else {
			checkFlags(t, r, st)
		}
	}
}

func namesField(msg string, assigns [][2]string) bool {
	for _, a := range assigns {
		path := strings.Split(a[0], ".")
		for i := range path {
			if strings.Contains(msg, "spec."+strings.Join(path[:i+1], ".")+":") {
				return true
			}
		}
	}
	return false
}

func findStep(s *scenario.Scenario, verb string) *scenario.FaultStep {
	var found *scenario.FaultStep
	var walk func([]*scenario.Step)
	walk = func(steps []*scenario.Step) {
		for _, st := range steps {
			if st.Fault != nil && st.Fault.Verb == verb && found == nil {
				found = st.Fault
			}
			walk(st.Parallel)
			walk(st.Serial)
		}
	}
	walk(s.Steps)
	return found
}

func checkFlags(t *testing.T, r mappingRow, st *scenario.FaultStep) {
	t.Helper()
	for _, f := range r.flags {
		var got []string
		switch f[0] {
		case "-n":
			got = []string{st.Namespace}
		case "target":
			got = []string{strings.Join(st.Targets, ",")}
		default:
			for _, fv := range st.Fields {
				if fv.Name == f[0] {
					got = append(got, strings.Join(fv.Values, ","))
				}
			}
		}
		if !contains(got, f[1]) {
			t.Errorf("%s:%d: %s %v: %s = %q, the table says %q (fields %+v)", mappingDoc, r.line, r.verb, r.assigns, f[0], got, f[1], st.Fields)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
