package plan

import (
	"fmt"
	"strings"
	"time"
)

// KindIO is the IO fault family: a FUSE passthrough mount over a directory of the target
// container, in its mount namespace, that delays, fails, corrupts or misreports the
// calls made under it.
const KindIO = "io"

// IO is an IO fault. Exactly one of Latency, Fault, Mistake and Attr is set.
type IO struct {
	// Path is the directory (absolute, as the container sees it) the mount covers.
	Path string `json:"path"`
	// Methods are the file system calls hit (read, write, open, fsync, …); empty = every
	// call the fault applies to.
	Methods []string `json:"methods,omitempty"`
	// FileGlob narrows the fault to the files whose name (or path under Path, when the
	// pattern has a '/') matches; empty = every file.
	FileGlob string `json:"fileGlob,omitempty"`
	// Percent of the matching calls hit, (0, 100]. Attr ignores it.
	Percent float64 `json:"percent,omitempty"`

	Latency *IOLatency `json:"latency,omitempty"`
	Fault   *IOFault   `json:"fault,omitempty"`
	Mistake *IOMistake `json:"mistake,omitempty"`
	Attr    *IOAttr    `json:"attr,omitempty"`
}

// IOLatency delays each hit call by Delay ± Jitter (uniform).
type IOLatency struct {
	Delay  Duration `json:"delay"`
	Jitter Duration `json:"jitter,omitempty"`
}

// IOFault fails each hit call with Errno (its Linux name, e.g. "EIO").
type IOFault struct {
	Errno string `json:"errno"`
}

// IOMistake replaces a run of 1..MaxBytes random bytes in the data of each hit read or
// write (what the target reads, or what reaches the file).
type IOMistake struct {
	MaxBytes int `json:"maxBytes"`
}

// IOAttr overrides the attributes the files under Path report; nil fields are left as
// they are. With default_permissions the kernel enforces the reported mode and owner.
type IOAttr struct {
	Perm  *uint32    `json:"perm,omitempty"` // permission bits, e.g. 0o000
	Size  *uint64    `json:"size,omitempty"`
	Mtime *time.Time `json:"mtime,omitempty"`
	UID   *uint32    `json:"uid,omitempty"`
	GID   *uint32    `json:"gid,omitempty"`
}

// Action names the one fault that is set: latency, fault, mistake or attr ("" if none
// or several are).
func (s *IO) Action() string {
	var set []string
	if s.Latency != nil {
		set = append(set, "latency")
	}
	if s.Fault != nil {
		set = append(set, "fault")
	}
	if s.Mistake != nil {
		set = append(set, "mistake")
	}
	if s.Attr != nil {
		set = append(set, "attr")
	}
	if len(set) != 1 {
		return ""
	}
	return set[0]
}

// Summary is a short human description, e.g. "latency 100ms±10ms on /data (read,write; *.db; 50%)".
func (s *IO) Summary() string {
	var what string
	switch s.Action() {
	case "latency":
		what = "latency " + s.Latency.Delay.D().String()
		if s.Latency.Jitter > 0 {
			what += "±" + s.Latency.Jitter.D().String()
		}
	case "fault":
		what = "fault " + strings.ToUpper(s.Fault.Errno)
	case "mistake":
		what = fmt.Sprintf("mistake ≤%d byte(s)", s.Mistake.MaxBytes)
	case "attr":
		what = "attr " + s.Attr.String()
	default:
		what = "(no single io fault)"
	}
	var scope []string
	if len(s.Methods) > 0 {
		scope = append(scope, strings.Join(s.Methods, ","))
	}
	if s.FileGlob != "" {
		scope = append(scope, s.FileGlob)
	}
	if s.Attr == nil && s.Percent > 0 && s.Percent < 100 {
		scope = append(scope, fmt.Sprintf("%g%%", s.Percent))
	}
	out := what + " on " + s.Path
	if len(scope) > 0 {
		out += " (" + strings.Join(scope, "; ") + ")"
	}
	return out
}

// String lists the overridden attributes, e.g. "perm=0000 uid=1000".
func (a *IOAttr) String() string {
	var p []string
	if a.Perm != nil {
		p = append(p, fmt.Sprintf("perm=%04o", *a.Perm))
	}
	if a.Size != nil {
		p = append(p, fmt.Sprintf("size=%d", *a.Size))
	}
	if a.Mtime != nil {
		p = append(p, "mtime="+a.Mtime.UTC().Format(time.RFC3339))
	}
	if a.UID != nil {
		p = append(p, fmt.Sprintf("uid=%d", *a.UID))
	}
	if a.GID != nil {
		p = append(p, fmt.Sprintf("gid=%d", *a.GID))
	}
	if len(p) == 0 {
		return "(nothing)"
	}
	return strings.Join(p, " ")
}
