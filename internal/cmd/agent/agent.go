// Package agent is the hidden `kubectl chaos agent` command run by helper pods.
package agent

import (
	"errors"

	"github.com/spf13/cobra"
)

// NewCmd returns the hidden agent command.
func NewCmd() *cobra.Command {
	return &cobra.Command{
		Use:    "agent",
		Short:  "Run the in-cluster agent (used by helper pods)",
		Hidden: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return errors.New("agent: not implemented")
		},
	}
}
