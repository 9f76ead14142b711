package scenario

import (
	"encoding/json"
	"strings"
)

// SchemaID is where the schema is published in the repository.
const SchemaID = "https://github.com/kubectl-chaos/kubectl-chaos/blob/main/docs/scenario.schema.json"

type js = map[string]any

// Schema is the JSON Schema (draft 2020-12) of a scenario file, generated from the same
// definitions the parser uses: the fault fields are the verbs' flags, so `make docs`
// regenerates it and a test fails when docs/scenario.schema.json is stale. Editors
// (yaml-language-server: `# yaml-language-server: $schema=…`) use it to complete
// and check files.
func Schema(v *Verbs) ([]byte, error) {
	defs := js{
		"duration":  js{"type": "string", "pattern": `^([0-9]+(\.[0-9]+)?(ns|us|µs|ms|s|m|h))+$|\$\{`, "description": "a Go duration: 300ms, 30s, 2m, 1h30m"},
		"parameter": js{"type": "string", "pattern": `\$\{[A-Za-z_][A-Za-z0-9_]*\}`, "description": "a ${parameter} reference, replaced before validation"},
		"strings":   js{"oneOf": []any{js{"type": []string{"string", "number", "boolean"}}, js{"type": "array", "items": js{"type": []string{"string", "number", "boolean"}}}}},
		"http": object(js{
			"url":        js{"type": "string", "description": "http:// or https:// URL, requested from where kubectl chaos runs"},
			"method":     js{"type": "string", "enum": []string{"GET", "HEAD", "POST", "PUT", "DELETE", "OPTIONS", "PATCH"}},
			"status":     js{"oneOf": []any{typed("integer"), js{"type": "array", "items": typed("integer")}}, "description": "accepted status codes (default 200 when nothing else is checked)"},
			"maxLatency": js{"$ref": "#/$defs/duration"},
			"body":       js{"type": "string", "description": "regular expression the body must match"},
		}, "url"),
		"condition": object(js{
			"namespace": js{"type": "string"},
			"selector":  js{"type": "string", "description": "label selector of the pods"},
			"minReady":  typed("integer"),
		}, "selector"),
		"prometheus": object(js{
			"url":   js{"type": "string"},
			"query": js{"type": "string", "description": "instant query; every sample must lie within [min, max]"},
			"min":   typed("number"),
			"max":   typed("number"),
		}, "url", "query"),
		"command":     object(commandProps(false)),
		"commandStep": object(commandProps(true)),
		"stepProbe":   object(probeProps(false)),
		"probe":       object(probeProps(true), "when"),
		"step":        stepSchema(),
		"fault":       faultSchema(v),
	}
	for _, name := range v.Names(true) {
		vb, _ := v.Get(name)
		defs[verbDef(name)] = verbSchema(vb)
	}
	root := js{
		"$schema":              "https://json-schema.org/draft/2020-12/schema",
		"$id":                  SchemaID,
		"title":                "kubectl-chaos Scenario",
		"description":          "A game day for kubectl chaos run (docs/scenarios.md).",
		"type":                 "object",
		"additionalProperties": false,
		"required":             []string{"apiVersion", "kind", "metadata", "spec"},
		"properties": js{
			"apiVersion": js{"const": APIVersion},
			"kind":       js{"const": Kind},
			"metadata":   object(js{"name": js{"type": "string"}, "description": js{"type": "string"}}, "name"),
			"spec": object(js{
				"duration":   js{"$ref": "#/$defs/duration", "description": "bounds the whole run (default 30m)"},
				"namespace":  js{"type": "string", "description": "namespace of the steps' targets and probes (default: the kubeconfig's)"},
				"parameters": js{"type": "object", "additionalProperties": js{"type": []string{"string", "number", "boolean", "null"}}, "description": "name: default (null: must be given with --set)"},
				"probes":     js{"type": "array", "items": js{"$ref": "#/$defs/probe"}},
				"steps":      js{"type": "array", "minItems": 1, "items": js{"$ref": "#/$defs/step"}},
			}, "steps"),
		},
		"$defs": defs,
	}
	return json.MarshalIndent(root, "", "  ")
}

