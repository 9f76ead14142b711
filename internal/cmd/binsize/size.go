package main

import (
	"debug/elf"
	"fmt"
	"sort"
	"strings"
)

// Entry is the bytes a package (or module) owns in the binary.
type Entry struct {
	Name  string
	Bytes int64
}

// Symbol is one symbol of the binary's symbol table with its size.
type Symbol struct {
	Name string
	Size int64
}

// PackageOf returns the import path of the package that a Go linker symbol belongs to:
// "k8s.io/api/core/v1.(*Pod).Marshal" → "k8s.io/api/core/v1". Type descriptors
// ("type:*pkg.T"), itabs ("go:itab.*pkg.T,io.Reader"), closures and generic
// instantiations ("pkg.F[go.shape.int]") count for the package that defines them.
// Symbols of no package (type descriptors of unnamed types, string data, assembly
// entry points) go to a bucket named in parentheses.
func PackageOf(sym string) string {
	switch {
	case strings.HasPrefix(sym, "type:"):
		return typePackage(strings.TrimPrefix(sym, "type:"))
	case strings.HasPrefix(sym, "go:itab."):
		return typePackage(strings.TrimPrefix(sym, "go:itab."))
	case strings.HasPrefix(sym, "go:"):
		return "(go: strings, func values, build info)"
	}
	if p := pathOf(sym); p != "" {
		return p
	}
	return "(no package)"
}

// typePackage attributes a type descriptor to the package of the named type it
// describes, seen through *, [] and [N]; a map, func, chan or struct type of no
// package is "(unnamed types)".
func typePackage(t string) string {
	t = strings.TrimLeft(t, "*")
	for strings.HasPrefix(t, "[") {
		i := strings.IndexByte(t, ']')
		if i < 0 {
			break
		}
		t = strings.TrimLeft(t[i+1:], "*")
	}
	if p := pathOf(t); p != "" {
		return p
	}
	return "(unnamed types)"
}

// pathOf cuts a qualified Go name "path/to/pkg.Name…" to its import path: the last
// slash of the part before any '[' or ',' is followed by the package's own name and a
// dot. A last element with a version dot ("gopkg.in/yaml.v3.Node") keeps it. Names with
// no qualifier ("main.main" is qualified: "main") return "".
func pathOf(name string) string {
	if i := strings.IndexAny(name, "[,( "); i >= 0 {
		name = name[:i]
	}
	if name == "" || !isPathStart(name[0]) {
		return ""
	}
	slash := strings.LastIndexByte(name, '/')
	dot := strings.IndexByte(name[slash+1:], '.')
	if dot < 0 {
		return ""
	}
	end := slash + 1 + dot
	// gopkg.in/yaml.v3.Node: ".v3" is part of the path when another dot follows it.
	if rest := name[end+1:]; isVersion(rest) {
		if j := strings.IndexByte(rest, '.'); j >= 0 {
			end += 1 + j
		}
	}
	return name[:end]
}

func isPathStart(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c == '_'
}

// isVersion reports whether s starts with "vN." (N digits).
func isVersion(s string) bool {
	if len(s) < 3 || s[0] != 'v' {
		return false
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 1 && i < len(s) && s[i] == '.'
}

// ModuleOf returns the module of mods (longest path prefix) that provides pkg, "std" for
// the standard library, or pkg itself when no module matches (a bucket in parentheses).
func ModuleOf(pkg string, mods []string) string {
	if strings.HasPrefix(pkg, "(") {
		return pkg
	}
	best := ""
	for _, m := range mods {
		if (pkg == m || strings.HasPrefix(pkg, m+"/")) && len(m) > len(best) {
			best = m
		}
	}
	if best != "" {
		return best
	}
	if first, _, _ := strings.Cut(pkg, "/"); !strings.Contains(first, ".") {
		return "std" // no dot in the first element: the standard library (or main)
	}
	return pkg
}

// Aggregate sums symbol sizes by key(name), largest first (ties by name).
func Aggregate(syms []Symbol, key func(string) string) []Entry {
	by := map[string]int64{}
	for _, s := range syms {
		by[key(s.Name)] += s.Size
	}
	out := make([]Entry, 0, len(by))
	for n, b := range by {
		out = append(out, Entry{n, b})
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Bytes != out[j].Bytes {
			return out[i].Bytes > out[j].Bytes
		}
		return out[i].Name < out[j].Name
	})
	return out
}

// ELFSymbols reads the sized symbols of the sections that are in the file (code, read-only
// data, initialized data; .bss and .noptrbss take no file space).
func ELFSymbols(f *elf.File) ([]Symbol, error) {
	syms, err := f.Symbols()
	if err != nil {
		return nil, fmt.Errorf("reading the symbol table (build without -s): %w", err)
	}
	var out []Symbol
	for _, s := range syms {
		// The linker also emits "local.<name>" aliases at the same address: count once.
		if s.Size == 0 || strings.HasPrefix(s.Name, "local.") || int(s.Section) >= len(f.Sections) || s.Section == elf.SHN_UNDEF {
			continue
		}
		if f.Sections[s.Section].Type == elf.SHT_NOBITS {
			continue
		}
		out = append(out, Symbol{s.Name, int64(s.Size)})
	}
	return out, nil
}

// evalField is text/template's method lookup by a name known only at run time: once it
// is reachable the linker cannot tell which exported methods are unused and keeps all.
const evalField = "text/template.(*state).evalField"

// KeepsAllMethods reports whether the binary links text/template's method lookup.
func KeepsAllMethods(syms []Symbol) bool {
	for _, s := range syms {
		if s.Name == evalField {
			return true
		}
	}
	return false
}
