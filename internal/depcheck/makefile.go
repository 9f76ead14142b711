package main

import (
	"bufio"
	"regexp"
	"strings"
)

// ---------------------------------------------------------------- make

var (
	makeAssign = regexp.MustCompile(`^(?:export\s+|override\s+)*([A-Za-z_][A-Za-z0-9_.-]*)\s*(:=|::=|\?=|\+=|=)\s*(.*)$`)
	makeRule   = regexp.MustCompile(`^[^\s#][^=]*:`)
)

type makeLine struct {
	text string
	line int
}

// makefile reads the logical lines of a Makefile: continuation lines joined (recipes keep
// the backslash-newline the shell sees), comments dropped outside recipes.
func makefile(src string) (vars []makeLine, recipes []makeLine) {
	var lines []makeLine
	sc := bufio.NewScanner(strings.NewReader(src))
	n := 0
	for sc.Scan() {
		n++
		t := sc.Text()
		if k := len(lines); k > 0 && strings.HasSuffix(lines[k-1].text, `\`) {
			if strings.HasPrefix(lines[k-1].text, "\t") {
				lines[k-1].text += "\n" + strings.TrimPrefix(t, "\t")
			} else {
				lines[k-1].text = strings.TrimSuffix(lines[k-1].text, `\`) + " " + strings.TrimSpace(t)
			}
			continue
		}
		lines = append(lines, makeLine{t, n})
	}
	inRule := false
	for _, l := range lines {
		switch {
		case strings.HasPrefix(l.text, "\t") && inRule:
			t := strings.TrimLeft(l.text[1:], "@-+ \t")
			recipes = append(recipes, makeLine{t, l.line})
		case makeAssign.MatchString(l.text):
			inRule = false
			vars = append(vars, l)
		case makeRule.MatchString(l.text):
			inRule = true
			if i := strings.Index(l.text, ";"); i > 0 { // target: prereqs ; recipe
				recipes = append(recipes, makeLine{strings.TrimLeft(l.text[i+1:], "@-+ \t"), l.line})
			}
		case strings.TrimSpace(l.text) == "" || strings.HasPrefix(strings.TrimSpace(l.text), "#"):
		default:
			inRule = false
		}
	}
	return vars, recipes
}

// makeVars are the variables of all the Makefiles (make reads them as one).
type makeVars struct {
	def   map[string]makeVar
	root  string
	shell []makeSnippet // the $(shell …) in variables and recipes
	seen  map[makeSnippet]bool
}

type makeVar struct {
	val  string
	file string
	line int
}

type makeSnippet struct {
	text, file string
	line       int
}

func (m *makeVars) read(file string, vars []makeLine) {
	for _, l := range vars {
		g := makeAssign.FindStringSubmatch(l.text)
		name, op, val := g[1], g[2], strings.TrimSpace(stripComment(g[3]))
		switch op {
		case "+=":
			if old, ok := m.def[name]; ok {
				val = old.val + " " + val
			}
		case "?=":
			if _, ok := m.def[name]; ok {
				continue
			}
		}
		m.def[name] = makeVar{val, file, l.line}
	}
}

func stripComment(s string) string {
	if i := strings.Index(s, " #"); i >= 0 {
		return s[:i]
	}
	return s
}

// expand does what make does to a recipe before the shell sees it, as far as the check
// needs: $(VAR) and ${VAR} of the Makefiles, $(MAKE), $(CURDIR), $$; a $(shell …) is
// kept as a snippet to check (at the line that writes it); automatic variables and
// functions become dyn.
func (m *makeVars) expand(s, file string, line, depth int) string {
	if depth > 20 {
		return dyn
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		nx := s[i+1]
		switch nx {
		case '$':
			b.WriteByte('$')
			i++
			continue
		case '(', '{':
			closer := byte(')')
			if nx == '{' {
				closer = '}'
			}
			d, j := 0, i+1
			for ; j < len(s); j++ {
				if s[j] == nx {
					d++
				} else if s[j] == closer {
					d--
					if d == 0 {
						break
					}
				}
			}
			if j >= len(s) {
				b.WriteString(dyn)
				i = len(s)
				continue
			}
			inner := s[i+2 : j]
			i = j
			switch {
			case strings.HasPrefix(inner, "shell "):
				sn := makeSnippet{m.expand(inner[6:], file, line, depth+1), file, line}
				if !m.seen[sn] {
					m.seen[sn] = true
					m.shell = append(m.shell, sn)
				}
				b.WriteString(dyn)
			case inner == "MAKE":
				b.WriteString("make")
			case inner == "CURDIR":
				b.WriteString(m.root)
			case strings.ContainsAny(inner, " ,"):
				b.WriteString(dyn) // a function: $(wildcard …), $(filter …)
			default:
				if v, ok := m.def[inner]; ok {
					b.WriteString(m.expand(v.val, v.file, v.line, depth+1))
				} else {
					b.WriteString(dyn)
				}
			}
		default: // $@, $<, $^ …
			b.WriteString(dyn)
			i++
		}
	}
	return b.String()
}
