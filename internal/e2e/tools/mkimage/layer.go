package main

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// elfMachine is the ELF machine of a linux binary for each image architecture (GOARCH
// spelling, as OCI platforms use it).
var elfMachine = map[string]elf.Machine{
	"amd64":   elf.EM_X86_64,
	"arm64":   elf.EM_AARCH64,
	"arm":     elf.EM_ARM,
	"386":     elf.EM_386,
	"ppc64le": elf.EM_PPC64,
	"s390x":   elf.EM_S390,
	"riscv64": elf.EM_RISCV,
}

func knownArchs() []string { return slices.Sorted(maps.Keys(elfMachine)) }

// checkELF refuses an ELF file built for another machine than arch (an arm64 image
// with an amd64 binary would be pulled fine and fail with "exec format error" on the
// node). Files that are not ELF (scripts, data) are not checked.
func checkELF(src string, data []byte, arch string) error {
	f, err := elf.NewFile(bytes.NewReader(data))
	if err != nil {
		return nil
	}
	if f.Machine != elfMachine[arch] {
		return fmt.Errorf("-file %s: ELF for %s, but the image is -arch %s (%s)", src, f.Machine, arch, elfMachine[arch])
	}
	return nil
}

// buildLayer returns a tar layer with the given files and directories, with fixed
// times and owners so the same inputs give the same image; oci sets the OCI layer
// media type (gzip) instead of Docker's.
func buildLayer(files, dirs []string, arch string, oci bool) (v1.Layer, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	for _, d := range dirs {
		dst, mode, ok := strings.Cut(d, ":")
		if !ok {
			mode = "755"
		}
		var m int64
		if _, err := fmt.Sscanf(mode, "%o", &m); err != nil {
			return nil, fmt.Errorf("-dir %q: mode must be octal: %w", d, err)
		}
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(path.Clean(dst), "/") + "/", Mode: m, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	for _, f := range files {
		src, dst, ok := strings.Cut(f, ":")
		if !ok || !strings.HasPrefix(dst, "/") {
			return nil, fmt.Errorf("-file %q: want SRC:/ABSOLUTE/DST", f)
		}
		data, err := os.ReadFile(src)
		if err != nil {
			return nil, fmt.Errorf("read -file source: %w", err)
		}
		if err := checkELF(src, data, arch); err != nil {
			return nil, err
		}
		hdr := &tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(path.Clean(dst), "/"), Mode: 0o755, Size: int64(len(data)), ModTime: epoch}
		if err := tw.WriteHeader(hdr); err != nil {
			return nil, err
		}
		if _, err := tw.Write(data); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	b := buf.Bytes()
	var opts []tarball.LayerOption
	if oci {
		opts = append(opts, tarball.WithMediaType(types.OCILayer))
	}
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	}, opts...)
}
