package ui

import (
	"bytes"
	"strings"
	"testing"
)

func TestColorOnlyOnTTYWithoutNoColor(t *testing.T) {
	tests := []struct {
		name      string
		stdoutTTY bool
		noColor   string
		want      bool
	}{
		{"pipe", false, "", false},
		{"tty", true, "", true},
		{"tty with NO_COLOR", true, "1", false},
		{"pipe with NO_COLOR", false, "1", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Setenv("NO_COLOR", tt.noColor)
			s, _, _, _ := Test()
			s.SetTTY(false, tt.stdoutTTY, false)
			if got := s.ColorEnabled(); got != tt.want {
				t.Errorf("ColorEnabled() = %v, want %v", got, tt.want)
			}
			var b bytes.Buffer
			tb := NewTable(NewStyles(&b, s.ColorEnabled()), "NAME", "VALUE")
			tb.Row("a", "1")
			if err := tb.Render(&b); err != nil {
				t.Fatal(err)
			}
			if has := strings.Contains(b.String(), "\x1b["); has != tt.want {
				t.Errorf("escape codes present = %v, want %v: %q", has, tt.want, b.String())
			}
		})
	}
}

func TestTestStreamsAreNotTTYs(t *testing.T) {
	s, _, _, _ := Test()
	if s.IsStdinTTY() || s.IsStdoutTTY() || s.IsStderrTTY() || s.CanPrompt() || s.ColorEnabled() {
		t.Errorf("Test() streams claim to be terminals")
	}
}

func TestTableAligns(t *testing.T) {
	var b bytes.Buffer
	tb := NewTable(nil, "ID", "OWNER").Indent("  ")
	tb.Row("chaos-abc", "me@ctx")
	tb.Row("x", "y")
	if err := tb.Render(&b); err != nil {
		t.Fatal(err)
	}
	want := "  ID         OWNER\n  chaos-abc  me@ctx\n  x          y\n"
	if b.String() != want {
		t.Errorf("table:\n%q\nwant\n%q", b.String(), want)
	}
}

func TestPrintFormats(t *testing.T) {
	v := map[string]any{"id": "chaos-x", "count": 2}
	var j, y bytes.Buffer
	if err := Print(&j, FormatJSON, v); err != nil || j.String() != "{\n  \"count\": 2,\n  \"id\": \"chaos-x\"\n}\n" {
		t.Errorf("json: %v %q", err, j.String())
	}
	if err := Print(&y, FormatYAML, v); err != nil || y.String() != "count: 2\nid: chaos-x\n" {
		t.Errorf("yaml: %v %q", err, y.String())
	}
	for _, bad := range []string{"xml", "table", "JSON"} {
		if err := ValidateFormat(bad); err == nil || !strings.Contains(err.Error(), "-o/--output") {
			t.Errorf("ValidateFormat(%q) = %v", bad, err)
		}
	}
}
