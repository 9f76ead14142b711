// Package iofault implements IO faults: a FUSE passthrough file system (go-fuse) mounted
// over a directory of the target container, inside its mount namespace and backed by
// the original directory, that delays, fails, corrupts or misreports the calls made
// under it. Descriptors the container already holds under the directory are moved onto
// the mount through ptrace and back on recovery.
//
// Validate and Describe are portable (the CLI uses them); the mount, the file system,
// the descriptor moves and the journal recoverers are in *_linux.go.
package iofault

import (
	"fmt"
	"math"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Limits of the accepted values.
const (
	// MaxDelay bounds --delay: recovery wakes delayed calls at once, so a long delay
	// cannot hold the target past the experiment.
	MaxDelay = time.Hour
	// MaxMistakeBytes bounds --max-bytes (a FUSE read or write carries at most 128 KiB).
	MaxMistakeBytes = 64 << 10
	// DefaultMistakeBytes is --max-bytes when not given.
	DefaultMistakeBytes = 4
	// MaxPathLen is PATH_MAX - 1.
	MaxPathLen = 4095
	// MaxGlobLen bounds --file-glob.
	MaxGlobLen = 255
	// MaxPerm is the largest --perm (all permission, setuid, setgid and sticky bits).
	MaxPerm = 0o7777
	// MaxID is the largest --uid/--gid (4294967295 means "no id" to the kernel).
	MaxID = math.MaxUint32 - 1
	// MaxSize is the largest --size (a file offset is signed 64-bit).
	MaxSize = math.MaxInt64
)

// FSType is the file system type of the mount, as /proc/*/mountinfo shows it
// ("fuse." + the subtype): the agent recognizes its own mounts by it and by the source.
const FSType = "fuse.kubectl-chaos"

// Method is one file system call the fault can hit.
type Method uint8

// The methods, in the order of MethodNames.
const (
	MLookup Method = iota
	MGetattr
	MSetattr
	MOpen
	MCreate
	MRead
	MWrite
	MFlush
	MFsync
	MOpendir
	MMkdir
	MMknod
	MUnlink
	MRmdir
	MRename
	MSymlink
	MLink
	MReadlink
	MStatfs
	MGetxattr
	MSetxattr
	MListxattr
	MRemovexattr
	MAllocate
	numMethods
)

// MethodNames are the --methods values, indexed by Method.
var MethodNames = [numMethods]string{
	"lookup", "getattr", "setattr", "open", "create", "read", "write", "flush", "fsync",
	"opendir", "mkdir", "mknod", "unlink", "rmdir", "rename", "symlink", "link", "readlink",
	"statfs", "getxattr", "setxattr", "listxattr", "removexattr", "allocate",
}

func (m Method) String() string {
	if m < numMethods {
		return MethodNames[m]
	}
	return fmt.Sprintf("method(%d)", m)
}

// MethodSet is a set of methods, one bit each.
type MethodSet uint32

// Has reports whether m is in the set.
func (s MethodSet) Has(m Method) bool { return s&(1<<m) != 0 }

// ParseMethods turns --methods names into a set; empty means every method (all for
// latency and fault, read and write for mistake).
func ParseMethods(names []string, mistake bool) (MethodSet, error) {
	if len(names) == 0 {
		if mistake {
			return 1<<MRead | 1<<MWrite, nil
		}
		return 1<<numMethods - 1, nil
	}
	var s MethodSet
	for _, n := range names {
		i := slices.Index(MethodNames[:], strings.ToLower(strings.TrimSpace(n)))
		if i < 0 {
			return 0, fmt.Errorf("--methods: unknown method %q (known: %s)", n, strings.Join(MethodNames[:], ", "))
		}
		m := Method(i)
		if mistake && m != MRead && m != MWrite {
			return 0, fmt.Errorf("--methods for mistake must be read and/or write (the calls that carry data), got %q", n)
		}
		s |= 1 << m
	}
	return s, nil
}

// Errnos are the --errno values and their Linux numbers (the agent runs on Linux; the
// CLI may not, so the table is ours, not the host's).
var Errnos = map[string]uint32{
	"EPERM": 1, "ENOENT": 2, "EINTR": 4, "EIO": 5, "ENXIO": 6, "E2BIG": 7, "EBADF": 9,
	"EAGAIN": 11, "ENOMEM": 12, "EACCES": 13, "EBUSY": 16, "EEXIST": 17, "EXDEV": 18,
	"ENODEV": 19, "ENOTDIR": 20, "EISDIR": 21, "EINVAL": 22, "ENFILE": 23, "EMFILE": 24,
	"ETXTBSY": 26, "EFBIG": 27, "ENOSPC": 28, "ESPIPE": 29, "EROFS": 30, "EMLINK": 31,
	"ERANGE": 34, "EDEADLK": 35, "ENAMETOOLONG": 36, "ENOLCK": 37, "ENOSYS": 38,
	"ENOTEMPTY": 39, "ELOOP": 40, "ENODATA": 61, "ETIME": 62, "EOVERFLOW": 75,
	"EILSEQ": 84, "EOPNOTSUPP": 95, "ETIMEDOUT": 110, "ESTALE": 116, "EDQUOT": 122,
	"ECANCELED": 125,
}

// ErrnoNumber returns the Linux number of an errno name (any case).
func ErrnoNumber(name string) (uint32, error) {
	if n, ok := Errnos[strings.ToUpper(strings.TrimSpace(name))]; ok {
		return n, nil
	}
	names := make([]string, 0, len(Errnos))
	for k := range Errnos {
		names = append(names, k)
	}
	slices.Sort(names)
	return 0, fmt.Errorf("--errno %q is not a known errno (accepted: %s)", name, strings.Join(names, ", "))
}

// forbidden are the pseudo file systems no IO fault may cover.
var forbidden = []string{"/proc", "/sys", "/dev"}

// Validate checks an IO fault spec before anything is created. Errors name the CLI flag
// and the accepted range. What only the node can check (the path is a directory in the
// container, its mount does not propagate) is checked by the agent before it journals.
func Validate(s *plan.IO) error {
	if s == nil {
		return fmt.Errorf("io fault without a spec")
	}
	if err := validatePath(s.Path); err != nil {
		return err
	}
	action := s.Action()
	if action == "" {
		return fmt.Errorf("io fault: set exactly one of latency, fault, mistake and attr")
	}
	if len(s.FileGlob) > MaxGlobLen {
		return fmt.Errorf("--file-glob is %d characters, at most %d", len(s.FileGlob), MaxGlobLen)
	}
	if _, err := path.Match(s.FileGlob, ""); err != nil {
		return fmt.Errorf("--file-glob %q is not a valid pattern (path.Match syntax: * ? [a-z]): %v", s.FileGlob, err)
	}
	if action == "attr" {
		return validateAttr(s)
	}
	if _, err := ParseMethods(s.Methods, action == "mistake"); err != nil {
		return err
	}
	if math.IsNaN(s.Percent) || s.Percent <= 0 || s.Percent > 100 {
		return fmt.Errorf("--percent must be in (0, 100], got %g", s.Percent)
	}
	switch action {
	case "latency":
		l := s.Latency
		if l.Delay <= 0 || l.Delay.D() > MaxDelay {
			return fmt.Errorf("--delay must be in (0, %s], got %s", MaxDelay, l.Delay.D())
		}
		if l.Jitter < 0 || l.Jitter > l.Delay {
			return fmt.Errorf("--jitter must be in [0, --delay %s], got %s", l.Delay.D(), l.Jitter.D())
		}
	case "fault":
		if _, err := ErrnoNumber(s.Fault.Errno); err != nil {
			return err
		}
	case "mistake":
		if m := s.Mistake.MaxBytes; m < 1 || m > MaxMistakeBytes {
			return fmt.Errorf("--max-bytes must be in [1, %d], got %d", MaxMistakeBytes, m)
		}
	}
	return nil
}

func validatePath(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("--path is required: the directory of the container to cover, e.g. /data")
	case !strings.HasPrefix(p, "/"):
		return fmt.Errorf("--path must be absolute, as the container sees it (e.g. /data), got %q", p)
	case len(p) > MaxPathLen:
		return fmt.Errorf("--path is %d characters, at most %d", len(p), MaxPathLen)
	case path.Clean(p) != p:
		return fmt.Errorf("--path must be a clean path (no '.', '..', '//' or trailing '/'): %q, did you mean %q?", p, path.Clean(p))
	case p == "/":
		return fmt.Errorf("--path / would cover the container's whole file system; give a data directory, e.g. /data")
	}
	for _, f := range forbidden {
		if p == f || strings.HasPrefix(p, f+"/") {
			return fmt.Errorf("--path %s is under %s: refusing to cover the kernel's pseudo file systems", p, f)
		}
	}
	return nil
}

