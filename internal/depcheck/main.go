// Command depcheck (make check-deps) checks that every command the project calls is
// there on a fresh machine once `make deps` ran: it comes from a Debian package of the
// machine image (mk/image-packages) or of the install step (mk/packages), or it is a
// shell builtin, a function of the script, or a binary the project builds.
//
// What it reads: Makefile and mk/*.mk (recipes, with the Makefiles' variables expanded,
// and $(shell …)), every shell script of the repository (*.sh and files with a sh, bash
// or busybox sh shebang; a busybox script's commands are that busybox's applets), and
// the string literals naming the command of exec.Command / exec.CommandContext in Go.
// testdata directories are skipped. The rules are in docs/dependencies.md.
package main

import (
	"flag"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	root := flag.String("root", ".", "repository root")
	image := flag.String("image", "mk/image-packages", "what the machine image has (relative to -root)")
	install := flag.String("install", "mk/packages", "what make deps installs (relative to -root)")
	verbose := flag.Bool("v", false, "list every command with its package")
	flag.Parse()
	os.Exit(run(os.Stderr, *root, *image, *install, *verbose, machine{}))
}

// run checks the repository at root and says so on w: 0 pass (or skip), 1 fail, 2 error.
func run(w io.Writer, root, image, install string, verbose bool, sys System) int {
	root, _ = filepath.Abs(root)
	say := func(format string, a ...any) { fmt.Fprintf(w, "check-deps: "+format+"\n", a...) }
	in := func(p string) string {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(root, p)
	}
	lists, err := readLists(in(image), in(install))
	if err != nil {
		say("%v", err)
		return 2
	}
	repo, err := readRepo(root)
	if err != nil {
		say("%v", err)
		return 2
	}
	calls, busybox, err := Collect(repo)
	if err != nil {
		say("%v", err)
		return 2
	}
	r := Check(calls, busybox, repo, lists, sys)
	for _, f := range r.Warn {
		say("warning: %s", f)
	}
	if verbose {
		for _, c := range r.Dynamic {
			say("not checked (only known at run time): %s `%s`", c.where(), strings.ReplaceAll(c.Name, dyn, "$…"))
		}
	}
	var pkgs []string
	for p := range r.ByPkg {
		pkgs = append(pkgs, p)
	}
	sort.Strings(pkgs)
	var from []string
	for _, p := range pkgs {
		from = append(from, fmt.Sprintf("%s (%s)", p, strings.Join(r.ByPkg[p], ", ")))
	}
	failed := len(r.Fail) > 0
	for _, f := range r.Fail {
		say("FAIL %s", f)
	}
	for _, p := range r.Unused {
		say("FAIL mk/packages installs %s, but no command the project calls comes from it (mark it `# indirect: why` when another program runs it)", p)
		failed = true
	}
	skip := false
	if len(r.Unknown) > 0 {
		if len(r.Missing) > 0 {
			skip = true
			say("SKIP %d commands cannot be placed while mk/packages' %s are not installed (make deps needs root); first: %s",
				len(r.Unknown), strings.Join(r.Missing, " "), r.Unknown[0])
		} else {
			for _, f := range r.Unknown {
				say("FAIL %s", f)
			}
			failed = true
		}
	}
	if failed {
		return 1
	}
	if skip {
		return 0
	}
	say("%d commands in %d files: from the image, builtins, functions, the project's own binaries, and from make deps: %s; %d command words only known at run time (-v lists them)",
		r.Commands, r.Files, strings.Join(from, "; "), len(r.Dynamic))
	return 0
}

// readRepo lists the repository's files: tracked, and new ones not ignored.
func readRepo(root string) (Repo, error) {
	out, err := exec.Command("git", "-C", root, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return Repo{}, fmt.Errorf("git ls-files in %s: %v", root, err)
	}
	var files []string
	for _, f := range strings.Split(string(out), "\x00") {
		if _, err := os.Stat(filepath.Join(root, f)); f != "" && err == nil { // not deleted
			files = append(files, f)
		}
	}
	return newRepo(root, files)
}

// newRepo finds the binaries the project builds: the last element of every main
// package's directory, and what the harness builds (internal/e2e/harness/build.sh --names).
func newRepo(root string, files []string) (Repo, error) {
	r := Repo{Root: root, Files: map[string]bool{}, Built: map[string]bool{}}
	for _, f := range files {
		r.Files[f] = true
		if strings.HasSuffix(f, ".go") && !strings.HasSuffix(f, "_test.go") && !skipped(f) {
			pf, err := parser.ParseFile(token.NewFileSet(), filepath.Join(root, f), nil, parser.PackageClauseOnly)
			if err == nil && pf.Name.Name == "main" {
				r.Built[path.Base(path.Dir(f))] = true
			}
		}
	}
	const harness = "internal/e2e/harness/build.sh"
	if r.Files[harness] {
		out, err := exec.Command("bash", filepath.Join(root, harness), "--names").Output()
		if err != nil {
			return r, fmt.Errorf("%s --names: %v", harness, err)
		}
		for _, n := range strings.Fields(string(out)) {
			r.Built[n] = true
		}
	}
	return r, nil
}
