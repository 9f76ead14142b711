// Command mkimage writes a single-layer linux container image, as a docker-archive
// tarball that `ctr images import` loads, from files on this machine. No Docker, no
// registry.
//
//	mkimage -o agent.tar -tag ghcr.io/kubectl-chaos/kubectl-chaos:v1 \
//	    -file bin/kubectl-chaos:/kubectl-chaos -entrypoint /kubectl-chaos
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := fs.String("o", "", "output tarball (docker-archive, or an OCI image layout with -oci)")
	oci := fs.Bool("oci", false, "write an OCI image layout (tar) instead of a docker-archive (release archives)")
	tag := fs.String("tag", "", "image reference, e.g. ghcr.io/org/name:v1")
	arch := fs.String("arch", "amd64", "image architecture")
	entry := fs.String("entrypoint", "", "entrypoint, space separated")
	var files, env, dirs listFlag
	fs.Var(&files, "file", "SRC:DST, repeatable; the file is stored with mode 0755")
	fs.Var(&dirs, "dir", "DST:MODE directory to create, repeatable, e.g. /tmp:1777")
	fs.Var(&env, "env", "KEY=VALUE, repeatable")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" || *tag == "" || len(files) == 0 {
		return errors.New("-o, -tag and at least one -file are required")
	}
	ref, err := name.NewTag(*tag, name.WeakValidation)
	if err != nil {
		return fmt.Errorf("parse -tag %q: %w", *tag, err)
	}
	layer, err := buildLayer(files, dirs)
	if err != nil {
		return err
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", *arch
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config.Env = append([]string{"PATH=/"}, env...)
	if *entry != "" {
		cfg.Config.Entrypoint = strings.Fields(*entry)
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return fmt.Errorf("set config: %w", err)
	}
	tmp := *out + ".tmp"
	if *oci {
		if err := writeOCI(tmp, ref.String(), img); err != nil {
			return fmt.Errorf("write %s: %w", *out, err)
		}
		return os.Rename(tmp, *out)
	}
	if err := tarball.WriteToFile(tmp, ref, img); err != nil {
		return fmt.Errorf("write %s: %w", *out, err)
	}
	return os.Rename(tmp, *out)
}

// buildLayer returns an uncompressed tar layer with the given files and directories,
// with fixed times and owners so the same inputs give the same image.
func buildLayer(files, dirs []string) (v1.Layer, error) {
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
	return tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(b)), nil
	})
}
