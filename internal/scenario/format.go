// Package scenario is the game-day file format of kubectl chaos run: a versioned
// Scenario (apiVersion kubectl-chaos/v1) of fault, wait, probe and command steps,
// composed serially and in parallel, with probes before, during and after, and the
// runner that executes it through the same experiment engine as the fault verbs.
package scenario

import (
	"fmt"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/experiment"
)

// APIVersion and Kind of a scenario file.
const (
	APIVersion = "kubectl-chaos/v1"
	Kind       = "Scenario"
)

// Limits of the format.
const (
	DefaultTotal     = 30 * time.Minute
	MaxTotal         = 24 * time.Hour
	DefaultTimeout   = 10 * time.Second
	MaxTimeout       = time.Hour
	DefaultInterval  = 5 * time.Second
	MinInterval      = 100 * time.Millisecond
	MaxWait          = 24 * time.Hour
	MaxSteps         = 500
	MaxDepth         = 8
	MaxBodyBytes     = 1 << 20
	DefaultStepLimit = 0
)

// Scenario is one parsed and validated file.
type Scenario struct {
	File        string
	Name        string
	Description string
	// Duration bounds the whole run (spec.duration): everything is recovered when it ends.
	Duration   time.Duration
	Namespace  string
	Parameters map[string]string
	Probes     []*Probe
	Steps      []*Step
	// Source says where the scenario came from: "Scenario" or the Chaos Mesh kind.
	Source string
	// Schedule is an imported Chaos Mesh Schedule's cron: kubectl chaos run fires on
	// it unless --schedule or --repeat is given.
	Schedule     string
	ScheduleLine int
}

// Pos is where something is in the file: the line and the field path.
type Pos struct {
	Line  int
	Field string
}

// Step is one step; exactly one of its bodies is set.
type Step struct {
	Pos
	Name     string
	Fault    *FaultStep
	Wait     time.Duration
	Probe    *Probe
	Command  *Command
	Parallel []*Step
	Serial   []*Step
}

// Type is the step's kind, for reports.
func (s *Step) Type() string {
	switch {
	case s.Fault != nil:
		return "fault"
	case s.Probe != nil:
		return "probe"
	case s.Command != nil:
		return "command"
	case s.Parallel != nil:
		return "parallel"
	case s.Serial != nil:
		return "serial"
	}
	return "wait"
}

// Title is the step's name, or what it does.
func (s *Step) Title() string {
	if s.Name != "" {
		return s.Name
	}
	switch {
	case s.Fault != nil:
		return s.Fault.Verb
	case s.Probe != nil:
		return "probe " + s.Probe.Title()
	case s.Command != nil:
		return "command " + s.Command.Text()
	case s.Parallel != nil:
		return fmt.Sprintf("parallel (%d)", len(s.Parallel))
	case s.Serial != nil:
		return fmt.Sprintf("serial (%d)", len(s.Serial))
	}
	return "wait " + s.Wait.String()
}

// FaultStep is a fault verb with its flags as fields.
type FaultStep struct {
	Verb      string
	Targets   []string
	Namespace string
	Fields    []FieldValue
	// TargetsField names where the targets came from in the file (a Chaos Mesh
	// selector); empty: the step's targets field.
	TargetsField string
	// Options is what the verb built from the fields (validated).
	Options *experiment.Options
}

// FieldValue is one flag given as a field, with its line.
type FieldValue struct {
	Name   string
	Values []string
	Line   int
	// Field is the field's path in the file when it is not the flag's name under the
	// step (a Chaos Mesh field mapped onto the flag).
	Field string
}

// Probe checks the hypothesis.
type Probe struct {
	Pos
	Name string
	// When: before (steady state), during (every Interval while the steps run), after.
	When       []string
	Interval   time.Duration
	AbortOn    bool
	Timeout    time.Duration
	HTTP       *HTTPProbe
	Command    *Command
	Condition  *ConditionProbe
	Prometheus *PrometheusProbe
}

// Title names the probe.
func (p *Probe) Title() string {
	if p.Name != "" {
		return p.Name
	}
	switch {
	case p.HTTP != nil:
		return "http " + p.HTTP.URL
	case p.Command != nil:
		return "command " + p.Command.Text()
	case p.Condition != nil:
		return "condition " + p.Condition.Selector
	}
	return "prometheus " + p.Prometheus.Query
}

// Has says whether the probe runs in phase.
func (p *Probe) Has(phase string) bool {
	for _, w := range p.When {
		if w == phase {
			return true
		}
	}
	return false
}

// HTTPProbe: a request that must answer with Status (if set), within MaxLatency (if
// set), with a body matching Body (if set).
type HTTPProbe struct {
	URL        string
	Method     string
	Status     []int
	MaxLatency time.Duration
	Body       string
}

// Command is a program (Run) or a shell line (Shell) that must exit with ExitCode.
type Command struct {
	Run      []string
	Shell    string
	ExitCode int
	Timeout  time.Duration
}

// Text is the command line, for reports.
func (c *Command) Text() string {
	if c.Shell != "" {
		return c.Shell
	}
	return fmt.Sprint(c.Run)
}

// ConditionProbe: at least MinReady pods matching Selector in Namespace are Ready.
type ConditionProbe struct {
	Namespace string
	Selector  string
	MinReady  int
}

// PrometheusProbe: an instant query whose every sample lies within [Min, Max].
type PrometheusProbe struct {
	URL   string
	Query string
	Min   *float64
	Max   *float64
}

// Error is a refusal of the file, naming file, line and field.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	if e.Field == "" {
		return fmt.Sprintf("%s:%d: %s", e.File, e.Line, e.Msg)
	}
	return fmt.Sprintf("%s:%d: %s: %s", e.File, e.Line, e.Field, e.Msg)
}
