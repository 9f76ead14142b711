package agent

import (
	"encoding/json"
	"fmt"
	"os"

	"github.com/kubectl-chaos/kubectl-chaos/internal/doctor"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/helperpod"
)

// probe reports what works on this node (what `kubectl chaos doctor` starts on each
// node): the doctor.Report as JSON on stdout and in the termination message, where the
// CLI reads it with no more RBAC than watching the pod. It mutates nothing on the node.
func probe(o *Options) error {
	r, err := doctor.Probe(doctor.ProbeOptions{RuntimeSocket: o.RuntimeSocket})
	if err != nil {
		return exit.FaultError(err)
	}
	r.Node = o.Getenv(helperpod.EnvNodeName)
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	fmt.Fprintln(o.Stdout, string(b))
	if o.TerminationLog != "" {
		if err := os.WriteFile(o.TerminationLog, b, 0o644); err != nil && !os.IsNotExist(err) {
			return exit.FaultError(fmt.Errorf("writing the probe report to %s: %w", o.TerminationLog, err))
		}
	}
	return nil
}
