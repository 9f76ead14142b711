// Package ui owns the process's standard streams: TTY detection, the color decision,
// and the printers for human tables, JSON and YAML. Data goes to Out, progress and
// errors to ErrOut.
package ui

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the streams a command reads and writes.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	stdinTTY  bool
	stdoutTTY bool
	stderrTTY bool
	noColor   bool
}

// System returns the process's streams with TTY detection and NO_COLOR honoured.
func System() *IOStreams {
	return &IOStreams{
		In:        os.Stdin,
		Out:       os.Stdout,
		ErrOut:    os.Stderr,
		stdinTTY:  isTerminal(os.Stdin),
		stdoutTTY: isTerminal(os.Stdout),
		stderrTTY: isTerminal(os.Stderr),
		noColor:   noColorEnv(),
	}
}

func isTerminal(f *os.File) bool { return term.IsTerminal(int(f.Fd())) }

// noColorEnv follows https://no-color.org: any non-empty NO_COLOR disables color.
func noColorEnv() bool { return os.Getenv("NO_COLOR") != "" }

// Test returns streams backed by buffers (in, out, errOut), none a TTY.
func Test() (*IOStreams, *bytes.Buffer, *bytes.Buffer, *bytes.Buffer) {
	in, out, errOut := &bytes.Buffer{}, &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: in, Out: out, ErrOut: errOut}, in, out, errOut
}

// SetTTY marks the streams as terminals (tests); NO_COLOR is read again.
func (s *IOStreams) SetTTY(stdin, stdout, stderr bool) {
	s.stdinTTY, s.stdoutTTY, s.stderrTTY = stdin, stdout, stderr
	s.noColor = noColorEnv()
}

// IsStdinTTY reports whether stdin is a terminal.
func (s *IOStreams) IsStdinTTY() bool { return s.stdinTTY }

// IsStdoutTTY reports whether stdout is a terminal.
func (s *IOStreams) IsStdoutTTY() bool { return s.stdoutTTY }

// IsStderrTTY reports whether stderr is a terminal.
func (s *IOStreams) IsStderrTTY() bool { return s.stderrTTY }

// ColorEnabled: color only when stdout is a terminal and NO_COLOR is unset.
func (s *IOStreams) ColorEnabled() bool { return s.stdoutTTY && !s.noColor }

// ErrColorEnabled: color on stderr only when stderr is a terminal and NO_COLOR is unset.
func (s *IOStreams) ErrColorEnabled() bool { return s.stderrTTY && !s.noColor }

// CanPrompt reports whether a confirmation prompt can be answered.
func (s *IOStreams) CanPrompt() bool { return s.stdinTTY && s.stderrTTY }
