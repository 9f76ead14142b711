package main

import (
	"fmt"
	"path"
	"regexp"
	"strconv"
	"strings"

	"mvdan.cc/sh/v3/syntax"
)

// Call is one command the project's files run.
type Call struct {
	Name    string // as written after expansion: "nft", "/usr/bin/containerd", "internal/e2e/run.sh"
	File    string // repository-relative file that calls it
	Line    int
	Busybox bool // called from a busybox sh script: applets come from the busybox binary
}

func (c Call) where() string { return fmt.Sprintf("%s:%d", c.File, c.Line) }

// dyn stands for text that only exists at run time (an unset variable, $(…), $@): a
// command word containing it is not a name the check can resolve.
const dyn = "\x01"

func isDynamic(s string) bool { return strings.Contains(s, dyn) }

// dynSuffix is the literal tail of a dynamic word ("$bin/etcd" -> "/etcd").
func dynSuffix(s string) string { return s[strings.LastIndex(s, dyn)+1:] }

// calls collects what one file runs.
type calls struct {
	out     []Call
	busybox string // interpreter of the busybox scripts
}

func (c *calls) add(name, file string, line int, busybox bool) {
	c.out = append(c.out, Call{Name: name, File: file, Line: line, Busybox: busybox})
}

// ---------------------------------------------------------------- shell

// shellFile is one script (or a recipe, or a string run by bash -c / trap).
type shellFile struct {
	c       *calls
	file    string
	lineOff int // line of the snippet's first line in file, minus 1
	busybox bool
	funcs   map[string]bool
	// wrappers: functions that run their arguments ("$@" in command position), with how
	// many leading arguments they shift off first (phase NAME CMD…, wait_for WHAT SECS CMD…).
	wrappers map[string]int
	assigns  map[string][]*syntax.Word
	vars     map[string]string // resolved literal values; dyn when not one literal
	resolved map[string]bool
}

func newShell(c *calls, file string, lineOff int, busybox bool) *shellFile {
	return &shellFile{c: c, file: file, lineOff: lineOff, busybox: busybox,
		funcs: map[string]bool{}, wrappers: map[string]int{}, assigns: map[string][]*syntax.Word{},
		vars: map[string]string{}, resolved: map[string]bool{}}
}

func parseShell(src, name string) (*syntax.File, error) {
	return syntax.NewParser(syntax.Variant(syntax.LangBash)).Parse(strings.NewReader(src), name)
}

// shell adds the commands of a script's source (lineOff: where it starts in file).
func (c *calls) shell(file, src string, lineOff int, busybox bool) error {
	f, err := parseShell(src, file)
	if err != nil {
		return fmt.Errorf("%s: %v", file, err)
	}
	s := newShell(c, file, lineOff, busybox)
	s.scan(f)
	s.walk(f)
	return nil
}

// scan records the file's functions, the wrapper functions and the variable assignments.
func (s *shellFile) scan(f syntax.Node) {
	syntax.Walk(f, func(n syntax.Node) bool {
		switch n := n.(type) {
		case *syntax.FuncDecl:
			if n.Name != nil {
				s.funcs[n.Name.Value] = true
				if shifts, ok := runsArgs(n.Body); ok {
					s.wrappers[n.Name.Value] = shifts
				}
			}
		case *syntax.CallExpr:
			if len(n.Args) == 0 {
				s.assign(n.Assigns)
			}
		case *syntax.DeclClause:
			s.assign(n.Args)
		}
		return true
	})
}

func (s *shellFile) assign(as []*syntax.Assign) {
	for _, a := range as {
		if a.Name == nil || a.Naked || a.Index != nil {
			continue
		}
		if a.Append || a.Array != nil || a.Value == nil {
			s.assigns[a.Name.Value] = append(s.assigns[a.Name.Value], nil) // not one literal
			continue
		}
		s.assigns[a.Name.Value] = append(s.assigns[a.Name.Value], a.Value)
	}
}

// runsArgs: the function body runs "$@" as a command; shifts counts its `shift`s.
func runsArgs(body syntax.Node) (int, bool) {
	shifts, runs := 0, false
	syntax.Walk(body, func(n syntax.Node) bool {
		ce, ok := n.(*syntax.CallExpr)
		if !ok || len(ce.Args) == 0 {
			return true
		}
		if isAllArgs(ce.Args[0]) {
			runs = true
		}
		if ce.Args[0].Lit() == "shift" {
			k := 1
			if len(ce.Args) > 1 {
				if v, err := strconv.Atoi(ce.Args[1].Lit()); err == nil {
					k = v
				}
			}
			shifts += k
		}
		return true
	})
	return shifts, runs
}

