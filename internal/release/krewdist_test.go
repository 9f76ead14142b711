package release

import (
	"archive/tar"
	"archive/zip"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"debug/macho"
	"debug/pe"
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// fakeExe is the smallest header debug/elf, debug/macho or debug/pe reads as an
// executable of os/arch: enough for platformOf, no real binary to build.
func fakeExe(t *testing.T, os, arch string) []byte {
	t.Helper()
	var b bytes.Buffer
	le := binary.LittleEndian
	switch os {
	case "linux":
		m := map[string]elf.Machine{"amd64": elf.EM_X86_64, "arm64": elf.EM_AARCH64}[arch]
		b.Write([]byte{0x7f, 'E', 'L', 'F', 2, 1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0})
		binary.Write(&b, le, struct {
			Type, Machine       uint16
			Version             uint32
			Entry, Phoff, Shoff uint64
			Flags               uint32
			Ehsize, Phentsize   uint16
			Phnum, Shentsize    uint16
			Shnum, Shstrndx     uint16
		}{2, uint16(m), 1, 0, 0, 0, 0, 64, 56, 0, 64, 0, 0})
	case "darwin":
		cpu := map[string]macho.Cpu{"amd64": macho.CpuAmd64, "arm64": macho.CpuArm64}[arch]
		binary.Write(&b, le, macho.FileHeader{Magic: macho.Magic64, Cpu: cpu, Type: macho.TypeExec})
		b.Write(make([]byte, 4)) // the 64-bit header's reserved word
	case "windows":
		m := map[string]uint16{"amd64": pe.IMAGE_FILE_MACHINE_AMD64, "arm64": pe.IMAGE_FILE_MACHINE_ARM64}[arch]
		dos := make([]byte, 64)
		copy(dos, "MZ")
		le.PutUint32(dos[0x3c:], 64)
		b.Write(dos)
		b.WriteString("PE\x00\x00")
		binary.Write(&b, le, pe.FileHeader{Machine: m, Characteristics: 2})
		b.Write(make([]byte, 32)) // debug/pe reads 96 bytes of DOS header first
	}
	return b.Bytes()
}

// writeArchive writes dir/name, a tar.gz or (.zip) a zip holding bin at its root.
func writeArchive(t *testing.T, dir, name, bin string, mode int64, content []byte) {
	t.Helper()
	var buf bytes.Buffer
	if strings.HasSuffix(name, ".zip") {
		zw := zip.NewWriter(&buf)
		w, err := zw.Create(bin)
		if err == nil {
			_, err = w.Write(content)
		}
		if err != nil || zw.Close() != nil {
			t.Fatal(err)
		}
	} else {
		gz := gzip.NewWriter(&buf)
		tw := tar.NewWriter(gz)
		for _, f := range []struct {
			name string
			mode int64
			data []byte
		}{{"README.md", 0o644, []byte("readme\n")}, {bin, mode, content}} {
			if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: f.name, Mode: f.mode, Size: int64(len(f.data))}); err != nil {
				t.Fatal(err)
			}
			tw.Write(f.data)
		}
		if tw.Close() != nil || gz.Close() != nil {
			t.Fatal("tar.gz")
		}
	}
	if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeChecksums writes dir/checksums.txt over the archives, as goreleaser does.
