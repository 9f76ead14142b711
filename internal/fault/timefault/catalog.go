package timefault

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func init() {
	catalog.Register(catalog.Kind[*plan.TimeShift]{
		Name:     plan.KindTime,
		Validate: Validate,
		Describe: Describe,
		Scope:    "in the memory of every process of each target container: its vDSO, copy-on-write per process",
		Details:  details,
	})
}
