package main

import (
	"bufio"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
)

// System answers what the check asks the machine (system.go; a fake in the tests).
type System interface {
	// Builtins: the shell's builtins and keywords.
	Builtins() map[string]bool
	// Applets of a busybox binary (the one the netem VM runs), and its package.
	Applets(busybox string) (map[string]bool, string)
	// Resolve finds each command (a name, through PATH, /usr/sbin and /sbin; or an
	// absolute path) and the Debian package that owns it.
	Resolve(cmds []string) map[string]Resolved
	// Base: which of these packages are on every Debian system (Essential, Priority required).
	Base(pkgs []string) map[string]bool
	// Installed: which of these packages are installed.
	Installed(pkgs []string) map[string]bool
}

// Resolved is where a command was found; Path "" when it was not, Package "" when no
// package owns it.
type Resolved struct {
	Path, Package string
}

// Lists are the two data files: what the image has, what the install step installs.
type Lists struct {
	Image      map[string]bool
	ImagePaths []string          // files under these come with the image (Go in /usr/local/go)
	Install    []string          // mk/packages, in order
	Indirect   map[string]string // install packages run by another program, and why
}

func readLists(image, install string) (Lists, error) {
	l := Lists{Image: map[string]bool{}, Indirect: map[string]string{}}
	err := eachLine(image, func(f []string, _ string) {
		if f[0] == "path" && len(f) > 1 {
			l.ImagePaths = append(l.ImagePaths, f[1])
		} else {
			l.Image[f[0]] = true
		}
	})
	if err != nil {
		return l, err
	}
	err = eachLine(install, func(f []string, comment string) {
		l.Install = append(l.Install, f[0])
		if why, ok := strings.CutPrefix(comment, "indirect:"); ok {
			l.Indirect[f[0]] = strings.TrimSpace(why)
		}
	})
	return l, err
}

// eachLine calls fn with the fields of each non-comment line and its trailing comment.
func eachLine(file string, fn func(fields []string, comment string)) error {
	f, err := os.Open(file)
	if err != nil {
		return err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		text, comment, _ := strings.Cut(sc.Text(), "#")
		if fields := strings.Fields(text); len(fields) > 0 {
			fn(fields, strings.TrimSpace(comment))
		}
	}
	return sc.Err()
}

// Repo is what the check reads of the repository.
type Repo struct {
	Root  string
	Files map[string]bool // repository-relative paths
	Built map[string]bool // binaries the project builds (main packages, the harness's)
}

// Finding is one line of the verdict.
type Finding struct {
	Call   Call
	Reason string
}

func (f Finding) String() string {
	return fmt.Sprintf("%s: `%s`: %s", f.Call.where(), strings.ReplaceAll(f.Call.Name, dyn, "$…"), f.Reason)
}

// Report is the check's result.
type Report struct {
	Fail     []Finding
	Unknown  []Finding // commands found nowhere: a failure, or a skip while packages of the install step are missing
	Warn     []Finding
	Dynamic  []Call   // command words only known at run time
	Missing  []string // packages of the install step that are not installed here
	Unused   []string // install-step packages that no call needs and are not marked indirect
	ByPkg    map[string][]string
	Commands int
	Calls    int
	Files    int
}

// Check classifies every call.
func Check(calls []Call, busybox string, repo Repo, lists Lists, sys System) Report {
	k := checker{r: Report{ByPkg: map[string][]string{}, Calls: len(calls)}, busybox: busybox,
		repo: repo, lists: lists, builtins: sys.Builtins(), applets: map[string]bool{},
		install: map[string]bool{}, used: map[string]bool{}}
	if busybox != "" {
		k.applets, k.busyboxPkg = sys.Applets(busybox)
	}
	installed := sys.Installed(lists.Install)
	for _, p := range lists.Install {
		k.install[p] = true
		if !installed[p] {
			k.r.Missing = append(k.r.Missing, p)
		}
	}
	// What to look up: names and absolute paths that no rule of the repository explains.
	var look []string
	seen := map[string]bool{}
	files := map[string]bool{}
	for _, c := range calls {
		files[c.File] = true
		if key := lookupKey(c, repo, k.builtins, k.applets); key != "" && !seen[key] {
			seen[key] = true
			look = append(look, key)
		}
	}
	k.r.Files = len(files)
	k.found = sys.Resolve(look)
	var pkgs []string
	for _, f := range k.found {
		if f.Package != "" {
			pkgs = append(pkgs, f.Package)
		}
	}
	k.base = sys.Base(pkgs)
	cmds := map[string]bool{}
	for _, c := range calls {
		cmds[c.Name] = true
		if !k.local(c) {
			k.system(c)
		}
	}
	r := k.r
	r.Commands = len(cmds)
	if len(r.Missing) == 0 {
		for _, p := range lists.Install {
			if !k.used[p] && lists.Indirect[p] == "" {
				r.Unused = append(r.Unused, p)
			}
		}
	}
	for _, l := range [][]Finding{r.Fail, r.Unknown, r.Warn} {
		sort.SliceStable(l, func(i, j int) bool { return l[i].Call.where() < l[j].Call.where() })
	}
	return r
}

