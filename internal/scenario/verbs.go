package scenario

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
)

// Verbs are the fault verbs of the command tree, found by the annotation
// experiment.AddFlags puts on them. A fault step's fields are the verb's own flags, so
// the scenario format cannot drift from the CLI: a new flag is a new field, a renamed
// one breaks the schema test.
type Verbs struct {
	newRoot func() *cobra.Command
	byName  map[string]*Verb
	names   []string
}

// Verb is one fault verb ("network delay") and its fields.
type Verb struct {
	Name   string
	Short  string
	Hidden bool
	Fields []Field
}

// Field is one flag of a verb, as a scenario field.
type Field struct {
	Name  string
	Type  string // the pflag type: bool, duration, string, int, float64, stringSlice, …
	Usage string
	Def   string
	// Required: the verb marks the flag required.
	Required bool
}

// runLevel are the verb flags a scenario does not take per step: the run command owns
// them (one dry run, one output, no detached step, no per-step prompt).
var runLevel = map[string]string{
	"dry-run": "give --dry-run to kubectl chaos run",
	"detach":  "a scenario step is always attached: the run recovers it",
	"output":  "kubectl chaos run --report writes the reports",
	"yes":     "give --yes to kubectl chaos run",
	"help":    "not a fault field",
}

// Reserved keys of a fault step besides the verb's flags.
const (
	keyVerb      = "verb"
	keyTargets   = "targets"
	keyNamespace = "namespace"
)

// NewVerbs lists the fault verbs of the tree newRoot builds. newRoot must build a fresh
// tree on every call: each step gets its own command and Options.
func NewVerbs(newRoot func() *cobra.Command) *Verbs {
	v := &Verbs{newRoot: newRoot, byName: map[string]*Verb{}}
	walk(newRoot(), func(c *cobra.Command) {
		name := verbName(c)
		vb := &Verb{Name: name, Short: c.Short, Hidden: isHidden(c)}
		c.LocalFlags().VisitAll(func(f *pflag.Flag) {
			if _, skip := runLevel[f.Name]; skip {
				return
			}
			_, req := f.Annotations[cobra.BashCompOneRequiredFlag]
			vb.Fields = append(vb.Fields, Field{Name: f.Name, Type: f.Value.Type(), Usage: f.Usage, Def: f.DefValue, Required: req})
		})
		sort.Slice(vb.Fields, func(i, j int) bool { return vb.Fields[i].Name < vb.Fields[j].Name })
		v.byName[name] = vb
		v.names = append(v.names, name)
	})
	sort.Strings(v.names)
	return v
}

func walk(c *cobra.Command, fn func(*cobra.Command)) {
	if c.Annotations[experiment.VerbAnnotation] != "" {
		fn(c)
	}
	for _, sub := range c.Commands() {
		walk(sub, fn)
	}
}

func verbName(c *cobra.Command) string {
	var parts []string
	for p := c; p.HasParent(); p = p.Parent() {
		parts = append([]string{p.Name()}, parts...)
	}
	return strings.Join(parts, " ")
}

func isHidden(c *cobra.Command) bool {
	for p := c; p != nil; p = p.Parent() {
		if p.Hidden {
			return true
		}
	}
	return false
}

// Names are the verbs, sorted; public leaves out the hidden test verbs.
func (v *Verbs) Names(public bool) []string {
	var out []string
	for _, n := range v.names {
		if !public || !v.byName[n].Hidden {
			out = append(out, n)
		}
	}
	return out
}

// Get returns the verb called name.
func (v *Verbs) Get(name string) (*Verb, bool) {
	vb, ok := v.byName[name]
	return vb, ok
}

// Field returns the verb's field called name.
func (vb *Verb) Field(name string) (Field, bool) {
	for _, f := range vb.Fields {
		if f.Name == name {
			return f, true
		}
	}
	return Field{}, false
}

// IsList: the flag takes one value per occurrence or a list (a YAML sequence).
func (f Field) IsList() bool {
	return strings.HasSuffix(f.Type, "Slice") || strings.HasSuffix(f.Type, "Array")
}

// errNotTaken: the verb returned before handing its Options over.
var errNotTaken = errors.New("the verb did not build an experiment")

// Build runs the verb's command with the step's fields as flags under
// experiment.WithTakeOver: the verb parses its flags (units), builds its fault and
// validates the common options and the fault's spec exactly as on the command line, and
// hands the Options over instead of running. The error names the flag (--latency); the
// caller maps it to the field and its line.
func (v *Verbs) Build(ctx context.Context, fs *FaultStep) (*experiment.Options, error) {
	root := v.newRoot()
	args := strings.Fields(fs.Verb)
	for _, f := range fs.Fields {
		for _, val := range f.Values {
			args = append(args, "--"+f.Name+"="+val)
		}
	}
	args = append(args, "--")
	args = append(args, fs.Targets...)
	var got *experiment.Options
	ctx = experiment.WithTakeOver(ctx, func(o *experiment.Options) error {
		got = o
		return nil
	})
	root.SetArgs(args)
	root.SetOut(discard{})
	root.SetErr(discard{})
	if _, err := root.ExecuteContextC(ctx); err != nil {
		return nil, err
	}
	if got == nil {
		return nil, errNotTaken
	}
	if fs.Namespace != "" {
		got.Target.Namespace = fs.Namespace
	}
	return got, nil
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }

// flagOf finds which of the step's fields an error message is about (it names --flag).
func flagOf(msg string, fields []FieldValue) (FieldValue, bool) {
	best, found := FieldValue{}, false
	for _, f := range fields {
		needle := "--" + f.Name
		i := strings.Index(msg, needle)
		for i >= 0 {
			end := i + len(needle)
			if end == len(msg) || !isFlagChar(msg[end]) {
				if !found || len(f.Name) > len(best.Name) {
					best, found = f, true
				}
				break
			}
			j := strings.Index(msg[end:], needle)
			if j < 0 {
				break
			}
			i = end + j
		}
	}
	return best, found
}

func isFlagChar(b byte) bool {
	return b == '-' || b >= 'a' && b <= 'z' || b >= '0' && b <= '9'
}

// describe is the verb list for an error message.
func (v *Verbs) describe() string {
	return fmt.Sprintf("one of: %s", strings.Join(v.Names(true), ", "))
}