func object(props js, required ...string) js {
	o := js{"type": "object", "additionalProperties": false, "properties": props}
	if len(required) > 0 {
		o["required"] = required
	}
	return o
}

// typed accepts a value of type t or a ${parameter}.
func typed(t string) js {
	return js{"anyOf": []any{js{"type": t}, js{"$ref": "#/$defs/parameter"}}}
}

func commandProps(step bool) js {
	p := js{
		"run":      js{"type": "array", "items": js{"type": "string"}, "description": "program and arguments"},
		"shell":    js{"type": "string", "description": "a line for sh -c"},
		"exitCode": typed("integer"),
	}
	if step {
		p["timeout"] = js{"$ref": "#/$defs/duration"}
	}
	return p
}

func probeProps(top bool) js {
	p := js{
		"name":       js{"type": "string"},
		"timeout":    js{"$ref": "#/$defs/duration"},
		"abortOn":    typed("boolean"),
		"http":       js{"$ref": "#/$defs/http"},
		"command":    js{"$ref": "#/$defs/command"},
		"condition":  js{"$ref": "#/$defs/condition"},
		"prometheus": js{"$ref": "#/$defs/prometheus"},
	}
	if top {
		phase := js{"enum": phases}
		p["when"] = js{"oneOf": []any{phase, js{"type": "array", "items": phase}}}
		p["interval"] = js{"$ref": "#/$defs/duration"}
	}
	return p
}

func stepSchema() js {
	var one []any
	for _, b := range stepBodies {
		one = append(one, js{"required": []string{b}})
	}
	steps := js{"type": "array", "minItems": 1, "items": js{"$ref": "#/$defs/step"}}
	s := object(js{
		"name":     js{"type": "string"},
		"fault":    js{"$ref": "#/$defs/fault"},
		"wait":     js{"$ref": "#/$defs/duration"},
		"probe":    js{"$ref": "#/$defs/stepProbe"},
		"command":  js{"$ref": "#/$defs/commandStep"},
		"parallel": steps,
		"serial":   steps,
	})
	s["oneOf"] = one
	return s
}

func verbDef(name string) string { return "fault-" + strings.ReplaceAll(name, " ", "-") }

func faultSchema(v *Verbs) js {
	var cases []any
	for _, name := range v.Names(true) {
		cases = append(cases, js{
			"if":   js{"properties": js{keyVerb: js{"const": name}}, "required": []string{keyVerb}},
			"then": js{"$ref": "#/$defs/" + verbDef(name)},
		})
	}
	return js{
		"type":       "object",
		"required":   []string{keyVerb},
		"properties": js{keyVerb: js{"enum": v.Names(true)}},
		"allOf":      cases,
	}
}

func verbSchema(vb *Verb) js {
	props := js{
		keyVerb:      js{"const": vb.Name},
		keyTargets:   js{"$ref": "#/$defs/strings", "description": "TYPE/NAME targets as on the command line (or use selector)"},
		keyNamespace: js{"type": "string"},
	}
	var req []string
	for _, f := range vb.Fields {
		props[f.Name] = fieldSchema(f)
		if f.Required {
			req = append(req, f.Name)
		}
	}
	s := object(props, append([]string{keyVerb}, req...)...)
	s["description"] = "kubectl chaos " + vb.Name + ": " + vb.Short
	return s
}

func fieldSchema(f Field) js {
	var s js
	switch {
	case f.IsList():
		s = js{"$ref": "#/$defs/strings"}
	case f.Type == "bool":
		s = typed("boolean")
	case f.Type == "duration":
		s = js{"$ref": "#/$defs/duration"}
	case strings.HasPrefix(f.Type, "int") || strings.HasPrefix(f.Type, "uint"):
		s = typed("integer")
	case strings.HasPrefix(f.Type, "float"):
		s = typed("number")
	default:
		s = js{"type": []string{"string", "number", "boolean"}}
	}
	s["description"] = f.Usage
	return s
}
