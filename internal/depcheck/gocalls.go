package main

import (
	"bytes"
	"go/ast"
	"go/parser"
	"go/token"
	"path"
	"strconv"
	"strings"
)

// ---------------------------------------------------------------- go

// goFile adds the literal command names of exec.Command / exec.CommandContext.
func (c *calls) goFile(file string, src []byte) (dynamic int, err error) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, file, src, parser.SkipObjectResolution)
	if err != nil {
		return 0, err
	}
	execName := ""
	for _, im := range f.Imports {
		if p, _ := strconv.Unquote(im.Path.Value); p == "os/exec" {
			execName = "exec"
			if im.Name != nil {
				execName = im.Name.Name
			}
		}
	}
	if execName == "" {
		return 0, nil
	}
	ast.Inspect(f, func(n ast.Node) bool {
		ce, ok := n.(*ast.CallExpr)
		if !ok {
			return true
		}
		sel, ok := ce.Fun.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		if x, ok := sel.X.(*ast.Ident); !ok || x.Name != execName {
			return true
		}
		idx := map[string]int{"Command": 0, "CommandContext": 1}
		i, ok := idx[sel.Sel.Name]
		if !ok || len(ce.Args) <= i {
			return true
		}
		if lit, ok := ce.Args[i].(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if name, err := strconv.Unquote(lit.Value); err == nil {
				c.add(name, file, fset.Position(lit.Pos()).Line, false)
				return true
			}
		}
		dynamic++
		return true
	})
	return dynamic, nil
}

// shebang tells a shell script by its first line: the interpreter's words ("/usr/bin/env
// bash", "/bin/busybox sh"), whether it is a shell, and whether that shell is busybox's.
func shebang(src []byte) (interp []string, shell, busybox bool) {
	first, _, _ := bytes.Cut(src, []byte("\n"))
	if !bytes.HasPrefix(first, []byte("#!")) {
		return nil, false, false
	}
	f := strings.Fields(string(first[2:]))
	if len(f) == 0 {
		return nil, false, false
	}
	prog := path.Base(f[0])
	if prog == "env" && len(f) > 1 {
		prog = f[1]
	}
	if prog == "busybox" && len(f) > 1 && f[1] == "sh" {
		return f, true, true
	}
	switch prog {
	case "sh", "bash", "dash", "ash":
		return f, true, false
	}
	return f, false, false
}
