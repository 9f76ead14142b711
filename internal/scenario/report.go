package scenario

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// WriteReport writes r to path, as JUnit XML when it ends in .xml, as JSON otherwise
// (.json). The file is written whole or not at all (rename).
func WriteReport(path string, r *Result) error {
	var data []byte
	var err error
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xml":
		data, err = JUnit(r)
	case ".json":
		data, err = json.MarshalIndent(r, "", "  ")
	default:
		return fmt.Errorf("--report %s: the name must end in .xml (JUnit) or .json", path)
	}
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("--report %s: %w", path, err)
	}
	return os.Rename(tmp, path)
}

// ValidateReportPath refuses a --report name we cannot write before anything runs.
func ValidateReportPath(path string) error {
	switch strings.ToLower(filepath.Ext(path)) {
	case ".xml", ".json":
	default:
		return fmt.Errorf("--report %s: the name must end in .xml (JUnit) or .json", path)
	}
	if st, err := os.Stat(filepath.Dir(path)); err != nil || !st.IsDir() {
		return fmt.Errorf("--report %s: the directory %s does not exist", path, filepath.Dir(path))
	}
	return nil
}

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Time     string       `xml:"time,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name      string      `xml:"name,attr"`
	Tests     int         `xml:"tests,attr"`
	Failures  int         `xml:"failures,attr"`
	Skipped   int         `xml:"skipped,attr"`
	Time      string      `xml:"time,attr"`
	Timestamp string      `xml:"timestamp,attr"`
	Props     []junitProp `xml:"properties>property"`
	Cases     []junitCase `xml:"testcase"`
}

type junitProp struct {
	Name  string `xml:"name,attr"`
	Value string `xml:"value,attr"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	Classname string        `xml:"classname,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	Skipped   *struct{}     `xml:"skipped,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

func secs(d time.Duration) string { return fmt.Sprintf("%.3f", d.Seconds()) }

// JUnit renders r as one test suite: a test case per step (a fault step's system-out
// has its per-target timestamps) and one per probe run.
func JUnit(r *Result) ([]byte, error) {
	s := junitSuite{Name: r.Scenario, Time: secs(r.EndedAt.Sub(r.StartedAt)), Timestamp: r.StartedAt.Format(time.RFC3339),
		Props: []junitProp{{"file", r.File}, {"outcome", r.Outcome}, {"reason", r.Reason}}}
	for _, st := range r.Steps {
		c := junitCase{Name: st.Field + " " + st.Step, Classname: r.Scenario + ".steps", Time: secs(st.EndedAt.Sub(st.StartedAt)),
			SystemOut: stepText(st)}
		switch st.Status {
		case "failed":
			c.Failure = &junitFailure{Message: st.Error, Type: st.Type, Text: st.Error}
			s.Failures++
		case "interrupted":
			c.Skipped = &struct{}{}
			s.Skipped++
		}
		s.Cases = append(s.Cases, c)
	}
	for _, p := range r.Probes {
		c := junitCase{Name: p.Phase + " " + p.Probe + " " + p.At.Format(time.RFC3339Nano), Classname: r.Scenario + ".probes",
			Time: secs(p.Took), SystemOut: p.Message}
		if !p.OK {
			c.Failure = &junitFailure{Message: p.Message, Type: "probe", Text: p.Message}
			s.Failures++
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	out := junitSuites{Name: "kubectl-chaos run", Tests: s.Tests, Failures: s.Failures, Time: s.Time, Suites: []junitSuite{s}}
	data, err := xml.MarshalIndent(out, "", "  ")
	if err != nil {
		return nil, err
	}
	return append([]byte(xml.Header), data...), nil
}

// stepText is a fault step's timeline: per target, planned, injected and recovered.
func stepText(st StepResult) string {
	rep := st.Experiment
	if rep == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "experiment %s (%s): %s\n", rep.Experiment, rep.Fault, rep.Reason)
	for _, n := range rep.Nodes {
		fmt.Fprintf(&b, "node %s: inject latency %s, recover latency %s %s\n", n.Node, n.InjectLatency.D(), n.RecoverLatency.D(), n.Error)
		if n.Result == nil {
			continue
		}
		for _, t := range n.Result.Targets {
			fmt.Fprintf(&b, "  %s planned %s injected %s recovered %s %s\n", t.Target, stamp(st.PlannedAt), stamp(t.InjectedAt), stamp(t.RecoveredAt), t.Error)
		}
	}
	return b.String()
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format(time.RFC3339Nano)
}
