package release

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"sigs.k8s.io/yaml"
)

type manifest struct {
	APIVersion string `json:"apiVersion"`
	Kind       string `json:"kind"`
	Metadata   struct {
		Name string `json:"name"`
	} `json:"metadata"`
	Spec struct {
		Version          string `json:"version"`
		Homepage         string `json:"homepage"`
		ShortDescription string `json:"shortDescription"`
		Description      string `json:"description"`
		Caveats          string `json:"caveats"`
		Platforms        []struct {
			Selector struct {
				MatchLabels map[string]string `json:"matchLabels"`
			} `json:"selector"`
			URI    string `json:"uri"`
			Sha256 string `json:"sha256"`
			Bin    string `json:"bin"`
		} `json:"platforms"`
	} `json:"spec"`
}

type goreleaser struct {
	Builds   []build   `json:"builds"`
	Archives []archive `json:"archives"`
}

type archive struct {
	NameTemplate    string   `json:"name_template"`
	Formats         []string `json:"formats"`
	FormatOverrides []struct {
		Goos    string   `json:"goos"`
		Formats []string `json:"formats"`
	} `json:"format_overrides"`
}

func root(t *testing.T) string {
	t.Helper()
	dir, _ := os.Getwd()
	for ; dir != "/"; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
	}
	t.Fatal("no go.mod above the test")
	return ""
}

// The krew manifest, filled in as a release fills it, is what krew accepts (the fields
// and rules of krew's validation: name, semver version, one platform per os/arch with
// an https URI to an archive of that platform and a sha256, bin) and matches the
// archives .goreleaser.yaml builds, platform by platform.
func TestKrewManifestMatchesTheRelease(t *testing.T) {
	dir := root(t)
	raw, err := os.ReadFile(filepath.Join(dir, "krew", "chaos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	filled := strings.ReplaceAll(string(raw), "VERSION", "1.2.3")
	filled = regexp.MustCompile(`SHA256_\w+`).ReplaceAllString(filled, strings.Repeat("ab", 32))
	checkManifest(t, readManifest(t, []byte(filled)), readGoreleaser(t, dir), "1.2.3")
}

func readManifest(t *testing.T, raw []byte) manifest {
	t.Helper()
	var m manifest
	if err := yaml.UnmarshalStrict(raw, &m); err != nil {
		t.Fatalf("krew manifest: %v", err)
	}
	return m
}

func readGoreleaser(t *testing.T, dir string) goreleaser {
	t.Helper()
	var g goreleaser
	graw, err := os.ReadFile(filepath.Join(dir, ".goreleaser.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(graw, &g); err != nil {
		t.Fatalf(".goreleaser.yaml: %v", err)
	}
	return g
}

// checkManifest checks m, the manifest of release version, against krew's rules and
// the archives and binary g builds.
func checkManifest(t *testing.T, m manifest, g goreleaser, version string) {
	t.Helper()
	if m.APIVersion != "krew.googlecontainertools.github.com/v1alpha2" || m.Kind != "Plugin" {
		t.Errorf("apiVersion/kind: %s %s", m.APIVersion, m.Kind)
	}
	// The plugin name is the command (kubectl chaos): it lives in our own index, since
	// "chaos" is taken in krew's central one.
	if m.Metadata.Name != "chaos" {
		t.Errorf("name %q, want chaos (the command is kubectl chaos)", m.Metadata.Name)
	}
	if !regexp.MustCompile(`^v\d+\.\d+\.\d+(-[0-9A-Za-z.-]+)?$`).MatchString(m.Spec.Version) || m.Spec.Version != "v"+version {
		t.Errorf("version %q is not v-prefixed semver v%s", m.Spec.Version, version)
	}
	if m.Spec.ShortDescription == "" || len(m.Spec.ShortDescription) > 255 || !strings.HasPrefix(m.Spec.Homepage, "https://") {
		t.Errorf("shortDescription/homepage: %q %q", m.Spec.ShortDescription, m.Spec.Homepage)
	}
	cli := cliBuild(t, g)
	ar := g.Archives[0]
	seen := map[string]bool{}
	for _, p := range m.Spec.Platforms {
		os, arch := p.Selector.MatchLabels["os"], p.Selector.MatchLabels["arch"]
		key := os + "/" + arch
		if seen[key] {
			t.Errorf("platform %s twice", key)
		}
		seen[key] = true
		if !slices.Contains(cli.Goos, os) || !slices.Contains(cli.Goarch, arch) {
			t.Errorf("platform %s is not built by .goreleaser.yaml", key)
		}
		want := "https://github.com/kubectl-chaos/kubectl-chaos/releases/download/v" + version + "/" + archiveName(ar, version, os, arch)
		if p.URI != want {
			t.Errorf("%s: uri %s, want %s (the archive .goreleaser.yaml names)", key, p.URI, want)
		}
		if !regexp.MustCompile(`^[0-9a-f]{64}$`).MatchString(p.Sha256) {
			t.Errorf("%s: sha256 %q", key, p.Sha256)
		}
		if bin := binName(cli.Binary, os); p.Bin != bin {
			t.Errorf("%s: bin %q, want %q", key, p.Bin, bin)
		}
	}
	for _, os := range cli.Goos {
		for _, arch := range cli.Goarch {
			if !seen[os+"/"+arch] {
				t.Errorf("the release builds %s/%s but the krew manifest lacks it", os, arch)
			}
		}
	}
}

type build = struct {
	ID     string   `json:"id"`
	Binary string   `json:"binary"`
	Goos   []string `json:"goos"`
	Goarch []string `json:"goarch"`
}

func cliBuild(t *testing.T, g goreleaser) *build {
	t.Helper()
	for i := range g.Builds {
		if g.Builds[i].ID == "cli" && len(g.Archives) == 1 {
			return &g.Builds[i]
		}
	}
	t.Fatalf(".goreleaser.yaml: want a build with id cli and one archive: %+v", g)
	return nil
}

// archiveName is the file name .goreleaser.yaml gives the os/arch archive of version.
func archiveName(ar archive, version, os, arch string) string {
	format := ar.Formats[0]
	for _, o := range ar.FormatOverrides {
		if o.Goos == os {
			format = o.Formats[0]
		}
	}
	return strings.NewReplacer("{{ .ProjectName }}", "kubectl-chaos", "{{ .Version }}", version, "{{ .Os }}", os, "{{ .Arch }}", arch).Replace(ar.NameTemplate) + "." + format
}

func binName(binary, os string) string {
	if os == "windows" {
		return binary + ".exe"
	}
	return binary
}
