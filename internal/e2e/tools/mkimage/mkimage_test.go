package main

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"debug/elf"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

const ref = "ghcr.io/kubectl-chaos/kubectl-chaos:1.2.3"

// fakeELF is the smallest ELF64 executable header debug/elf reads, for machine m;
// interp adds a PT_INTERP program header (a dynamically linked binary).
func fakeELF(m elf.Machine, interp bool) []byte {
	var b bytes.Buffer
	b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
	phoff, phnum := uint64(0), uint16(0)
	if interp {
		phoff, phnum = 64, 1
	}
	le := binary.LittleEndian
	binary.Write(&b, le, struct {
		Type, Machine uint16
		Version       uint32
		Entry, Phoff  uint64
		Shoff         uint64
		Flags         uint32
		Ehsize        uint16
		Phentsize     uint16
		Phnum         uint16
		Shentsize     uint16
		Shnum, Shstr  uint16
	}{2, uint16(m), 1, 0, phoff, 0, 0, 64, 56, phnum, 64, 0, 0})
	if interp {
		binary.Write(&b, le, elf.Prog64{Type: uint32(elf.PT_INTERP)})
	}
	return b.Bytes()
}

// fakeBins writes dir/linux_<arch>/kubectl-chaos for each arch with the given content.
func fakeBins(t *testing.T, bins map[string][]byte) string {
	t.Helper()
	dir := t.TempDir()
	for arch, b := range bins {
		os.MkdirAll(filepath.Join(dir, "linux_"+arch), 0o755)
		if err := os.WriteFile(filepath.Join(dir, "linux_"+arch, "kubectl-chaos"), b, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func buildIndex(t *testing.T, bins map[string][]byte) (string, error) {
	dir := fakeBins(t, bins)
	out := filepath.Join(dir, "agent.oci.tar")
	return out, run([]string{"-oci", "-arch", "amd64,arm64", "-o", out, "-tag", ref,
		"-file", filepath.Join(dir, "linux_{arch}", "kubectl-chaos") + ":/kubectl-chaos", "-dir", "/tmp:1777", "-entrypoint", "/kubectl-chaos"})
}

func goodBins() map[string][]byte {
	return map[string][]byte{"amd64": fakeELF(elf.EM_X86_64, false), "arm64": fakeELF(elf.EM_AARCH64, false)}
}

// The release's agent image: one OCI archive whose index.json names one image index
// with linux/amd64 and linux/arm64, each image holding its own architecture's binary.
func TestMultiArchIndex(t *testing.T) {
	out, err := buildIndex(t, goodBins())
	if err != nil {
		t.Fatal(err)
	}
	got, err := verifyArchive(out, ref, []string{"amd64", "arm64"})
	if err != nil {
		t.Fatal(err)
	}
	machines := map[string]elf.Machine{}
	for _, p := range got {
		machines[p.Arch] = p.Machine
		if p.Binary != "/kubectl-chaos" || p.Size != int64(len(fakeELF(elf.EM_X86_64, false))) {
			t.Errorf("%s: binary %s %d bytes", p.Arch, p.Binary, p.Size)
		}
	}
	if len(got) != 2 || machines["amd64"] != elf.EM_X86_64 || machines["arm64"] != elf.EM_AARCH64 {
		t.Errorf("platforms %+v", got)
	}
	// The same inputs give the same archive (fixed times and owners): a rebuilt release
	// has the same checksums.
	again, err := buildIndex(t, goodBins())
	if err != nil {
		t.Fatal(err)
	}
	a, _ := os.ReadFile(out)
	b, _ := os.ReadFile(again)
	if !bytes.Equal(a, b) {
		t.Error("two builds from the same inputs differ")
	}
}

// tamper rewrites the archive: edit gets every file by name and may change them.
func tamper(t *testing.T, file string, edit func(files map[string][]byte)) {
	t.Helper()
	files, err := readTar(file)
	if err != nil {
		t.Fatal(err)
	}
	edit(files)
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for name, b := range files {
		tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(b))})
		tw.Write(b)
	}
	tw.Close()
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// nestedIndex returns the name of the image index blob index.json points to.
func nestedIndex(t *testing.T, files map[string][]byte) string {
	var top v1.IndexManifest
	if err := json.Unmarshal(files["index.json"], &top); err != nil || len(top.Manifests) != 1 {
		t.Fatalf("index.json: %v %s", err, files["index.json"])
	}
	return "blobs/sha256/" + top.Manifests[0].Digest.Hex
}

// The check catches what a broken release would hold, each with its own reason.
func TestVerifyRefusesBrokenArchives(t *testing.T) {
	cases := []struct {
		name  string
		bins  map[string][]byte
		edit  func(t *testing.T, files map[string][]byte)
		archs []string
		tag   string
		want  string
	}{
		{name: "a layer byte flipped", edit: func(t *testing.T, f map[string][]byte) {
			for n, b := range f {
				if strings.HasPrefix(n, "blobs/") && len(b) > 20 && b[0] == 0x1f && b[1] == 0x8b { // a gzip layer
					b[len(b)/2] ^= 0xff
					return
				}
			}
			t.Fatal("no layer blob")
		}, want: "content digest"},
		{name: "a blob truncated", edit: func(t *testing.T, f map[string][]byte) {
			n := nestedIndex(t, f)
			f[n] = f[n][:len(f[n])-1]
		}, want: "bytes, its descriptor says"},
		{name: "platforms swapped in the index, digest fixed up", edit: func(t *testing.T, f map[string][]byte) {
			n := nestedIndex(t, f)
			b := bytes.ReplaceAll(f[n], []byte(`"amd64"`), []byte(`"XX"`))
			b = bytes.ReplaceAll(b, []byte(`"arm64"`), []byte(`"amd64"`))
			b = bytes.ReplaceAll(b, []byte(`"XX"`), []byte(`"arm64"`))
			sum := sha256.Sum256(b)
			f["blobs/sha256/"+hex.EncodeToString(sum[:])] = b
			old := strings.TrimPrefix(n, "blobs/sha256/")
			f["index.json"] = bytes.Replace(f["index.json"], []byte(old), []byte(hex.EncodeToString(sum[:])), 1)
		}, want: "config says linux/"},
		{name: "an arm64 image without an ELF binary", bins: map[string][]byte{"amd64": fakeELF(elf.EM_X86_64, false), "arm64": []byte("#!/bin/sh\n")}, want: "linux/arm64: /kubectl-chaos"},
		{name: "a dynamically linked binary", bins: map[string][]byte{"amd64": fakeELF(elf.EM_X86_64, true), "arm64": fakeELF(elf.EM_AARCH64, false)}, want: "dynamically linked"},
		{name: "a platform missing", archs: []string{"amd64", "arm64", "riscv64"}, want: "platforms [linux/amd64 linux/arm64], want"},
		{name: "another tag", tag: "ghcr.io/kubectl-chaos/kubectl-chaos:9.9.9", want: "index.json names no"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bins, archs, tag := c.bins, c.archs, c.tag
			if bins == nil {
				bins = goodBins()
			}
			if archs == nil {
				archs = []string{"amd64", "arm64"}
			}
			if tag == "" {
				tag = ref
			}
			out, err := buildIndex(t, bins)
			if err != nil {
				t.Fatal(err)
			}
			if c.edit != nil {
				tamper(t, out, func(f map[string][]byte) { c.edit(t, f) })
			}
			_, err = verifyArchive(out, tag, archs)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("verify: %v, want an error with %q", err, c.want)
			}
		})
	}
}