func writeChecksums(t *testing.T, dir string) {
	t.Helper()
	names, _ := filepath.Glob(filepath.Join(dir, "kubectl-chaos_*"))
	var lines []string
	for _, n := range names {
		data, _ := os.ReadFile(n)
		lines = append(lines, fmt.Sprintf("%x  %s", sha256.Sum256(data), filepath.Base(n)))
	}
	if err := os.WriteFile(filepath.Join(dir, "checksums.txt"), []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

// fakeDist is a dist/ as a release of version writes it, with tiny archives; swap
// puts another platform's executable into one platform's archive.
func fakeDist(t *testing.T, version string, swap map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "metadata.json"), []byte(`{"project_name":"kubectl-chaos","version":"`+version+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, osName := range []string{"linux", "darwin", "windows"} {
		for _, arch := range []string{"amd64", "arm64"} {
			name, bin := "kubectl-chaos_"+version+"_"+osName+"_"+arch+".tar.gz", "kubectl-chaos"
			if osName == "windows" {
				name, bin = strings.TrimSuffix(name, ".tar.gz")+".zip", bin+".exe"
			}
			exeOS, exeArch := osName, arch
			if s, ok := swap[osName+"/"+arch]; ok {
				exeOS, exeArch, _ = strings.Cut(s, "/")
			}
			writeArchive(t, dir, name, bin, 0o755, fakeExe(t, exeOS, exeArch))
		}
	}
	writeChecksums(t, dir)
	return dir
}

// krewManifest runs mk/krew-manifest.sh on dist and reads the manifest it wrote.
func krewManifest(t *testing.T, dist string) (manifest, error) {
	t.Helper()
	cmd := exec.Command("bash", "mk/krew-manifest.sh", dist)
	cmd.Dir = root(t)
	if out, err := cmd.CombinedOutput(); err != nil {
		return manifest{}, fmt.Errorf("%v: %s", err, out)
	}
	raw, err := os.ReadFile(filepath.Join(dist, "krew", "chaos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return readManifest(t, raw), nil
}

// What release-verify.sh runs after a snapshot, on a dist/ made here: the manifest
// mk/krew-manifest.sh writes passes the checks of TestKrewManifestOfTheSnapshot, and
// those checks fail on an archive changed after checksums.txt, on an archive holding
// another platform's binary, and the script refuses a checksums.txt without a platform.
func TestKrewManifestFromADist(t *testing.T) {
	const version = "1.2.3-snapshot.abc1234"
	g := readGoreleaser(t, root(t))

	dist := fakeDist(t, version, nil)
	m, err := krewManifest(t, dist)
	if err != nil {
		t.Fatal(err)
	}
	checkManifest(t, m, g, version)
	if errs := archiveErrors(dist, m); len(errs) != 0 {
		t.Fatalf("a consistent dist: %v", errs)
	}

	// an archive rebuilt after the manifest was written
	writeArchive(t, dist, "kubectl-chaos_"+version+"_linux_arm64.tar.gz", "kubectl-chaos", 0o755, append(fakeExe(t, "linux", "arm64"), 0))
	wantErrs(t, archiveErrors(dist, m), "linux/arm64: sha256")

	// the darwin/arm64 archive holds the darwin/amd64 binary, checksums agree with it
	dist = fakeDist(t, version, map[string]string{"darwin/arm64": "darwin/amd64"})
	if m, err = krewManifest(t, dist); err != nil {
		t.Fatal(err)
	}
	wantErrs(t, archiveErrors(dist, m), `darwin/arm64: kubectl-chaos in `+dist+`/kubectl-chaos_`+version+`_darwin_arm64.tar.gz is a "darwin/amd64" binary`)

	// a bin that is not executable
	writeArchive(t, dist, "kubectl-chaos_"+version+"_linux_amd64.tar.gz", "kubectl-chaos", 0o644, fakeExe(t, "linux", "amd64"))
	writeChecksums(t, dist)
	if m, err = krewManifest(t, dist); err != nil {
		t.Fatal(err)
	}
	wantErrs(t, archiveErrors(dist, m), "linux/amd64: "+dist+"/kubectl-chaos_"+version+"_linux_amd64.tar.gz: kubectl-chaos is not an executable file", "darwin/arm64:")

	// checksums.txt without the windows/arm64 archive
	os.Remove(filepath.Join(dist, "kubectl-chaos_"+version+"_windows_arm64.zip"))
	writeChecksums(t, dist)
	if _, err := krewManifest(t, dist); err == nil || !strings.Contains(err.Error(), "no sha256 of kubectl-chaos_"+version+"_windows_arm64.zip in") {
		t.Errorf("krew-manifest.sh without a windows/arm64 archive: %v", err)
	}
}

// wantErrs fails unless errs are exactly one error per prefix, in order.
func wantErrs(t *testing.T, errs []error, prefixes ...string) {
	t.Helper()
	if len(errs) != len(prefixes) {
		t.Fatalf("got %d errors %v, want %d: %q", len(errs), errs, len(prefixes), prefixes)
	}
	for i, err := range errs {
		if !strings.HasPrefix(err.Error(), prefixes[i]) {
			t.Errorf("error %q, want it to start with %q", err, prefixes[i])
		}
	}
}
