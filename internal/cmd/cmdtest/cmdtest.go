// Package cmdtest runs a verb's command in tests the way the root command would: test
// streams, flag errors as usage errors, no usage text. The verb's runF captures what it
// parsed, so flag parsing is tested without side effects.
package cmdtest

import (
	"time"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// Execute builds a command with newCmd over a fake factory and runs it with args.
func Execute(newCmd func(f *factory.Factory) *cobra.Command, args ...string) error {
	io, _, _, _ := ui.Test()
	cmd := newCmd(factory.NewFake(io, nil, time.Now(), nil))
	cmd.SetArgs(args)
	cmd.SetOut(io.Out)
	cmd.SetErr(io.ErrOut)
	cmd.SilenceErrors, cmd.SilenceUsage = true, true
	cmd.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return exit.UsageError(err) })
	return cmd.Execute()
}
