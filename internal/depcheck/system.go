package main

import (
	"bufio"
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// machine is the System of this Debian machine: bash for the builtins, dpkg for owners.
type machine struct{}

func (m machine) Builtins() map[string]bool {
	out, err := exec.Command("bash", "-c", "compgen -b; compgen -k").Output()
	set := map[string]bool{}
	if err != nil {
		return set
	}
	for _, w := range strings.Fields(string(out)) {
		set[w] = true
	}
	return set
}

func (m machine) Applets(busybox string) (map[string]bool, string) {
	set := map[string]bool{}
	out, err := exec.Command(busybox, "--list").Output()
	if err != nil {
		return set, ""
	}
	for _, w := range strings.Fields(string(out)) {
		set[w] = true
	}
	return set, m.Resolve([]string{busybox})[busybox].Package
}

// searchDirs: PATH, then the sbin directories a root shell has (and `make` as a user may not).
func searchDirs() []string {
	dirs := filepath.SplitList(os.Getenv("PATH"))
	return append(dirs, "/usr/local/sbin", "/usr/sbin", "/sbin")
}

func executable(p string) bool {
	st, err := os.Stat(p)
	return err == nil && !st.IsDir() && st.Mode()&0o111 != 0
}

// Resolve: each command's path, then dpkg -S on the path, the file it links to and their
// twins across the /usr merge (dpkg knows /bin/bash, PATH finds /usr/bin/bash), in one call.
func (m machine) Resolve(cmds []string) map[string]Resolved {
	res := map[string]Resolved{}
	cands := map[string][]string{}
	var all []string
	for _, c := range cmds {
		p := ""
		if strings.HasPrefix(c, "/") {
			if executable(c) {
				p = c
			}
		} else {
			for _, d := range searchDirs() {
				if d != "" && executable(filepath.Join(d, c)) {
					p = filepath.Join(d, c)
					break
				}
			}
		}
		if p == "" {
			res[c] = Resolved{}
			continue
		}
		res[c] = Resolved{Path: p}
		ps := []string{p}
		if real, err := filepath.EvalSymlinks(p); err == nil && real != p {
			ps = append(ps, real)
		}
		for _, q := range ps {
			for _, v := range usrMerge(q) {
				cands[c] = append(cands[c], v)
				all = append(all, v)
			}
		}
	}
	owner := dpkgS(all)
	for c, ps := range cands {
		for _, p := range ps {
			if pkg := owner[p]; pkg != "" {
				r := res[c]
				r.Package = pkg
				res[c] = r
				break
			}
		}
	}
	return res
}

// usrMerge: /usr/bin/x and /bin/x (and sbin) name the same file on Debian 12.
func usrMerge(p string) []string {
	out := []string{p}
	for _, d := range []string{"/bin/", "/sbin/", "/lib/"} {
		if rest, ok := strings.CutPrefix(p, "/usr"+d); ok {
			out = append(out, d+rest)
		} else if rest, ok := strings.CutPrefix(p, d); ok {
			out = append(out, "/usr"+d+rest)
		}
	}
	return out
}

// dpkgS maps paths to the package owning them ("pkg:arch, other: /path" lines).
func dpkgS(paths []string) map[string]string {
	owner := map[string]string{}
	if len(paths) == 0 {
		return owner
	}
	out, _ := exec.Command("dpkg", append([]string{"-S"}, paths...)...).Output() // exit 1 when one is unowned
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "diversion by") {
			continue
		}
		i := strings.LastIndex(l, ": ")
		if i < 0 {
			continue
		}
		pkg, p := l[:i], l[i+2:]
		pkg, _, _ = strings.Cut(pkg, ",")
		pkg, _, _ = strings.Cut(pkg, ":")
		if owner[p] == "" {
			owner[p] = strings.TrimSpace(pkg)
		}
	}
	return owner
}

func (m machine) Base(pkgs []string) map[string]bool {
	set := map[string]bool{}
	for p, f := range dpkgQuery(pkgs, "${Essential} ${Priority}") {
		set[p] = strings.HasPrefix(f, "yes ") || strings.HasSuffix(f, " required")
	}
	return set
}

func (m machine) Installed(pkgs []string) map[string]bool {
	set := map[string]bool{}
	for p, f := range dpkgQuery(pkgs, "${db:Status-Abbrev}") {
		set[p] = strings.HasPrefix(f, "ii")
	}
	return set
}

// dpkgQuery: package -> the formatted fields, for the packages dpkg knows.
func dpkgQuery(pkgs []string, format string) map[string]string {
	res := map[string]string{}
	if len(pkgs) == 0 {
		return res
	}
	out, _ := exec.Command("dpkg-query", append([]string{"-W", "-f", "${Package}\t" + format + "\n"}, pkgs...)...).Output()
	for _, l := range strings.Split(string(out), "\n") {
		if p, f, ok := strings.Cut(l, "\t"); ok {
			res[p] = f
		}
	}
	return res
}