// onlyParam is the parameter expansion a word is made of ($X or "$X"), or nil.
func onlyParam(w *syntax.Word) *syntax.ParamExp {
	parts := w.Parts
	if len(parts) == 1 {
		if dq, ok := parts[0].(*syntax.DblQuoted); ok {
			parts = dq.Parts
		}
	}
	if len(parts) != 1 {
		return nil
	}
	pe, _ := parts[0].(*syntax.ParamExp)
	return pe
}

// isAllArgs: the word is $@ or "$@" (or $*).
func isAllArgs(w *syntax.Word) bool {
	pe := onlyParam(w)
	return pe != nil && pe.Param != nil && (pe.Param.Value == "@" || pe.Param.Value == "*")
}

// variable's literal value, or dyn: set once to a literal (possibly through ${X:-default}),
// else only known at run time.
func (s *shellFile) variable(name string) string {
	if v, ok := s.vars[name]; ok {
		return v
	}
	if s.resolved[name] { // a reference to itself while resolving: the environment's value
		return dyn
	}
	s.resolved[name] = true
	ws := s.assigns[name]
	v := dyn
	if len(ws) > 0 && ws[0] != nil {
		v = s.word(ws[0], name)
		for _, w := range ws[1:] {
			if w == nil || s.word(w, name) != v {
				v = dyn
			}
		}
	}
	s.vars[name] = v
	return v
}

// word evaluates a word as far as the file says: literals, quotes and variables with one
// literal value; everything else becomes dyn.
func (s *shellFile) word(w *syntax.Word, self string) string {
	var b strings.Builder
	s.parts(&b, w.Parts, false, self)
	return b.String()
}

func (s *shellFile) parts(b *strings.Builder, parts []syntax.WordPart, quoted bool, self string) {
	for _, p := range parts {
		switch p := p.(type) {
		case *syntax.Lit:
			b.WriteString(unescape(p.Value, quoted))
		case *syntax.SglQuoted:
			b.WriteString(p.Value)
		case *syntax.DblQuoted:
			s.parts(b, p.Parts, true, self)
		case *syntax.ParamExp:
			b.WriteString(s.param(p, self))
		default: // $(…), $((…)), globs, process substitution
			b.WriteString(dyn)
		}
	}
}

func (s *shellFile) param(p *syntax.ParamExp, self string) string {
	if p.Param == nil || p.Excl || p.Length || p.Index != nil || p.Slice != nil || p.Repl != nil || p.Names != 0 {
		return dyn
	}
	name := p.Param.Value
	v := dyn
	if name != self {
		v = s.variable(name)
	}
	if p.Exp != nil {
		switch p.Exp.Op {
		case syntax.DefaultUnset, syntax.DefaultUnsetOrNull:
			if v == dyn && p.Exp.Word != nil {
				return s.word(p.Exp.Word, self)
			}
			return v
		default:
			return dyn
		}
	}
	return v
}

// unescape drops the backslashes the shell removes (mvdan keeps literals as written).
func unescape(v string, quoted bool) string {
	if !strings.Contains(v, `\`) {
		return v
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] == '\\' && i+1 < len(v) {
			nx := v[i+1]
			if !quoted || strings.IndexByte("\"\\$`\n", nx) >= 0 {
				if nx != '\n' {
					b.WriteByte(nx)
				}
				i++
				continue
			}
		}
		b.WriteByte(v[i])
	}
	return b.String()
}

func (s *shellFile) line(n syntax.Node) int { return int(n.Pos().Line()) + s.lineOff }

func (s *shellFile) walk(f syntax.Node) {
	syntax.Walk(f, func(n syntax.Node) bool {
		if ce, ok := n.(*syntax.CallExpr); ok && len(ce.Args) > 0 {
			s.call(ce)
		}
		return true
	})
}

// sysBin: an absolute path into a system bin directory passed to a function of the script
// is a command the function runs (cluster.sh: start containerd /usr/bin/containerd …).
var sysBin = regexp.MustCompile(`^/(usr/)?(local/)?s?bin/[A-Za-z0-9._+-]+$`)

func (s *shellFile) call(ce *syntax.CallExpr) {
	words := make([]string, len(ce.Args))
	for i, w := range ce.Args {
		words[i] = s.word(w, "")
	}
	line := s.line(ce)
	if s.funcs[words[0]] {
		for _, w := range words[1:] {
			if sysBin.MatchString(w) {
				s.c.add(w, s.file, line, false)
			}
		}
	}
	if vals := s.values(ce.Args[0]); len(vals) > 1 { // was_up=false … was_up=true; if $was_up
		for _, v := range vals {
			words[0] = v
			s.command(ce.Args, words, line)
		}
		return
	}
	s.command(ce.Args, words, line)
}

