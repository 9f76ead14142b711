package noop

import (
	"github.com/kubectl-chaos/kubectl-chaos/internal/fault/catalog"
	"github.com/kubectl-chaos/kubectl-chaos/internal/plan"
)

func init() {
	catalog.Register(catalog.Kind[*plan.Noop]{
		Name:     plan.KindNoop,
		Validate: func(*plan.Noop) error { return nil },
		Describe: func(*plan.Noop) []plan.Object { return nil },
		Scope:    "noop creates no kernel object",
	})
}
