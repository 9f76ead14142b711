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
	return &Resolver{o: o}
}
