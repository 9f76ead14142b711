package main

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// fixture reads testdata/repo as a repository.
func fixture(t *testing.T) Repo {
	t.Helper()
	root, _ := filepath.Abs("testdata/repo")
	var files []string
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			rel, _ := filepath.Rel(root, p)
			files = append(files, filepath.ToSlash(rel))
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	r, err := newRepo(root, files)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func collect(t *testing.T) ([]Call, string, Repo) {
	t.Helper()
	repo := fixture(t)
	calls, busybox, err := Collect(repo)
	if err != nil {
		t.Fatal(err)
	}
	return calls, busybox, repo
}

func key(c Call) string {
	k := strings.ReplaceAll(c.Name, dyn, "$…") + "@" + c.where()
	if c.Busybox {
		k = "busybox:" + k
	}
	return k
}

func TestCollectSeesThroughWrappersAndExpansions(t *testing.T) {
	calls, busybox, repo := collect(t)
	var got []string
	for _, c := range calls {
		got = append(got, key(c))
	}
	for _, want := range []string{
		"git@Makefile:3",                   // $(shell …) in a variable
		"go@Makefile:6",                    // $(GO) with GO ?= go
		"scripts/run.sh@Makefile:7",        // $(RUNNER)
		"go@mk/extra.mk:3",                 // a fragment's variable built on the Makefile's
		"gzip@mk/extra.mk:4",               // the continuation line of a recipe
		"bash@mk/extra.mk:5",               // target: ; recipe
		"/usr/bin/env@scripts/run.sh:1",    // the interpreter
		"bash@scripts/run.sh:1",            //
		"false@scripts/run.sh:12",          // if $ok, ok assigned false and true
		"true@scripts/run.sh:12",           //
		"go@scripts/run.sh:13",             // phase NAME CMD…: a function that shifts once, then runs "$@"
		"curl@scripts/run.sh:14",           // wait_for WHAT SECS CMD…: shift 2
		"/usr/bin/sortd@scripts/run.sh:15", // a system path handed to a function of the script
		"timeout@scripts/run.sh:16", "nice@scripts/run.sh:16", "env@scripts/run.sh:16", "sha256sum@scripts/run.sh:16",
		"find@scripts/run.sh:17", "rm@scripts/run.sh:17", // -exec
		"xargs@scripts/run.sh:18", "wc@scripts/run.sh:18",
		"tr@scripts/run.sh:19", "go@scripts/run.sh:19", // bash -c "…$GO…": the outer shell expands $GO
		"rmdir@scripts/run.sh:20", "cleanup-tool@scripts/run.sh:20", // trap 'code' EXIT
		"flock@scripts/run.sh:22", "cp@scripts/run.sh:23",
		"$…/helper.sh@scripts/run.sh:24", "$…/kubectl@scripts/run.sh:25", "$…@scripts/run.sh:26",
		"scripts/helper.sh@scripts/run.sh:27", "./helper.sh@scripts/run.sh:28",
		"cat@scripts/run.sh:29",
		"tool@scripts/helper.sh:2",
		"/bin/busybox@vm/init:1",
		"busybox:mount@vm/init:2", "busybox:insmod@vm/init:3", "busybox:poweroff@vm/init:4",
		"ip@cmd/tool/main.go:10", "nft@cmd/tool/main.go:11", // exec.Command literals, under an import alias
	} {
		if !slices.Contains(got, want) {
			t.Errorf("missing call %s", want)
		}
	}
	for _, c := range calls {
		switch strings.ReplaceAll(c.Name, dyn, "$…") {
		case "log", "phase", "wait_for", "start", "local", "probe-only", "not-a-command", "sortd", "9", "/tmp/lock":
			t.Errorf("%s is not a command the project runs (%s)", c.Name, c.where())
		}
	}
	if busybox != "/bin/busybox" {
		t.Errorf("busybox interpreter %q", busybox)
	}
	if !repo.Built["tool"] {
		t.Errorf("cmd/tool (a main package) not counted as a binary the project builds: %v", repo.Built)
	}
	if t.Failed() {
		t.Logf("calls: %s", strings.Join(got, " "))
	}
}

// fakeSystem answers from maps.
type fakeSystem struct {
	builtins  []string
	applets   []string
	found     map[string]Resolved
	base      []string
	installed []string
}

func set(l []string) map[string]bool {
	m := map[string]bool{}
	for _, x := range l {
		m[x] = true
	}
	return m
}

func (f fakeSystem) Builtins() map[string]bool { return set(f.builtins) }
func (f fakeSystem) Applets(string) (map[string]bool, string) {
	return set(f.applets), "busybox-static"
}
func (f fakeSystem) Resolve(cmds []string) map[string]Resolved {
	out := map[string]Resolved{}
	for _, c := range cmds {
		out[c] = f.found[c]
	}
	return out
}
func (f fakeSystem) Base(pkgs []string) map[string]bool      { return set(f.base) }
func (f fakeSystem) Installed(pkgs []string) map[string]bool { return set(f.installed) }

func fakeMachine() fakeSystem {
	return fakeSystem{
		builtins: []string{"set", "cd", "pwd", "echo", "shift", "exec", "true", "false", "command", "local", "wait", "trap"},
		applets:  []string{"mount", "insmod", "echo", "poweroff"},
		found: map[string]Resolved{
			"go": {"/usr/local/go/bin/go", ""}, "git": {"/usr/bin/git", "git"},
			"gzip": {"/usr/bin/gzip", "gzip"}, "bash": {"/usr/bin/bash", "bash"},
			"/usr/bin/env": {"/usr/bin/env", "coreutils"}, "/bin/sh": {"/bin/sh", "dash"},
			"/bin/busybox": {"/bin/busybox", "busybox-static"},
			"curl":         {"/usr/bin/curl", "curl"}, "timeout": {"/usr/bin/timeout", "coreutils"},
			"nice": {"/usr/bin/nice", "coreutils"}, "env": {"/usr/bin/env", "coreutils"},
			"sha256sum": {"/usr/bin/sha256sum", "coreutils"}, "find": {"/usr/bin/find", "findutils"},
			"rm": {"/usr/bin/rm", "coreutils"}, "xargs": {"/usr/bin/xargs", "findutils"},
			"wc": {"/usr/bin/wc", "coreutils"}, "tr": {"/usr/bin/tr", "coreutils"},
			"rmdir": {"/usr/bin/rmdir", "coreutils"}, "flock": {"/usr/bin/flock", "util-linux"},
			"cp": {"/usr/bin/cp", "coreutils"}, "cat": {"/usr/bin/cat", "coreutils"},
			"dirname": {"/usr/bin/dirname", "coreutils"}, "sleep": {"/usr/bin/sleep", "coreutils"},
			"setsid": {"/usr/bin/setsid", "util-linux"}, "ls": {"/usr/bin/ls", "coreutils"},
			"ip": {"/usr/bin/ip", "iproute2"}, "nft": {"/usr/sbin/nft", "nftables"},
			// an installed program whose package neither list names
			"/usr/bin/sortd": {"/usr/bin/sortd", "sortd-pkg"},
			// cleanup-tool: not found anywhere
		},
		base:      []string{"coreutils", "findutils", "util-linux", "bash", "dash", "gzip"},
		installed: []string{"nftables", "busybox-static", "runc", "unused-pkg"},
	}
}

func fakeLists() Lists {
	return Lists{
		Image:      set([]string{"git", "curl", "iproute2"}),
		ImagePaths: []string{"/usr/local/go/"},
		Install:    []string{"nftables", "busybox-static", "runc", "unused-pkg"},
		Indirect:   map[string]string{"runc": "containerd runs it"},
	}
}

func TestCheckVerdicts(t *testing.T) {
	calls, busybox, repo := collect(t)
	r := Check(calls, busybox, repo, fakeLists(), fakeMachine())
	var fails, unknown []string
	for _, f := range r.Fail {
		fails = append(fails, f.String())
	}
	for _, f := range r.Unknown {
		unknown = append(unknown, f.String())
	}
	// The command of a package in neither list fails, naming the command, the file, the line
	// and the package.
	// In a busybox script, only applets and builtins exist.
	if len(fails) != 2 || !strings.Contains(fails[0], "scripts/run.sh:15: `/usr/bin/sortd`: comes from package sortd-pkg") ||
		!strings.HasPrefix(fails[1], "vm/init:5: `tc`: not an applet of /bin/busybox") {
		t.Errorf("failures %q, want /usr/bin/sortd of sortd-pkg at scripts/run.sh:15 and tc at vm/init:5", fails)
	}
	if len(unknown) != 1 || !strings.HasPrefix(unknown[0], "scripts/run.sh:20: `cleanup-tool`: unknown") {
		t.Errorf("unknown %q, want cleanup-tool at scripts/run.sh:20", unknown)
	}
	if !slices.Equal(r.Unused, []string{"unused-pkg"}) {
		t.Errorf("unused install packages %v, want [unused-pkg] (runc is marked indirect)", r.Unused)
	}
	if got := strings.Join(r.ByPkg["nftables"], ","); got != "nft" {
		t.Errorf("nftables serves %q, want nft", got)
	}
	if got := strings.Join(r.ByPkg["busybox-static"], ","); !strings.Contains(got, "busybox insmod") || !strings.Contains(got, "/bin/busybox") {
		t.Errorf("busybox-static serves %q, want the init's applets and the interpreter", got)
	}
	var dyns []string
	for _, c := range r.Dynamic {
		dyns = append(dyns, c.where())
	}
	if !slices.Equal(dyns, []string{"scripts/run.sh:25", "scripts/run.sh:26"}) {
		t.Errorf("dynamic command words at %v, want run.sh:25 ($bin/kubectl, no harness here) and :26 ($t)", dyns)
	}
}

func TestRunFailsOnUnlistedCommand(t *testing.T) {
	var out bytes.Buffer
	root, _ := filepath.Abs("testdata/repo")
	sys := fakeMachine()
	lists := t.TempDir()
	image := filepath.Join(lists, "image")
	install := filepath.Join(lists, "install")
	os.WriteFile(image, []byte("git\ncurl\niproute2\npath /usr/local/go/\n"), 0o644)
	os.WriteFile(install, []byte("nftables\nbusybox-static\nrunc  # indirect: containerd runs it\nunused-pkg\n"), 0o644)
	// run reads the files through git: give the fixture a repository of its own.
	dir := copyToGitRepo(t, root)
	if rc := run(&out, dir, image, install, false, sys); rc != 1 {
		t.Fatalf("exit %d, want 1:\n%s", rc, out.String())
	}
	for _, want := range []string{
		"FAIL scripts/run.sh:15: `/usr/bin/sortd`: comes from package sortd-pkg",
		"FAIL scripts/run.sh:20: `cleanup-tool`: unknown",
		"FAIL mk/packages installs unused-pkg",
	} {
		if !strings.Contains(strings.ReplaceAll(out.String(), install, "mk/packages"), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}

	// While packages of the install step are missing (make deps as a user), an unknown
	// command cannot be told from a missing package's: a skip, not a failure. A known
	// package that no list names still fails.
	out.Reset()
	sys.installed = []string{"busybox-static"}
	if rc := run(&out, dir, image, install, false, sys); rc != 1 || !strings.Contains(out.String(), "SKIP 1 commands cannot be placed while mk/packages' nftables runc unused-pkg are not installed") {
		t.Errorf("exit %d, want 1 (sortd-pkg) and a skip for cleanup-tool:\n%s", rc, out.String())
	}
}

// copyToGitRepo copies a fixture into a fresh git repository (run lists files with git).
func copyToGitRepo(t *testing.T, src string) string {
	t.Helper()
	if _, err := exec.LookPath("git"); err != nil {
		t.Skip("git not installed")
	}
	dst := t.TempDir()
	if err := os.CopyFS(dst, os.DirFS(src)); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("git", "-C", dst, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	return dst
}

// TestRealMachine: with dpkg and bash of this machine, a script that calls a command no
// package provides, and one whose package is in neither list, fails with both named.
func TestRealMachine(t *testing.T) {
	if _, err := exec.LookPath("dpkg"); err != nil {
		t.Skip("not a Debian machine (no dpkg)")
	}
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "mk"), 0o755)
	os.WriteFile(filepath.Join(dir, "mk/image-packages"), []byte("# an image without make\ngit\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "mk/packages"), nil, 0o644)
	os.WriteFile(filepath.Join(dir, "check.sh"), []byte("#!/bin/bash\nset -e\ncd /\nmake --version\nkc-no-such-command-19 --now\ncat /dev/null | sort\n"), 0o755)
	if out, err := exec.Command("git", "-C", dir, "init", "-q").CombinedOutput(); err != nil {
		t.Fatalf("git init: %v %s", err, out)
	}
	var out bytes.Buffer
	rc := run(&out, dir, "mk/image-packages", "mk/packages", false, machine{})
	t.Logf("%s", out.String())
	if rc != 1 {
		t.Fatalf("exit %d, want 1", rc)
	}
	if !strings.Contains(out.String(), "FAIL check.sh:5: `kc-no-such-command-19`: unknown") {
		t.Error("the unknown command is not named with its file and line")
	}
	if _, err := exec.LookPath("make"); err == nil && !strings.Contains(out.String(), "FAIL check.sh:4: `make`: comes from package make") {
		t.Error("make, of a package in neither list, is not named")
	}
	for _, ok := range []string{"`cd`", "`set`", "`cat`", "`sort`", "`/bin/bash`"} {
		if strings.Contains(out.String(), ok) {
			t.Errorf("%s (a builtin, or Essential) was reported", ok)
		}
	}
}
