package main

import (
	"debug/elf"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"
)

func TestPackageOf(t *testing.T) {
	for sym, want := range map[string]string{
		"k8s.io/api/core/v1.(*Pod).Marshal":                           "k8s.io/api/core/v1",
		"k8s.io/api/core/v1.init":                                     "k8s.io/api/core/v1",
		"runtime.mallocgc":                                            "runtime",
		"main.main":                                                   "main",
		"net/http.(*Transport).roundTrip.func3":                       "net/http",
		"github.com/spf13/cobra.(*Command).Execute":                   "github.com/spf13/cobra",
		"gopkg.in/yaml.v3.(*parser).parse":                            "gopkg.in/yaml.v3",
		"go.yaml.in/yaml/v3.Unmarshal":                                "go.yaml.in/yaml/v3",
		"github.com/rivo/uniseg..stmp_3":                              "github.com/rivo/uniseg",
		"slices.SortFunc[go.shape.[]string,go.shape.string]":          "slices",
		"k8s.io/client-go/gentype.(*Client[go.shape.*uint8]).Get":     "k8s.io/client-go/gentype",
		"type:*k8s.io/api/core/v1.Pod":                                "k8s.io/api/core/v1",
		"type:[]*github.com/vishvananda/netlink.Route":                "github.com/vishvananda/netlink",
		"type:[4]net/netip.Addr":                                      "net/netip",
		"type:map[string]interface {}":                                "(unnamed types)",
		"type:JQpnZ7g6":                                               "(unnamed types)",
		"type:func(context.Context) error":                            "(unnamed types)",
		"go:itab.*github.com/google/nftables.Conn,io.Closer":          "github.com/google/nftables",
		"go:string.\"hello\"":                                         "(go: strings, func values, build info)",
		"go:func.*":                                                   "(go: strings, func values, build info)",
		"_rt0_amd64_linux":                                            "(no package)",
		"crypto/internal/fips140/nistec.p256PrecomputedEmbed":         "crypto/internal/fips140/nistec",
		"github.com/containerd/containerd/api/services/tasks/v1.init": "github.com/containerd/containerd/api/services/tasks/v1",
	} {
		if got := PackageOf(sym); got != want {
			t.Errorf("PackageOf(%q) = %q, want %q", sym, got, want)
		}
	}
}

func TestModuleOf(t *testing.T) {
	mods := []string{"k8s.io/api", "k8s.io/apimachinery", "github.com/containerd/containerd/api",
		"github.com/containerd/containerd/v2", "github.com/kubectl-chaos/kubectl-chaos"}
	for pkg, want := range map[string]string{
		"k8s.io/api/core/v1":                                     "k8s.io/api",
		"k8s.io/apimachinery/pkg/runtime":                        "k8s.io/apimachinery",
		"github.com/containerd/containerd/api/services/tasks/v1": "github.com/containerd/containerd/api",
		"github.com/containerd/containerd/v2/client":             "github.com/containerd/containerd/v2",
		"github.com/kubectl-chaos/kubectl-chaos/internal/agent":  "github.com/kubectl-chaos/kubectl-chaos",
		"net/http":               "std",
		"main":                   "std",
		"(unnamed types)":        "(unnamed types)",
		"example.com/not/listed": "example.com/not/listed",
		"k8s.io/apiserver/pkg/x":/* a prefix, not a parent */ "k8s.io/apiserver/pkg/x",
	} {
		if got := ModuleOf(pkg, mods); got != want {
			t.Errorf("ModuleOf(%q) = %q, want %q", pkg, got, want)
		}
	}
}

func TestAggregate(t *testing.T) {
	syms := []Symbol{
		{"k8s.io/api/core/v1.(*Pod).Marshal", 100},
		{"type:*k8s.io/api/core/v1.Pod", 50},
		{"runtime.mallocgc", 120},
		{"net/http.Get", 30},
		{"net/url.Parse", 30},
		{"type:map[string]int", 7},
	}
	got := Aggregate(syms, PackageOf)
	want := []Entry{{"k8s.io/api/core/v1", 150}, {"runtime", 120}, {"net/http", 30}, {"net/url", 30}, {"(unnamed types)", 7}}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("by package:\n got %v\nwant %v", got, want)
	}
	byMod := Aggregate(syms, func(n string) string { return ModuleOf(PackageOf(n), []string{"k8s.io/api"}) })
	wantMod := []Entry{{"std", 180}, {"k8s.io/api", 150}, {"(unnamed types)", 7}}
	if !reflect.DeepEqual(byMod, wantMod) {
		t.Errorf("by module:\n got %v\nwant %v", byMod, wantMod)
	}
}

// TestELFSymbolsOfRealBinaries links two small programs: one that executes a template
// (the linker must keep every exported method) and one that does not. The symbols read
// back must attribute the template code to text/template, count each symbol once (no
// "local." twins), and KeepsAllMethods must tell the two apart.
func TestELFSymbolsOfRealBinaries(t *testing.T) {
	if testing.Short() {
		t.Skip("links two programs; skipped with -short")
	}
	plain := buildProgram(t, "plain", `package main

import "fmt"

func main() { fmt.Println("hi") }
`)
	tmpl := buildProgram(t, "tmpl", `package main

import (
	"os"
	"text/template"
)

func main() { template.Must(template.New("t").Parse("{{.Name}}\n")).Execute(os.Stdout, os.Args) }
`)
	for _, c := range []struct {
		bin       string
		keepsAll  bool
		templates bool
	}{{plain, false, false}, {tmpl, true, true}} {
		f, err := elf.Open(c.bin)
		if err != nil {
			t.Fatal(err)
		}
		syms, err := ELFSymbols(f)
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		seen := map[string]bool{}
		for _, s := range syms {
			if seen[s.Name] && !isMultiName(s.Name) {
				t.Errorf("%s: symbol %s counted twice", filepath.Base(c.bin), s.Name)
			}
			seen[s.Name] = true
		}
		var tt int64
		for _, e := range Aggregate(syms, PackageOf) {
			if e.Name == "text/template" {
				tt = e.Bytes
			}
		}
		if got := KeepsAllMethods(syms); got != c.keepsAll {
			t.Errorf("%s: KeepsAllMethods = %v, want %v", filepath.Base(c.bin), got, c.keepsAll)
		}
		if (tt > 0) != c.templates {
			t.Errorf("%s: text/template has %d bytes", filepath.Base(c.bin), tt)
		}
		t.Logf("%s: %d symbols, text/template %d bytes", filepath.Base(c.bin), len(syms), tt)
	}
}

// isMultiName: names the linker gives several symbols (static data of assembly files).
func isMultiName(n string) bool { return PackageOf(n) == "(no package)" }

func buildProgram(t *testing.T, name, src string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "main.go"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.com/"+name+"\n\ngo 1.22\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, name)
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-w", "-o", bin, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOFLAGS=-mod=mod", "GOWORK=off")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", name, err, out)
	}
	return bin
}