// Bad flags are refused, naming the flag and what it accepts, and nothing is written.
func TestBadFlagsWriteNothing(t *testing.T) {
	dir := fakeBins(t, map[string][]byte{"amd64": fakeELF(elf.EM_X86_64, false), "arm64": fakeELF(elf.EM_AARCH64, false)})
	src := filepath.Join(dir, "linux_{arch}", "kubectl-chaos") + ":/kubectl-chaos"
	out := filepath.Join(dir, "out.tar")
	cases := []struct {
		args []string
		want string
	}{
		{[]string{"-arch", "mips"}, `-arch "mips": want a comma separated list of 386, amd64, arm, arm64, ppc64le, riscv64, s390x`},
		{[]string{"-arch", "amd64,amd64", "-oci"}, "amd64 twice"},
		{[]string{"-arch", "amd64,arm64"}, "several architectures need -oci"},
		{[]string{"-arch", "arm64", "-file", filepath.Join(dir, "linux_amd64", "kubectl-chaos") + ":/x"}, "ELF for EM_X86_64, but the image is -arch arm64"},
		{[]string{"-tag", "UPPER:case:x"}, "-tag"},
	}
	for _, c := range cases {
		args := append([]string{"-o", out, "-tag", ref, "-file", src}, c.args...)
		err := run(args)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want %q", c.args, err, c.want)
		}
		if _, serr := os.Stat(out); serr == nil {
			t.Errorf("%v: wrote %s", c.args, out)
		}
		if _, serr := os.Stat(out + ".tmp"); serr == nil {
			t.Errorf("%v: left %s.tmp", c.args, out)
		}
	}
}

// The e2e cluster's path is unchanged: one architecture without -oci is a
// docker-archive of an amd64 image named ref.
func TestDockerArchiveUnchanged(t *testing.T) {
	dir := fakeBins(t, map[string][]byte{"amd64": fakeELF(elf.EM_X86_64, false)})
	out := filepath.Join(dir, "agent.tar")
	if err := run([]string{"-o", out, "-tag", ref, "-file", filepath.Join(dir, "linux_amd64", "kubectl-chaos") + ":/kubectl-chaos", "-entrypoint", "/kubectl-chaos"}); err != nil {
		t.Fatal(err)
	}
	tag, _ := nameTag(ref)
	img, err := tarball.ImageFromPath(out, &tag)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := img.ConfigFile()
	if err != nil || cfg.Architecture != "amd64" || cfg.OS != "linux" || cfg.Config.Entrypoint[0] != "/kubectl-chaos" {
		t.Fatalf("config %+v %v", cfg, err)
	}
	if mt, _ := img.MediaType(); !strings.Contains(string(mt), "docker") {
		t.Errorf("media type %s, want Docker's (what the e2e import has always read)", mt)
	}
}

func nameTag(s string) (name.Tag, error) { return name.NewTag(s, name.WeakValidation) }
