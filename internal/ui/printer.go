package ui

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"

	"github.com/charmbracelet/lipgloss"
	"github.com/muesli/termenv"
	"sigs.k8s.io/yaml"
)

// Output formats accepted by -o.
const (
	FormatHuman = ""
	FormatJSON  = "json"
	FormatYAML  = "yaml"
)

// ValidateFormat checks an -o value; flag names the flag for the error.
func ValidateFormat(format string) error {
	switch format {
	case FormatHuman, FormatJSON, FormatYAML:
		return nil
	}
	return fmt.Errorf("-o/--output must be json or yaml (or empty for human output), got %q", format)
}

// PrintJSON writes v as indented JSON with a trailing newline.
func PrintJSON(w io.Writer, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding JSON: %w", err)
	}
	_, err = fmt.Fprintf(w, "%s\n", b)
	return err
}

// PrintYAML writes v as YAML (through its JSON form, so json tags apply).
func PrintYAML(w io.Writer, v any) error {
	b, err := yaml.Marshal(v)
	if err != nil {
		return fmt.Errorf("encoding YAML: %w", err)
	}
	_, err = w.Write(b)
	return err
}

// Print writes v as JSON or YAML; human output is the caller's job.
func Print(w io.Writer, format string, v any) error {
	switch format {
	case FormatJSON:
		return PrintJSON(w, v)
	case FormatYAML:
		return PrintYAML(w, v)
	}
	return fmt.Errorf("unsupported output format %q", format)
}

// Styles paints text when color is enabled and leaves it alone otherwise.
type Styles struct {
	enabled bool
	r       *lipgloss.Renderer
}

// NewStyles returns styles for w; color only if enabled.
func NewStyles(w io.Writer, enabled bool) *Styles {
	r := lipgloss.NewRenderer(w)
	if enabled {
		r.SetColorProfile(termenv.ANSI256)
	} else {
		r.SetColorProfile(termenv.Ascii)
	}
	return &Styles{enabled: enabled, r: r}
}

func (s *Styles) paint(st lipgloss.Style, text string) string {
	if !s.enabled {
		return text
	}
	return st.Render(text)
}

// Bold text.
func (s *Styles) Bold(text string) string { return s.paint(s.r.NewStyle().Bold(true), text) }

// Green text (success).
func (s *Styles) Green(text string) string {
	return s.paint(s.r.NewStyle().Foreground(lipgloss.Color("2")), text)
}

// Red text (failure).
func (s *Styles) Red(text string) string {
	return s.paint(s.r.NewStyle().Foreground(lipgloss.Color("1")), text)
}

// Yellow text (warning).
func (s *Styles) Yellow(text string) string {
	return s.paint(s.r.NewStyle().Foreground(lipgloss.Color("3")), text)
}

// Faint text (secondary).
func (s *Styles) Faint(text string) string { return s.paint(s.r.NewStyle().Faint(true), text) }

// Table prints aligned columns; the header is bold when color is on. Cells are padded
// on their plain text, so color codes never break the alignment.
type Table struct {
	styles *Styles
	header []string
	rows   [][]string
	indent string
}

// NewTable starts a table with these column names.
func NewTable(styles *Styles, header ...string) *Table {
	return &Table{styles: styles, header: header}
}

// Indent prefixes every line.
func (t *Table) Indent(prefix string) *Table { t.indent = prefix; return t }

// Row adds a row.
func (t *Table) Row(cells ...string) { t.rows = append(t.rows, cells) }

// Len is the number of rows.
func (t *Table) Len() int { return len(t.rows) }

// Render writes the table.
func (t *Table) Render(w io.Writer) error {
	var sb strings.Builder
	tw := tabwriter.NewWriter(&sb, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, strings.Join(t.header, "\t"))
	for _, r := range t.rows {
		fmt.Fprintln(tw, strings.Join(r, "\t"))
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	lines := strings.Split(strings.TrimRight(sb.String(), "\n"), "\n")
	for i, l := range lines {
		l = strings.TrimRight(l, " ")
		if i == 0 && t.styles != nil {
			l = t.styles.Bold(l)
		}
		if _, err := fmt.Fprintln(w, t.indent+l); err != nil {
			return err
		}
	}
	return nil
}
