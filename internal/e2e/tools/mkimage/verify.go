package main

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"debug/elf"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"slices"
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// platformImage is what verifyArchive found for one platform of the archive.
type platformImage struct {
	Arch, Manifest, Binary string
	Size                   int64
	Machine                elf.Machine
}

// verifyArchive reads the OCI layout archive at file with its own code (not the writer's
// library) and checks that index.json names ref; that ref is an image index with
// exactly one linux manifest per arch (or, for one arch, that manifest itself); that
// every blob's digest and size are those its descriptor states; that each config says
// the os/architecture its descriptor says; that each layer's uncompressed digest is
// the config's diff_id; and that the entrypoint in each layer is a static ELF binary
// for that architecture.
func verifyArchive(file, ref string, archs []string) ([]platformImage, error) {
	blobs, err := readTar(file)
	if err != nil {
		return nil, err
	}
	if !bytes.Contains(blobs["oci-layout"], []byte(`"imageLayoutVersion"`)) {
		return nil, errors.New("no oci-layout file")
	}
	var top v1.IndexManifest
	if err := json.Unmarshal(blobs["index.json"], &top); err != nil {
		return nil, fmt.Errorf("index.json: %w", err)
	}
	i := slices.IndexFunc(top.Manifests, func(d v1.Descriptor) bool {
		return d.Annotations["org.opencontainers.image.ref.name"] == ref
	})
	if i < 0 {
		return nil, fmt.Errorf("index.json names no %s", ref)
	}
	manifests := []v1.Descriptor{top.Manifests[i]}
	if top.Manifests[i].MediaType == types.OCIImageIndex {
		var idx v1.IndexManifest
		if err := unmarshalBlob(blobs, top.Manifests[i], &idx); err != nil {
			return nil, err
		}
		manifests = idx.Manifests
	}
	var got []string
	var out []platformImage
	for _, d := range manifests {
		if d.Platform == nil {
			return nil, fmt.Errorf("manifest %s: descriptor has no platform", d.Digest)
		}
		got = append(got, d.Platform.OS+"/"+d.Platform.Architecture)
		p, err := verifyImage(blobs, d)
		if err != nil {
			return nil, fmt.Errorf("linux/%s: %w", d.Platform.Architecture, err)
		}
		out = append(out, p)
	}
	var want []string
	for _, a := range archs {
		want = append(want, "linux/"+a)
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		return nil, fmt.Errorf("platforms %v, want %v", got, want)
	}
	return out, nil
}

// verifyImage checks one image manifest and what it references (see verifyArchive).
func verifyImage(blobs map[string][]byte, d v1.Descriptor) (platformImage, error) {
	arch := d.Platform.Architecture
	p := platformImage{Arch: arch, Manifest: d.Digest.String()}
	var m v1.Manifest
	if d.MediaType != types.OCIManifestSchema1 {
		return p, fmt.Errorf("manifest media type %s, want %s", d.MediaType, types.OCIManifestSchema1)
	}
	if err := unmarshalBlob(blobs, d, &m); err != nil {
		return p, err
	}
	var cfg v1.ConfigFile
	if err := unmarshalBlob(blobs, m.Config, &cfg); err != nil {
		return p, err
	}
	if cfg.OS != d.Platform.OS || cfg.Architecture != arch {
		return p, fmt.Errorf("config says %s/%s, the index says %s/%s", cfg.OS, cfg.Architecture, d.Platform.OS, arch)
	}
	if len(cfg.Config.Entrypoint) == 0 || len(m.Layers) != len(cfg.RootFS.DiffIDs) {
		return p, fmt.Errorf("config: entrypoint %v, %d diff_ids for %d layers", cfg.Config.Entrypoint, len(cfg.RootFS.DiffIDs), len(m.Layers))
	}
	p.Binary = cfg.Config.Entrypoint[0]
	var bin []byte
	for i, l := range m.Layers {
		gz, err := blob(blobs, l)
		if err != nil {
			return p, err
		}
		tarball, err := gunzip(gz)
		if err != nil {
			return p, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if sum := sha256.Sum256(tarball); "sha256:"+hex.EncodeToString(sum[:]) != cfg.RootFS.DiffIDs[i].String() {
			return p, fmt.Errorf("layer %s: uncompressed digest is not diff_id %s", l.Digest, cfg.RootFS.DiffIDs[i])
		}
		files, err := untar(bytes.NewReader(tarball))
		if err != nil {
			return p, fmt.Errorf("layer %s: %w", l.Digest, err)
		}
		if b, ok := files[strings.TrimPrefix(path.Clean(p.Binary), "/")]; ok {
			bin = b
		}
	}
	if bin == nil {
		return p, fmt.Errorf("no layer holds the entrypoint %s", p.Binary)
	}
	p.Size = int64(len(bin))
	f, err := elf.NewFile(bytes.NewReader(bin))
	if err != nil {
		return p, fmt.Errorf("%s: %w", p.Binary, err)
	}
	p.Machine = f.Machine
	if f.Machine != elfMachine[arch] {
		return p, fmt.Errorf("%s is ELF for %s, want %s", p.Binary, f.Machine, elfMachine[arch])
	}
	for _, prog := range f.Progs {
		if prog.Type == elf.PT_INTERP {
			return p, fmt.Errorf("%s is dynamically linked (has an ELF interpreter); the image holds nothing else", p.Binary)
		}
	}
	return p, nil
}

// blob is the content of the blob d describes, checked against d's digest and size.
func blob(blobs map[string][]byte, d v1.Descriptor) ([]byte, error) {
	if d.Digest.Algorithm != "sha256" {
		return nil, fmt.Errorf("descriptor %s: digest algorithm %q", d.Digest, d.Digest.Algorithm)
	}
	b, ok := blobs["blobs/sha256/"+d.Digest.Hex]
	if !ok {
		return nil, fmt.Errorf("blob %s missing", d.Digest)
	}
	if int64(len(b)) != d.Size {
		return nil, fmt.Errorf("blob %s: %d bytes, its descriptor says %d", d.Digest, len(b), d.Size)
	}
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != d.Digest.Hex {
		return nil, fmt.Errorf("blob %s: content digest is sha256:%x", d.Digest, sum)
	}
	return b, nil
}

func unmarshalBlob(blobs map[string][]byte, d v1.Descriptor, v any) error {
	b, err := blob(blobs, d)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return fmt.Errorf("blob %s: %w", d.Digest, err)
	}
	return nil
}

func gunzip(b []byte) ([]byte, error) {
	zr, err := gzip.NewReader(bytes.NewReader(b))
	if err != nil {
		return nil, err
	}
	return io.ReadAll(zr)
}

func readTar(file string) (map[string][]byte, error) {
	f, err := os.Open(file)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return untar(f)
}

// untar returns the regular files of a tar by their cleaned relative names.
func untar(r io.Reader) (map[string][]byte, error) {
	files := map[string][]byte{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return files, nil
		}
		if err != nil {
			return nil, err
		}
		if h.Typeflag != tar.TypeReg {
			continue
		}
		b, err := io.ReadAll(tr)
		if err != nil {
			return nil, err
		}
		files[strings.TrimPrefix(path.Clean(h.Name), "/")] = b
	}
}
