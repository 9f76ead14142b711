// Command mkimage writes a single-layer linux container image from files on this
// machine, no Docker, no registry: a docker-archive tarball that `ctr images import`
// loads (the e2e cluster's images), or with -oci an OCI image layout archive, which for
// several -arch values holds one image index over all of them (the release's multi-arch
// agent image). -verify checks such an archive (digests, sizes, platforms, binaries).
//
//	mkimage -o agent.tar -tag ghcr.io/kubectl-chaos/kubectl-chaos:v1 \
//	    -file bin/kubectl-chaos:/kubectl-chaos -entrypoint /kubectl-chaos
//	mkimage -oci -arch amd64,arm64 -o agent.oci.tar -tag ghcr.io/kubectl-chaos/kubectl-chaos:v1 \
//	    -file 'out/linux_{arch}/kubectl-chaos:/kubectl-chaos' -entrypoint /kubectl-chaos
//	mkimage -verify agent.oci.tar -arch amd64,arm64 -tag ghcr.io/kubectl-chaos/kubectl-chaos:v1
package main

import (
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

type listFlag []string

func (l *listFlag) String() string     { return strings.Join(*l, ",") }
func (l *listFlag) Set(s string) error { *l = append(*l, s); return nil }

// options are mkimage's flags, parsed and checked.
type options struct {
	out, verify string
	oci         bool
	ref         name.Tag
	archs       []string
	entry       string
	files, dirs []string
	env         []string
}

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "mkimage:", err)
		os.Exit(1)
	}
}

func run(args []string) error {
	o, err := parseFlags(args)
	if err != nil {
		return err
	}
	if o.verify != "" {
		sum, err := verifyArchive(o.verify, o.ref.String(), o.archs)
		if err != nil {
			return fmt.Errorf("verify %s: %w", o.verify, err)
		}
		for _, p := range sum {
			fmt.Printf("%s linux/%s manifest %s, %s %d bytes (ELF %s, static)\n", o.verify, p.Arch, p.Manifest, p.Binary, p.Size, p.Machine)
		}
		return nil
	}
	imgs := make([]v1.Image, len(o.archs))
	for i, arch := range o.archs {
		if imgs[i], err = buildImage(o, arch); err != nil {
			return err
		}
	}
	tmp := o.out + ".tmp"
	if o.oci {
		err = writeOCI(tmp, o.ref.String(), o.archs, imgs)
	} else {
		err = tarball.WriteToFile(tmp, o.ref, imgs[0])
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	return os.Rename(tmp, o.out)
}

func parseFlags(args []string) (*options, error) {
	fs := flag.NewFlagSet("mkimage", flag.ContinueOnError)
	out := fs.String("o", "", "output tarball (docker-archive, or an OCI image layout with -oci)")
	verify := fs.String("verify", "", "check this OCI archive against -tag and -arch instead of writing one")
	oci := fs.Bool("oci", false, "write an OCI image layout (tar) instead of a docker-archive (release archives)")
	tag := fs.String("tag", "", "image reference, e.g. ghcr.io/org/name:v1")
	arch := fs.String("arch", "amd64", "image architectures, comma separated (linux); more than one needs -oci and writes an image index; {arch} in a -file SRC is replaced by each")
	entry := fs.String("entrypoint", "", "entrypoint, space separated")
	var files, env, dirs listFlag
	fs.Var(&files, "file", "SRC:DST, repeatable; the file is stored with mode 0755")
	fs.Var(&dirs, "dir", "DST:MODE directory to create, repeatable, e.g. /tmp:1777")
	fs.Var(&env, "env", "KEY=VALUE, repeatable")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	o := &options{out: *out, verify: *verify, oci: *oci, entry: *entry, files: files, dirs: dirs, env: env}
	if *tag == "" {
		return nil, errors.New("-tag is required")
	}
	ref, err := name.NewTag(*tag, name.WeakValidation)
	if err != nil {
		return nil, fmt.Errorf("-tag %q: %w", *tag, err)
	}
	o.ref = ref
	for _, a := range strings.Split(*arch, ",") {
		if _, ok := elfMachine[a]; !ok {
			return nil, fmt.Errorf("-arch %q: want a comma separated list of %s", *arch, strings.Join(knownArchs(), ", "))
		}
		if slices.Contains(o.archs, a) {
			return nil, fmt.Errorf("-arch %q: %s twice", *arch, a)
		}
		o.archs = append(o.archs, a)
	}
	switch {
	case o.verify != "":
		return o, nil
	case o.out == "" || len(files) == 0:
		return nil, errors.New("-o, -tag and at least one -file are required")
	case len(o.archs) > 1 && !o.oci:
		return nil, fmt.Errorf("-arch %q: several architectures need -oci (a docker-archive holds no image index)", *arch)
	}
	return o, nil
}

// buildImage is the image for one architecture: one layer with the files ({arch} in a
// source path replaced by arch) and directories, and a config that says linux/arch.
func buildImage(o *options, arch string) (v1.Image, error) {
	files := make([]string, len(o.files))
	for i, f := range o.files {
		files[i] = strings.ReplaceAll(f, "{arch}", arch)
	}
	layer, err := buildLayer(files, o.dirs, arch, o.oci)
	if err != nil {
		return nil, err
	}
	base := empty.Image
	if o.oci {
		base = mutate.MediaType(mutate.ConfigMediaType(base, types.OCIConfigJSON), types.OCIManifestSchema1)
	}
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, fmt.Errorf("append layer: %w", err)
	}
	cfg, err := img.ConfigFile()
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg = cfg.DeepCopy()
	cfg.OS, cfg.Architecture = "linux", arch
	cfg.Created = v1.Time{Time: time.Unix(0, 0).UTC()}
	cfg.Config.Env = append([]string{"PATH=/"}, o.env...)
	if o.entry != "" {
		cfg.Config.Entrypoint = strings.Fields(o.entry)
	}
	img, err = mutate.ConfigFile(img, cfg)
	if err != nil {
		return nil, fmt.Errorf("set config: %w", err)
	}
	return img, nil
}
