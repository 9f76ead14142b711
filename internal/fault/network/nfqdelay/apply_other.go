//go:build !linux

package nfqdelay

import (
	"context"
	"errors"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Apply needs Linux (nftables and nfqueue).
func Apply(ctx context.Context, t fault.Target, d plan.Delay, f plan.Filter, rec fault.Recorder) (fault.Active, error) {
	return nil, errors.New("delay: the nfqueue backend needs Linux")
}

// ApplySpec needs Linux (nftables and nfqueue).
func ApplySpec(ctx context.Context, t fault.Target, s Spec, f plan.Filter, rec fault.Recorder) (fault.Active, error) {
	return nil, errors.New("the nfqueue backend needs Linux")
}
