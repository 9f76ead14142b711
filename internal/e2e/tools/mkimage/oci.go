package main

import (
	"archive/tar"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

// writeOCI writes the images, one per arch, as an OCI image layout (oci-layout,
// index.json, blobs/) packed in a tar at out, named ref in index.json (what `ctr images
// import`, skopeo oci-archive: and crane accept). One image is listed directly; several
// are listed in one image index, each manifest's descriptor carrying its platform, and
// index.json names that index.
func writeOCI(out, ref string, archs []string, imgs []v1.Image) error {
	dir, err := os.MkdirTemp("", "mkimage-oci-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	p, err := layout.Write(dir, empty.Index)
	if err != nil {
		return err
	}
	named := layout.WithAnnotations(map[string]string{"org.opencontainers.image.ref.name": ref})
	if len(imgs) == 1 {
		err = p.AppendImage(imgs[0], named, layout.WithPlatform(v1.Platform{OS: "linux", Architecture: archs[0]}))
	} else {
		adds := make([]mutate.IndexAddendum, len(imgs))
		for i, img := range imgs {
			adds[i] = mutate.IndexAddendum{Add: img, Descriptor: v1.Descriptor{Platform: &v1.Platform{OS: "linux", Architecture: archs[i]}}}
		}
		err = p.AppendIndex(mutate.AppendManifests(mutate.IndexMediaType(empty.Index, types.OCIImageIndex), adds...), named)
	}
	if err != nil {
		return err
	}
	return tarDir(dir, out)
}

// tarDir packs the layout dir into the tar out, with fixed times and owners.
func tarDir(dir, out string) error {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	tw := tar.NewWriter(f)
	epoch := time.Unix(0, 0)
	werr := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || path == dir {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		info, err := d.Info()
		if err != nil {
			return err
		}
		hdr, err := tar.FileInfoHeader(info, "")
		if err != nil {
			return err
		}
		hdr.Name, hdr.ModTime, hdr.Uid, hdr.Gid, hdr.Uname, hdr.Gname = filepath.ToSlash(rel), epoch, 0, 0, "", ""
		hdr.Mode = 0o644 // the layout writer's modes vary (0600 layers, 0755 index.json)
		if d.IsDir() {
			hdr.Name, hdr.Mode = hdr.Name+"/", 0o755
		}
		if err := tw.WriteHeader(hdr); err != nil || d.IsDir() {
			return err
		}
		src, err := os.Open(path)
		if err != nil {
			return err
		}
		defer src.Close()
		_, err = io.Copy(tw, src)
		return err
	})
	if werr == nil {
		werr = tw.Close()
	}
	if cerr := f.Close(); werr == nil {
		werr = cerr
	}
	return werr
}
