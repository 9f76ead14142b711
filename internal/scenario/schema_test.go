package scenario_test

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"sigs.k8s.io/yaml"

	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
)

var update = flag.Bool("update", false, "rewrite docs/scenario.schema.json")

const schemaFile = "../../docs/scenario.schema.json"

// The committed schema is what the verbs' flags say now: `make docs` (or go test
// ./internal/scenario -update) regenerates it.
func TestSchemaIsCurrent(t *testing.T) {
	got, err := scenario.Schema(verbs(t))
	if err != nil {
		t.Fatal(err)
	}
	got = append(got, '\n')
	if *update {
		if err := os.WriteFile(schemaFile, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatalf("%v (run make docs)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s is stale: run make docs (or go test ./internal/scenario -update)", schemaFile)
	}
	var doc map[string]any
	if err := json.Unmarshal(got, &doc); err != nil {
		t.Fatal(err)
	}
	defs := doc["$defs"].(map[string]any)
	d := defs["fault-network-delay"].(map[string]any)
	if _, ok := d["properties"].(map[string]any)["latency"]; !ok {
		t.Errorf("fault-network-delay lacks latency: %v", d)
	}
}

// schemaCheck validates a YAML file against the committed schema.
func schemaCheck(t *testing.T, name string, data []byte) error {
	t.Helper()
	raw, err := os.ReadFile(schemaFile)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(scenario.SchemaID, doc); err != nil {
		t.Fatal(err)
	}
	sch, err := c.Compile(scenario.SchemaID)
	if err != nil {
		t.Fatal(err)
	}
	var v any
	if err := yaml.Unmarshal(data, &v); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	// Through JSON: the validator wants JSON types (float64 numbers, map[string]any).
	j, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(j))
	if err != nil {
		t.Fatal(err)
	}
	return sch.Validate(inst)
}

func TestSchemaAcceptsGoodAndRefusesBad(t *testing.T) {
	if err := schemaCheck(t, "good", []byte(good)); err != nil {
		t.Errorf("the schema refuses the good file: %v", err)
	}
	for _, bad := range []struct{ old, new string }{
		{"      port: [80, 443]", "      speed: 3"},
		{"verb: network delay", "verb: network slow"},
		{"  - wait: 5s", "  - wait: 5s\n    command: {shell: 'true'}"},
		{"when: [before, during, after]", "when: [sometimes]"},
		{"kind: Scenario", "kind: Game"},
	} {
		if err := schemaCheck(t, "bad", []byte(edit(t, bad.old, bad.new))); err == nil {
			t.Errorf("the schema accepts %q -> %q", bad.old, bad.new)
		}
	}
}

// Every example in scenarios/ passes the schema editors use (and the parser: see
// scenarios/yaml_test.go).
func TestSchemaAcceptsTheExamples(t *testing.T) {
	files, _ := filepath.Glob("../../scenarios/*.yaml")
	if len(files) < 4 {
		t.Fatalf("found %d example scenarios", len(files))
	}
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		if err := schemaCheck(t, f, data); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
}
