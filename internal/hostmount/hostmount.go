// Package hostmount carries the node paths a helper pod's agent needs (the journal
// directory, the node's /proc, the runtime socket's directory, and the fault kinds' own:
// the cgroup filesystem, /dev/fuse) from the pod spec to the agent, which bind-mounts
// them itself from the node's root before it does anything else.
//
// Why not hostPath volumes (issue 17): kubelet starts a pod that has any volume only
// once its volume manager has marked every volume mounted, and it checks that every
// 300 ms (podAttachAndMountRetryInterval in pkg/kubelet/volumemanager); the first check
// comes before the volume manager has even seen the pod, so every helper waited ≈300 ms
// before kubelet asked for its sandbox. A pod without volumes skips the wait. The helper
// already runs privileged with hostPID, so the node's mount namespace and root are in
// reach (NodeProcess: the runtime's process that started the agent, else the node's
// PID 1) and the agent can make the same bind mounts runc made for the volumes, in its
// own mount namespace: they go away with the container, nothing is mounted on the node.
package hostmount

import (
	"encoding/json"
	"fmt"
	"path"
)

// EnvVar is the helper container's environment variable that lists the mounts (JSON).
const EnvVar = "KUBECTL_CHAOS_HOST_PATHS"

// Type says what the node path must be; the values are Kubernetes' hostPath types.
type Type string

// The types the helper uses (the same words as corev1.HostPathType).
const (
	Directory         Type = "Directory"
	DirectoryOrCreate Type = "DirectoryOrCreate"
	CharDevice        Type = "CharDevice"
)

// Mount is one node path mounted into the helper.
type Mount struct {
	// Name says what it is for (the former volume name: journal, host-proc, runtime, …).
	Name string `json:"name"`
	// HostPath is the path on the node.
	HostPath string `json:"hostPath"`
	// Path is where it appears in the helper.
	Path string `json:"path"`
	Type Type   `json:"type"`
	// ReadOnly remounts the bind read-only.
	ReadOnly bool `json:"readOnly,omitempty"`
	// Recursive also binds the mounts below HostPath (a cgroup v1 hierarchy is a tmpfs
	// with one mount per controller).
	Recursive bool `json:"recursive,omitempty"`
}

// Encode is the environment variable's value.
func Encode(ms []Mount) (string, error) {
	if err := validate(ms); err != nil {
		return "", err
	}
	b, err := json.Marshal(ms)
	return string(b), err
}

// Decode reads and checks the environment variable's value.
func Decode(s string) ([]Mount, error) {
	var ms []Mount
	if err := json.Unmarshal([]byte(s), &ms); err != nil {
		return nil, fmt.Errorf("$%s: %w", EnvVar, err)
	}
	if err := validate(ms); err != nil {
		return nil, fmt.Errorf("$%s: %w", EnvVar, err)
	}
	return ms, nil
}

func validate(ms []Mount) error {
	names := map[string]bool{}
	paths := map[string]bool{}
	for i, m := range ms {
		switch {
		case m.Name == "":
			return fmt.Errorf("mount %d: empty name", i)
		case names[m.Name]:
			return fmt.Errorf("mount %q listed twice", m.Name)
		case !clean(m.HostPath):
			return fmt.Errorf("mount %q: host path %q is not a clean absolute path", m.Name, m.HostPath)
		case !clean(m.Path) || m.Path == "/":
			return fmt.Errorf("mount %q: path %q is not a clean absolute path below /", m.Name, m.Path)
		case paths[m.Path]:
			return fmt.Errorf("mount %q: path %s is already the target of another mount", m.Name, m.Path)
		}
		switch m.Type {
		case Directory, DirectoryOrCreate, CharDevice:
		default:
			return fmt.Errorf("mount %q: type %q is not one of %s, %s, %s", m.Name, m.Type, Directory, DirectoryOrCreate, CharDevice)
		}
		names[m.Name], paths[m.Path] = true, true
	}
	return nil
}

func clean(p string) bool { return path.IsAbs(p) && path.Clean(p) == p }

// Paths are the node paths, for what a dry-run or gc says a helper mounts.
func Paths(ms []Mount) []string {
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.HostPath)
	}
	return out
}
