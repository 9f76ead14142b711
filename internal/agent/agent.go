// Package agent is what the helper pod runs: it reads its plan, resolves each target
// container, journals and applies the fault, reports JSON events on stdout, and recovers
// on every stop path (stdin EOF, stop line, SIGTERM, deadline), also after a crash by
// reading the journal.
package agent

import (
	"context"
	"errors"
	"io"
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

// Resolver finds a target container's PID and namespaces on this node.
type Resolver interface {
	Resolve(ctx context.Context, t plan.Target) (fault.Target, error)
}

// Options for Run.
type Options struct {
	Plan   *plan.Plan
	Stdin  io.Reader // the operator's dead-man switch; nil = detached behaviour
	Stdout io.Writer // JSON events, one per line
	// TerminationLog is where the final plan.Result goes ("" = nowhere).
	TerminationLog string
	// JournalDir overrides Plan.JournalDir (tests).
	JournalDir string
	// Resolver defaults to the node's container runtime (Linux only).
	Resolver Resolver
	// HeartbeatInterval for heartbeat events; default 5s.
	HeartbeatInterval time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Run applies the plan and blocks until a stop path fires; it always recovers before it
// returns. ctx cancellation is the SIGTERM path.
func Run(ctx context.Context, o Options) (*plan.Result, error) {
	return nil, errors.New("agent: not implemented")
}