func validateAttr(s *plan.IO) error {
	if len(s.Methods) > 0 {
		return fmt.Errorf("io attr takes no --methods: it changes what getattr and lookup report")
	}
	if s.Percent != 0 && s.Percent != 100 {
		return fmt.Errorf("io attr takes no --percent: every matching file reports the attributes, got %g", s.Percent)
	}
	a := s.Attr
	if a.Perm == nil && a.Size == nil && a.Mtime == nil && a.UID == nil && a.GID == nil {
		return fmt.Errorf("io attr: give at least one of --perm, --size, --mtime, --uid, --gid")
	}
	if a.Perm != nil && *a.Perm > MaxPerm {
		return fmt.Errorf("--perm must be an octal mode in [0, %o], got %o", MaxPerm, *a.Perm)
	}
	if a.Size != nil && *a.Size > MaxSize {
		return fmt.Errorf("--size must be in [0, %d], got %d", uint64(MaxSize), *a.Size)
	}
	if a.UID != nil && *a.UID > MaxID {
		return fmt.Errorf("--uid must be in [0, %d], got %d", uint32(MaxID), *a.UID)
	}
	if a.GID != nil && *a.GID > MaxID {
		return fmt.Errorf("--gid must be in [0, %d], got %d", uint32(MaxID), *a.GID)
	}
	return nil
}

// Match reports whether the file at rel (slash-separated, relative to --path; "" is
// --path itself) is hit by glob: a pattern with a '/' is matched against rel, one
// without against the file's name. The empty glob matches everything.
func Match(glob, rel string) bool {
	if glob == "" {
		return true
	}
	if strings.Contains(glob, "/") {
		ok, _ := path.Match(strings.TrimPrefix(glob, "/"), rel)
		return ok
	}
	ok, _ := path.Match(glob, path.Base("/"+rel))
	return ok
}
