// Package runtime turns a container ID from the plan into what the agent needs on the
// node: the container's PID (host PID namespace), its network namespace (path and
// inode) and its cgroup directory. It reads containerd's task state first (the runc
// shim's init.pid, a file next to the socket: no gRPC client, which would double the
// binary) and falls back to a scan of /proc/*/cgroup, which works for CRI-O, any
// containerd layout and cgroup v1 or v2.
package runtime

// Defaults.
const (
	DefaultEndpoint  = "/run/containerd/containerd.sock"
	DefaultNamespace = "k8s.io"
)

// Options configure a Resolver.
type Options struct {
	// Endpoint is the containerd socket; "" = DefaultEndpoint. "-" disables containerd.
	// Only its directory is used: containerd's task state is read from there.
	Endpoint string
	// Namespace is containerd's namespace; "" = DefaultNamespace.
	Namespace string
	// ProcRoot is the host's /proc; "" = /host/proc if present, else /proc.
	ProcRoot string
	// CgroupRoot is where cgroup hierarchies are mounted; "" = /sys/fs/cgroup.
	CgroupRoot string
}

// Resolver implements agent.Resolver on this node.
type Resolver struct {
	o Options
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
	if o.CgroupRoot == "" {
		o.CgroupRoot = "/sys/fs/cgroup"
	}
	return &Resolver{o: o}
}
