//go:build !linux

package hostmount

import "errors"

// Apply is Linux-only: the agent runs on Linux nodes.
func Apply(root string, ms []Mount) error {
	if len(ms) == 0 {
		return nil
	}
	return errors.New("host mounts: the agent runs on Linux only")
}

// NodeRoot is Linux-only.
func NodeRoot() (string, error) {
	return "", errors.New("host mounts: the agent runs on Linux only")
}
