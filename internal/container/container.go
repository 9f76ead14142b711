// Package container turns a container ID from the plan into what the agent needs on the
// node: the container's PID (host PID namespace), its network namespace (path and
// inode) and its cgroup directory. It asks containerd first and falls back to a scan of
// /proc/*/cgroup, which works for CRI-O, any containerd socket and cgroup v1 or v2.
package container

import (
	"time"
)

// Defaults.
const (
	DefaultEndpoint  = "/run/containerd/containerd.sock"
	DefaultNamespace = "k8s.io"
	// DefaultTimeout bounds the containerd lookup before the /proc scan is tried.
	DefaultTimeout = 2 * time.Second
)

// Options configure a Resolver.
type Options struct {
	// Endpoint is the containerd socket; "" = DefaultEndpoint. "-" disables containerd.
	Endpoint string
	// Namespace is containerd's namespace; "" = DefaultNamespace.
	Namespace string
	// ProcRoot is the host's /proc; "" = /host/proc if present, else /proc.
	ProcRoot string
	// Timeout bounds the containerd lookup; 0 = DefaultTimeout.
	Timeout time.Duration
	// CgroupRoot is where cgroup hierarchies are mounted; "" = /sys/fs/cgroup.
	CgroupRoot string

	// Following a container the kubelet replaced after the plan was made (successor.go).
	// SuccessorWait bounds the wait for a running successor; 0 = DefaultSuccessorWait,
	// negative = do not follow.
	SuccessorWait time.Duration
	// SuccessorSettle is how long a successor's process must have run before it is
	// taken; 0 = DefaultSuccessorSettle, negative = take it at once.
	SuccessorSettle time.Duration
	// NotBefore (the plan's creation) bounds a successor's creation when containerd no
	// longer knows the planned container; Until (the plan's deadline) ends the wait.
	NotBefore, Until time.Time
}

// Resolver implements agent.Resolver on this node.
type Resolver struct {
	o    Options
	conn sharedConn // containerd (Linux)
}

// New returns a Resolver with defaults filled in.
func New(o Options) *Resolver {
	if o.Endpoint == "" {
		o.Endpoint = DefaultEndpoint
	}
	if o.Namespace == "" {
		o.Namespace = DefaultNamespace
	}
	if o.ProcRoot == "" {
		o.ProcRoot = DefaultProcRoot()
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/sys/fs/cgroup"
	}
	if o.SuccessorWait == 0 {
		o.SuccessorWait = DefaultSuccessorWait
	}
	if o.SuccessorSettle == 0 {
		o.SuccessorSettle = DefaultSuccessorSettle
	}
	return &Resolver{o: o}
}

// hexID reports whether id is 12-128 lowercase hex digits (a container ID). A plain
// loop, not a regexp: a package-level regexp is compiled at every start of the binary
// (CLI included), and {12,128} compiles to a large program (issue 17: CLI start).
func hexID(id string) bool {
	if len(id) < 12 || len(id) > 128 {
		return false
	}
	for i := 0; i < len(id); i++ {
		if c := id[i]; (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func short(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}
