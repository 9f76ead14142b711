//go:build !linux

package hostmount

import "errors"

// Apply is Linux-only: the agent runs on Linux nodes.
func Apply(nodePID int, ms []Mount) error {
	if len(ms) == 0 {
		return nil
	}
	return errors.New("host mounts: the agent runs on Linux only")
}

// NodeProcess is Linux-only.
func NodeProcess() (int, error) {
	return 0, errors.New("host mounts: the agent runs on Linux only")
}
