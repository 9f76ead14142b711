package release

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

// makeVar is the value of `NAME := value` (or ?=) in a Makefile fragment.
func makeVar(t *testing.T, text, name string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^` + name + ` *[:?]?= *(.*)$`).FindStringSubmatch(text)
	if m == nil {
		t.Fatalf("no %s in the Makefile", name)
	}
	return strings.TrimSpace(m[1])
}

// The agent image's binaries are built by `make release-image` (goreleaser's before
// hook) and the CLI's by goreleaser: both must use the same flags, ldflags, version
// and commit, or the image would hold another binary than the linux CLI archives
// (mk/release-verify.sh compares the bytes after a snapshot; this catches the drift
// in make test, without a build). And the image archive release-image writes is the
// one checksums.txt covers.
func TestGoreleaserBuildsWhatTheMakefileBuilds(t *testing.T) {
	dir := root(t)
	read := func(name string) string {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	var g struct {
		Before struct{ Hooks []string } `json:"before"`
		Builds []struct {
			ID      string   `json:"id"`
			Flags   []string `json:"flags"`
			Ldflags []string `json:"ldflags"`
			Env     []string `json:"env"`
		} `json:"builds"`
		Checksum struct {
			ExtraFiles []struct{ Glob string } `json:"extra_files"`
		} `json:"checksum"`
	}
	if err := yaml.Unmarshal([]byte(read(".goreleaser.yaml")), &g); err != nil {
		t.Fatal(err)
	}
	mk, rel := read("Makefile"), read("mk/release.mk")
	if len(g.Builds) != 1 || g.Builds[0].ID != "cli" || len(g.Builds[0].Ldflags) != 1 {
		t.Fatalf(".goreleaser.yaml: want one build, cli, with one ldflags line: %+v", g.Builds)
	}
	b := g.Builds[0]
	sub := strings.NewReplacer("{{ .Version }}", "1.2.3", "{{ .ShortCommit }}", "abc1234")
	wantLd := strings.NewReplacer("$(PKG)", makeVar(t, mk, "PKG"), "$(VERSION)", "1.2.3", "$(COMMIT)", "abc1234").Replace(makeVar(t, mk, "LDFLAGS"))
	if got := sub.Replace(b.Ldflags[0]); got != wantLd {
		t.Errorf("goreleaser ldflags\n  %s\nMakefile LDFLAGS\n  %s", got, wantLd)
	}
	if want := []string{"-trimpath", "-tags=" + makeVar(t, mk, "TAGS")}; strings.Join(b.Flags, " ") != strings.Join(want, " ") {
		t.Errorf("goreleaser flags %v, the Makefile builds with %v", b.Flags, want)
	}
	if strings.Join(b.Env, " ") != "CGO_ENABLED=0" || !strings.Contains(mk, "export CGO_ENABLED := 0") {
		t.Errorf("CGO_ENABLED differs: goreleaser %v", b.Env)
	}
	if len(g.Before.Hooks) != 1 || g.Before.Hooks[0] != "make release-image VERSION={{ .Version }} COMMIT={{ .ShortCommit }}" {
		t.Errorf("before hooks %q: want make release-image with goreleaser's version and commit", g.Before.Hooks)
	}
	archive := makeVar(t, rel, "RELEASE_OUT") + "/kubectl-chaos-agent_{{ .Version }}.oci.tar"
	if !strings.Contains(rel, "-o $(RELEASE_OUT)/kubectl-chaos-agent_$(VERSION).oci.tar") {
		t.Error("mk/release.mk: release-image no longer writes $(RELEASE_OUT)/kubectl-chaos-agent_$(VERSION).oci.tar")
	}
	if len(g.Checksum.ExtraFiles) != 1 || g.Checksum.ExtraFiles[0].Glob != archive {
		t.Errorf("checksum extra_files %+v, want %s", g.Checksum.ExtraFiles, archive)
	}
}
