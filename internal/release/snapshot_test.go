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
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"testing"
)

// The krew manifest of a real release: mk/krew-manifest.sh fills krew/chaos.yaml from a
// built dist/ (`make release-snapshot` runs it and then this test, through
// mk/release-verify.sh, with KC_RELEASE_DIST=dist). Beyond the template test's rules:
// every platform's sha256 is the sha256 of the archive its URI names, computed here
// from the file (not copied from checksums.txt), and that archive holds the manifest's
// bin at its root, an executable for that os/arch. Skipped without KC_RELEASE_DIST:
// `make test` builds no release (CI's budget), so there is no dist/ to read.
func TestKrewManifestOfTheSnapshot(t *testing.T) {
	dist := os.Getenv("KC_RELEASE_DIST")
	if dist == "" {
		t.Skip("KC_RELEASE_DIST is not set: no release to check (mk/release-verify.sh sets it)")
	}
	var meta struct{ Version string }
	raw, err := os.ReadFile(filepath.Join(dist, "metadata.json"))
	if err == nil {
		err = json.Unmarshal(raw, &meta)
	}
	if err != nil || meta.Version == "" {
		t.Fatalf("%s/metadata.json: no version (%v)", dist, err)
	}
	raw, err = os.ReadFile(filepath.Join(dist, "krew", "chaos.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	m := readManifest(t, raw)
	checkManifest(t, m, readGoreleaser(t, root(t)), meta.Version)
	for _, err := range archiveErrors(dist, m) {
		t.Error(err)
	}
}

// archiveErrors checks each platform of m against the archive its URI names in dist:
// the sha256 of the file, and the bin at its root, an executable for that os/arch.
func archiveErrors(dist string, m manifest) []error {
	var errs []error
	for _, p := range m.Spec.Platforms {
		key := p.Selector.MatchLabels["os"] + "/" + p.Selector.MatchLabels["arch"]
		file := filepath.Join(dist, path.Base(p.URI))
		data, err := os.ReadFile(file)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", key, err))
			continue
		}
		if sum := sha256.Sum256(data); hex.EncodeToString(sum[:]) != p.Sha256 {
			errs = append(errs, fmt.Errorf("%s: sha256 %s in the manifest, %s is %x", key, p.Sha256, file, sum))
		}
		bin, err := fileInArchive(data, path.Ext(file) == ".zip", p.Bin)
		if err != nil {
			errs = append(errs, fmt.Errorf("%s: %s: %w", key, file, err))
			continue
		}
		if got, err := platformOf(bin); err != nil || got != key {
			errs = append(errs, fmt.Errorf("%s: %s in %s is a %q binary (%v)", key, p.Bin, file, got, err))
		}
	}
	return errs
}

// fileInArchive is the content of name at the root of a tar.gz or zip archive, which
// must be an executable regular file (krew links it into the user's PATH).
func fileInArchive(data []byte, isZip bool, name string) ([]byte, error) {
	if isZip {
		zr, err := zip.NewReader(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return nil, err
		}
		f, err := zr.Open(name)
		if err != nil {
			return nil, err
		}
		defer f.Close()
		return io.ReadAll(f)
	}
	gz, err := gzip.NewReader(bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			return nil, fmt.Errorf("no %s at the archive's root: %w", name, err)
		}
		if path.Clean(h.Name) != name {
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode&0o111 == 0 {
			return nil, fmt.Errorf("%s is not an executable file (type %c, mode %o)", name, h.Typeflag, h.Mode)
		}
		return io.ReadAll(tr)
	}
}

// platformOf is the GOOS/GOARCH an executable was built for, from its header.
func platformOf(bin []byte) (string, error) {
	r := bytes.NewReader(bin)
	if f, err := elf.NewFile(r); err == nil {
		arch := map[elf.Machine]string{elf.EM_X86_64: "amd64", elf.EM_AARCH64: "arm64"}[f.Machine]
		return "linux/" + arch, nil
	}
	if f, err := macho.NewFile(r); err == nil {
		arch := map[macho.Cpu]string{macho.CpuAmd64: "amd64", macho.CpuArm64: "arm64"}[f.Cpu]
		return "darwin/" + arch, nil
	}
	f, err := pe.NewFile(r)
	if err != nil {
		return "", fmt.Errorf("neither ELF, Mach-O nor PE")
	}
	arch := map[uint16]string{pe.IMAGE_FILE_MACHINE_AMD64: "amd64", pe.IMAGE_FILE_MACHINE_ARM64: "arm64"}[f.Machine]
	return "windows/" + arch, nil
}