// checker is Check's state: what the system said, and the report being built.
type checker struct {
	r          Report
	busybox    string
	busyboxPkg string
	repo       Repo
	lists      Lists
	builtins   map[string]bool
	applets    map[string]bool
	install    map[string]bool // packages of the install step
	used       map[string]bool // packages some call needs
	found      map[string]Resolved
	base       map[string]bool
}

// usedBy records that cmd comes from pkg.
func (k *checker) usedBy(pkg, cmd string) {
	k.used[pkg] = true
	for _, have := range k.r.ByPkg[pkg] {
		if have == cmd {
			return
		}
	}
	k.r.ByPkg[pkg] = append(k.r.ByPkg[pkg], cmd)
}

// local classifies a call that the repository, the shell or busybox explains, and
// reports whether it did.
func (k *checker) local(c Call) bool {
	name, repo := c.Name, k.repo
	switch {
	case isDynamic(name):
		suf := dynSuffix(name)
		if strings.Contains(suf, "/") && (repo.suffixFile(suf) || repo.Built[path.Base(suf)]) {
			return true // "$ROOT/internal/e2e/harness/build.sh", "$(bindir)/kubectl"
		}
		k.r.Dynamic = append(k.r.Dynamic, c)
	case c.Busybox && k.applets[name]:
		k.usedBy(k.busyboxPkg, "busybox "+name)
	case k.builtins[name]:
	case c.Busybox && !strings.Contains(name, "/"): // the VM has busybox and nothing else on PATH
		if len(k.applets) == 0 {
			k.r.Unknown = append(k.r.Unknown, Finding{c, fmt.Sprintf("unknown: %s, which would say whether this is an applet, is not installed", k.busybox)})
		} else {
			k.r.Fail = append(k.r.Fail, Finding{c, fmt.Sprintf("not an applet of %s nor a shell builtin, and a busybox script has nothing else", k.busybox)})
		}
	case !strings.HasPrefix(name, "/") && strings.Contains(name, "/"):
		if !repo.file(c.File, name) && !repo.Built[path.Base(name)] { // else a script of the project, or bin/kubectl-chaos
			k.r.Fail = append(k.r.Fail, Finding{c, "no such file in the repository, and not a binary the project builds"})
		}
	case !strings.HasPrefix(name, "/") && repo.Built[name]: // kubectl (the harness builds it), kubectl-chaos
	case strings.HasPrefix(name, "/") && repo.file("", strings.TrimPrefix(name, repo.Root+"/")):
	case strings.HasPrefix(name, "/") && repo.Built[path.Base(name)]: // where make install puts kubectl-chaos
	case name == "/proc/self/exe": // the running program itself (a test binary re-executed)
	default:
		return false
	}
	return true
}

// system classifies a call by what the system found for it: the package that owns it.
func (k *checker) system(c Call) {
	name := c.Name
	f := k.found[name]
	switch {
	case strings.HasPrefix(name, "/") && !systemPath(name):
		k.r.Warn = append(k.r.Warn, Finding{c, "a path of this machine outside the system directories: no package provides it, so a fresh machine does not have it (the caller must do without)"})
	case f.Path == "":
		k.r.Unknown = append(k.r.Unknown, Finding{c, "unknown: not a builtin, a function of the script or a binary the project builds, and not found in PATH, /usr/sbin or /sbin (add its package to mk/packages)"})
	case f.Package != "" && k.install[f.Package]:
		k.usedBy(f.Package, name)
	case f.Package != "" && (k.lists.Image[f.Package] || k.base[f.Package]):
		k.used[f.Package] = true
	case f.Package != "":
		k.r.Fail = append(k.r.Fail, Finding{c, fmt.Sprintf("comes from package %s (%s), which is neither in the image (mk/image-packages) nor installed by make deps (mk/packages)", f.Package, f.Path)})
	case underAny(f.Path, k.lists.ImagePaths):
		// the image's Go
	default:
		k.r.Fail = append(k.r.Fail, Finding{c, fmt.Sprintf("resolves to %s, which no Debian package owns and the image does not have", f.Path)})
	}
}