// values: the literal values a word that is just $VAR or "$VAR" can have, when the script
// assigns VAR only literals.
func (s *shellFile) values(w *syntax.Word) []string {
	pe := onlyParam(w)
	if pe == nil || pe.Param == nil || pe.Exp != nil || pe.Index != nil || pe.Length || pe.Excl {
		return nil
	}
	var out []string
	for _, a := range s.assigns[pe.Param.Value] {
		if a == nil {
			return nil
		}
		v := s.word(a, pe.Param.Value)
		if isDynamic(v) {
			return nil
		}
		if indexOf(out, v) < 0 {
			out = append(out, v)
		}
	}
	return out
}

// command records words[0] and, for commands that run another command (timeout, env,
// xargs, bash -c, a wrapper function …), what they run.
func (s *shellFile) command(args []*syntax.Word, words []string, line int) {
	for len(words) > 0 {
		name := words[0]
		if isAllArgs(args[0]) {
			return // a wrapper's "$@": checked where the wrapper is called
		}
		if s.funcs[name] {
			n, ok := s.wrappers[name]
			if !ok || 1+n >= len(words) {
				return
			}
			args, words = args[1+n:], words[1+n:]
			continue
		}
		s.c.add(name, s.file, line, s.busybox)
		if isDynamic(name) {
			return
		}
		skip := runs(path.Base(name), words[1:])
		switch {
		case skip == cString:
			if i := indexOf(words, "-c"); i > 0 && i+1 < len(words) {
				s.snippet(args[i+1], line)
			}
			return
		case skip == trapString:
			if len(args) > 1 {
				s.snippet(args[1], line)
			}
			return
		case skip < 0 || 1+skip >= len(words):
			return
		}
		args, words = args[1+skip:], words[1+skip:]
	}
}

// snippet parses a string that a shell runs (bash -c '…', trap '…' EXIT): variables the
// outer shell expands in it are evaluated first, the rest becomes dyn.
func (s *shellFile) snippet(w *syntax.Word, line int) {
	src := s.word(w, "")
	f, err := parseShell(src, s.file)
	if err != nil {
		return
	}
	in := newShell(s.c, s.file, line-1, s.busybox)
	for k, v := range s.funcs {
		in.funcs[k] = v
	}
	for k, v := range s.wrappers {
		in.wrappers[k] = v
	}
	for k, v := range s.assigns { // the code runs in (a child of) this shell
		in.assigns[k] = v
	}
	in.scan(f)
	in.walk(f)
}

func indexOf(ws []string, x string) int {
	for i, w := range ws {
		if w == x {
			return i
		}
	}
	return -1
}

const (
	cString    = -2 // runs its -c argument as shell code
	trapString = -3 // trap CODE SIGNAL…
)

// runs says where, in the arguments of a command that runs another command, the command
// it runs is (-1: it runs none), or cString/trapString. These are the commands the check
// sees through, with their options that take a value.
func runs(name string, args []string) int {
	opts := func(withValue string) int { // skip options; -x VALUE for x in withValue
		i := 0
		for i < len(args) && strings.HasPrefix(args[i], "-") && args[i] != "-" {
			a := args[i]
			i++
			if a == "--" {
				break
			}
			if !strings.HasPrefix(a, "--") && len(a) == 2 && strings.Contains(withValue, a[1:]) {
				i++
			}
		}
		return i
	}
	switch name {
	case "bash", "sh", "dash":
		if indexOf(args, "-c") >= 0 {
			return cString
		}
		return opts("o") // bash SCRIPT: the script is what it runs
	case "trap":
		return trapString
	case "exec":
		return opts("a")
	case "command":
		if indexOf(args, "-v") >= 0 || indexOf(args, "-V") >= 0 {
			return -1 // a probe: says whether the command is there, runs nothing
		}
		return opts("")
	case "builtin", "nohup", "setsid", "time":
		return opts("")
	case "sudo":
		return opts("ugCDhprtT")
	case "nice":
		return opts("n")
	case "ionice":
		return opts("cnp")
	case "stdbuf":
		return opts("ioe")
	case "env":
		i := opts("uCS")
		for i < len(args) && strings.Contains(args[i], "=") {
			i++
		}
		return i
	case "timeout":
		i := opts("sk")
		return i + 1 // the duration
	case "flock":
		i := opts("wEc")
		if i < len(args) {
			if _, err := strconv.Atoi(args[i]); err == nil {
				return -1 // flock FD: runs nothing
			}
			if i+1 < len(args) && args[i+1] == "-c" {
				return cString
			}
		}
		return i + 1 // the lock file
	case "xargs":
		return opts("adEeIiLlnPs")
	case "find":
		for i, a := range args {
			if a == "-exec" || a == "-execdir" || a == "-ok" || a == "-okdir" {
				return i + 1
			}
		}
	}
	return -1
}
