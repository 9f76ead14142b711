package iofault

import (
	"fmt"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Object kinds of this package, in events and dry-run.
const (
	ObjMount = "fuse-mount"
	ObjMoved = "moved-fds"
)

func init() {
	catalog.Register(catalog.Kind[*plan.IO]{
		Name:     plan.KindIO,
		Validate: Validate,
		Describe: Describe,
		Scope:    "created in each target container's mount namespace",
		Details:  details,
		HostMounts: []catalog.HostMount{
			{Name: "dev-fuse", Path: "/dev/fuse", Type: corev1.HostPathCharDev},
		},
	})
}

// Describe lists what the fault creates in each target container and how each thing is
// removed (the same texts the agent's events carry).
func Describe(s *plan.IO) []plan.Object {
	if s == nil {
		return nil
	}
	return []plan.Object{
		MountObject(s, "kubectl-chaos-io-<experiment>"),
		MovedObject(s.Path, 0, nil),
	}
}

// MountObject is the FUSE mount as events and the dry-run show it.
func MountObject(s *plan.IO, source string) plan.Object {
	return plan.Object{
		Kind: ObjMount,
		Spec: fmt.Sprintf("%s (source %s) over %s, backed by the original directory: %s",
			FSType, source, s.Path, s.Summary()),
		Remove: fmt.Sprintf("faults off, descriptors on the mount moved back, umount %s (MNT_DETACH when busy); "+
			"the agent serves with faults off until the kernel releases the mount", s.Path),
	}
}

// MovedObject names the descriptors of one process moved onto the mount (pid 0: the
// dry-run's general description).
func MovedObject(dir string, pid int, fds []MovedFD) plan.Object {
	if pid == 0 {
		return plan.Object{
			Kind: ObjMoved,
			Spec: fmt.Sprintf("descriptors the container already holds on files under %s, moved onto the mount "+
				"through ptrace with every thread of the process stopped (offset, flags and close-on-exec kept); "+
				"locked, deleted or shared-with-another-process files keep the original and are reported", dir),
			Remove: "moved back onto the original files (dup3 at the same offset) after the unmount",
		}
	}
	parts := make([]string, len(fds))
	for i, f := range fds {
		parts[i] = fmt.Sprintf("%d=%s", f.FD, f.Path)
	}
	return plan.Object{
		Kind:   ObjMoved,
		Spec:   fmt.Sprintf("pid %d fd %s moved onto the mount", pid, strings.Join(parts, " ")),
		Remove: "dup3 back onto the original files at their offsets after the unmount",
	}
}

// MovedFD is one descriptor moved onto the mount: its number and the file, as the
// container sees it.
type MovedFD struct {
	FD   int    `json:"fd"`
	Path string `json:"path"`
}

func details(s *plan.IO) []catalog.Detail {
	d := []catalog.Detail{{Name: "IO", Value: s.Summary()}}
	switch {
	case s.Attr != nil && s.Attr.Perm != nil:
		d = append(d, catalog.Detail{Name: "Note", Value: "the kernel checks the reported mode and owner (default_permissions); root in the container is not refused"})
	case s.Latency != nil || s.Fault != nil || s.Mistake != nil:
		d = append(d, catalog.Detail{Name: "Data path", Value: "files whose reads are hit bypass the page cache (FOPEN_DIRECT_IO; shared mmap kept working with FUSE_DIRECT_IO_ALLOW_MMAP, Linux 6.6+); others use the kernel's passthrough where it has one"})
	}
	return d
}