// lookupKey is what to ask the system about a call, "" when a rule of the repository or
// the shell explains it.
func lookupKey(c Call, repo Repo, builtins, applets map[string]bool) string {
	n := c.Name
	switch {
	case isDynamic(n), c.Busybox && !strings.Contains(n, "/"), builtins[n]:
		return ""
	case strings.HasPrefix(n, "/"):
		if repo.Built[path.Base(n)] {
			return ""
		}
		return n
	case strings.Contains(n, "/"), repo.Built[n]:
		return ""
	}
	return n
}

// file: name is a file of the repository, relative to the root or to the calling file's
// directory (a script's own dir).
func (r Repo) file(caller, name string) bool {
	name = strings.TrimPrefix(name, "./")
	return r.Files[path.Clean(name)] || (caller != "" && r.Files[path.Join(path.Dir(caller), name)])
}

// suffixFile: some file of the repository ends with this path ("/internal/e2e/run.sh").
func (r Repo) suffixFile(suf string) bool {
	for f := range r.Files {
		if strings.HasSuffix("/"+f, suf) {
			return true
		}
	}
	return false
}

// systemPath: under a directory packages install programs into.
func systemPath(p string) bool {
	for _, d := range []string{"/usr/", "/bin/", "/sbin/", "/lib", "/opt/", "/etc/"} {
		if strings.HasPrefix(p, d) {
			return true
		}
	}
	return false
}

func underAny(p string, dirs []string) bool {
	for _, d := range dirs {
		if strings.HasPrefix(p, strings.TrimSuffix(d, "/")+"/") {
			return true
		}
	}
	return false
}

// Collect reads every file of the repository that runs commands. busybox is the
// interpreter of the busybox scripts ("/bin/busybox"), "" when there is none.
func Collect(repo Repo) (_ []Call, busybox string, _ error) {
	c := &calls{}
	mv := &makeVars{def: map[string]makeVar{}, root: repo.Root, seen: map[makeSnippet]bool{}}
	type mk struct {
		file    string
		recipes []makeLine
	}
	var makes []mk
	names := make([]string, 0, len(repo.Files))
	for f := range repo.Files {
		names = append(names, f)
	}
	sort.Strings(names) // Makefile before mk/*.mk, like make reads them
	sort.SliceStable(names, func(i, j int) bool { return path.Base(names[i]) == "Makefile" && path.Base(names[j]) != "Makefile" })
	for _, f := range names {
		if skipped(f) {
			continue
		}
		src, err := os.ReadFile(filepath.Join(repo.Root, f))
		if err != nil {
			return nil, "", err
		}
		interp, sh, bb := shebang(src)
		if bb {
			c.busybox = interp[0]
		}
		switch {
		case path.Base(f) == "Makefile" || strings.HasSuffix(f, ".mk"):
			vars, recipes := makefile(string(src))
			mv.read(f, vars)
			makes = append(makes, mk{f, recipes})
		case strings.HasSuffix(f, ".go"):
			if _, err := c.goFile(f, src); err != nil {
				return nil, "", err
			}
		case sh || strings.HasSuffix(f, ".sh"):
			if sh { // the interpreter runs first: /usr/bin/env and bash, /bin/busybox
				c.add(interp[0], f, 1, false)
				if path.Base(interp[0]) == "env" {
					c.add(interp[1], f, 1, false)
				}
			}
			if err := c.shell(f, string(src), 0, bb); err != nil {
				return nil, "", err
			}
		}
	}
	for _, m := range makes {
		for _, r := range m.recipes {
			if err := c.shell(m.file, mv.expand(r.text, m.file, r.line, 0), r.line-1, false); err != nil {
				return nil, "", err
			}
		}
	}
	for _, v := range mv.def { // a $(shell …) in a variable no recipe uses runs too
		mv.expand(v.val, v.file, v.line, 0)
	}
	for _, s := range mv.shell {
		if err := c.shell(s.file, s.text, s.line-1, false); err != nil {
			return nil, "", err
		}
	}
	return dedupe(c.out), c.busybox, nil
}

// skipped: testdata is data (the checker's own fixtures call unknown commands on purpose).
func skipped(f string) bool {
	return strings.HasPrefix(f, "testdata/") || strings.Contains(f, "/testdata/")
}

func dedupe(cs []Call) []Call {
	seen := map[Call]bool{}
	var out []Call
	for _, c := range cs {
		if !seen[c] {
			seen[c] = true
			out = append(out, c)
		}
	}
	return out
}
