package catalog

import (
	"encoding/json"
	"testing"
)

func TestMergePatch(t *testing.T) {
	change := map[string]any{"metadata": map[string]any{"annotations": map[string]any{"a": "1"}}, "spec": map[string]any{"x": 1}}
	stamp := map[string]any{"metadata": map[string]any{
		"resourceVersion": "7",
		"labels":          map[string]any{"l": "v"},
		"annotations":     map[string]any{"undo": "{}", "gone": nil},
	}}
	got, _ := json.Marshal(MergePatch(change, stamp))
	want := `{"metadata":{"annotations":{"a":"1","gone":null,"undo":"{}"},"labels":{"l":"v"},"resourceVersion":"7"},"spec":{"x":1}}`
	if string(got) != want {
		t.Errorf("MergePatch = %s, want %s", got, want)
	}
	if got := MergePatch(nil, map[string]any{"k": "v"}); got["k"] != "v" {
		t.Errorf("MergePatch(nil, …) = %v", got)
	}
	// A scalar in src replaces a map in dst, and the other way round.
	got, _ = json.Marshal(MergePatch(map[string]any{"a": map[string]any{"b": 1}, "c": 1}, map[string]any{"a": nil, "c": map[string]any{"d": 2}}))
	if string(got) != `{"a":null,"c":{"d":2}}` {
		t.Errorf("replace: %s", got)
	}
}
