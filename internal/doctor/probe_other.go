//go:build !linux

package doctor

import "errors"

// ProbeOptions say where the node's files are.
type ProbeOptions struct {
	Root          string
	RuntimeSocket string
}

// Probe runs on Linux only: it is what the helper pod runs on a node.
func Probe(ProbeOptions) (Report, error) {
	return Report{}, errors.New("the probe runs on Linux nodes only (kubectl chaos doctor runs it there in a helper pod)")
}
