//go:build !linux

package container

import (
	"context"
	"errors"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Resolve is Linux-only: the agent runs on Kubernetes nodes.
func (r *Resolver) Resolve(ctx context.Context, t plan.Target) (fault.Target, error) {
	return fault.Target{}, errors.New("resolving containers is supported on Linux only (the agent runs on Kubernetes nodes)")
}

// DefaultProcRoot is /proc.
func DefaultProcRoot() string { return "/proc" }

// sharedConn is the containerd connection on Linux.
type sharedConn struct{}
