// Command binsize prints what the shipped binary weighs and where it goes: the size of
// the stripped binary (the agent image's content), its sections, and the largest
// packages and modules by the bytes of their symbols, read from a twin built without
// -s (same code, symbol table kept). `make size` runs it.
package main

import (
	"debug/buildinfo"
	"debug/elf"
	"flag"
	"fmt"
	"io"
	"os"
	"sort"
)

func main() {
	top := flag.Int("top", 15, "how many packages and modules to list")
	limit := flag.Int64("max", 0, "fail when the shipped binary is larger (bytes; 0 = no limit)")
	flag.Usage = func() {
		fmt.Fprintln(os.Stderr, "usage: binsize [-top N] [-max BYTES] SHIPPED-BINARY BINARY-WITH-SYMBOLS")
		flag.PrintDefaults()
	}
	flag.Parse()
	if flag.NArg() != 2 {
		flag.Usage()
		os.Exit(2)
	}
	if err := run(os.Stdout, flag.Arg(0), flag.Arg(1), *top, *limit); err != nil {
		fmt.Fprintln(os.Stderr, "binsize:", err)
		os.Exit(1)
	}
}

func run(w io.Writer, shipped, withSyms string, top int, limit int64) error {
	st, err := os.Stat(shipped)
	if err != nil {
		return err
	}
	sf, err := elf.Open(shipped)
	if err != nil {
		return err
	}
	defer sf.Close()
	fmt.Fprintf(w, "%s: %s (%d bytes, stripped as shipped in the agent image)\n\n", shipped, mb(st.Size()), st.Size())
	printSections(w, sf)

	f, err := elf.Open(withSyms)
	if err != nil {
		return err
	}
	defer f.Close()
	syms, err := ELFSymbols(f)
	if err != nil {
		return fmt.Errorf("%s: %w", withSyms, err)
	}
	var total int64
	for _, s := range syms {
		total += s.Size
	}
	pkgs := Aggregate(syms, PackageOf)
	fmt.Fprintf(w, "\n%d largest of %d packages (symbol bytes: code, type data, tables; %s in all;\n"+
		"the function tables of .gopclntab are not in symbols, they grow with the code):\n", top, len(pkgs), mb(total))
	printTop(w, pkgs, total, top)

	bi, err := buildinfo.ReadFile(withSyms)
	if err != nil {
		return fmt.Errorf("reading the module list of %s: %w", withSyms, err)
	}
	mods := make([]string, 0, len(bi.Deps)+1)
	mods = append(mods, bi.Main.Path)
	for _, d := range bi.Deps {
		mods = append(mods, d.Path)
	}
	byMod := Aggregate(syms, func(n string) string { return ModuleOf(PackageOf(n), mods) })
	fmt.Fprintf(w, "\n%d largest of %d modules:\n", top, len(byMod))
	printTop(w, byMod, total, top)

	if KeepsAllMethods(syms) {
		return fmt.Errorf("%s links text/template: the linker then keeps every exported method of every reachable type "+
			"(+21 MB when it came with gRPC's golang.org/x/net/trace); find who reaches %s with go build -ldflags=-dumpdep",
			withSyms, evalField)
	}
	fmt.Fprintln(w, "\nunused exported methods are dropped by the linker (no text/template linked)")
	if limit > 0 && st.Size() > limit {
		return fmt.Errorf("%s is %d bytes, over the limit of %d (SIZE_MAX)", shipped, st.Size(), limit)
	}
	return nil
}

func printSections(w io.Writer, f *elf.File) {
	secs := append([]*elf.Section(nil), f.Sections...)
	sort.Slice(secs, func(i, j int) bool { return secs[i].FileSize > secs[j].FileSize })
	fmt.Fprintln(w, "sections in the file:")
	for _, s := range secs {
		if s.Type == elf.SHT_NOBITS || s.FileSize < 64<<10 {
			continue
		}
		fmt.Fprintf(w, "  %-14s %9s\n", s.Name, mb(int64(s.FileSize)))
	}
}

func printTop(w io.Writer, es []Entry, total int64, n int) {
	for i, e := range es {
		if i == n {
			break
		}
		fmt.Fprintf(w, "  %9s %5.1f%%  %s\n", mb(e.Bytes), 100*float64(e.Bytes)/float64(total), e.Name)
	}
}

func mb(b int64) string { return fmt.Sprintf("%.2f MB", float64(b)/1e6) }
