package scenario

import (
	"time"

	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
)

// estimate is the longest the steps can take: a serial list adds up, a parallel group
// takes its longest member, a fault lasts its duration (a one-shot fault: nothing), a
// command and a probe their timeouts.
func estimate(steps []*Step) time.Duration {
	var total time.Duration
	for _, s := range steps {
		total += stepEstimate(s)
	}
	return total
}

func stepEstimate(s *Step) time.Duration {
	switch {
	case s.Fault != nil:
		return faultDuration(s.Fault)
	case s.Probe != nil:
		return s.Probe.Timeout
	case s.Command != nil:
		return s.Command.Timeout
	case s.Parallel != nil:
		var longest time.Duration
		for _, p := range s.Parallel {
			longest = max(longest, stepEstimate(p))
		}
		return longest
	case s.Serial != nil:
		return estimate(s.Serial)
	}
	return s.Wait
}

// faultDuration is how long the fault is held (0 for a one-shot fault).
func faultDuration(fs *FaultStep) time.Duration {
	if fs.Options == nil {
		return 0
	}
	if e, err := catalog.For(fs.Options.Fault); err == nil && e.OneShot(fs.Options.Fault) {
		return 0
	}
	return fs.Options.Duration
}
