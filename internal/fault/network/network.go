// Package network implements network faults: netem (delay, loss, duplicate, corrupt,
// reorder), tbf (bandwidth) and nftables (partition, loss fallback, filters) inside the
// target's network namespace. Validate and Describe are portable (used by the CLI for
// validation and --dry-run); the kernel work is in *_linux.go.
package network

import (
	"errors"

	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Validate checks a network fault spec before anything is created. Errors name the CLI
// flag (e.g. "--percent must be in (0, 100], got 101").
func Validate(n *plan.Network) error {
	return errors.New("network: not implemented")
}

// Describe lists the kernel objects the fault would create and how each is removed, for
// --dry-run. Where the choice depends on the node (sch_netem present or not), both
// alternatives are listed with their Condition.
func Describe(n *plan.Network) []plan.Object {
	return nil
}
