// Package completion is `kubectl chaos completion SHELL`.
package completion

import (
	"fmt"

	"github.com/MakeNowJust/heredoc"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/cmdutil"
	"github.com/kubectl-chaos/kubectl-chaos/internal/exit"
	"github.com/spf13/cobra"
)

// Shells supported by completion.
var Shells = []string{"bash", "zsh", "fish", "powershell"}

// NewCmdCompletion returns the command.
func NewCmdCompletion(f *factory.Factory) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "completion bash|zsh|fish|powershell",
		Short: "Print the shell completion script",
		Long: heredoc.Doc(`
			Print the completion script of kubectl-chaos for a shell.

			As a kubectl plugin (kubectl >= 1.26), "kubectl chaos <TAB>" completes through the
			executable kubectl_complete-chaos on PATH (installed by "make install"; it runs
			"kubectl-chaos __complete"). The scripts below complete the kubectl-chaos binary
			itself.
		`),
		Example: cmdutil.Examples(`
			source <(kubectl-chaos completion bash)
			kubectl-chaos completion zsh > "${fpath[1]}/_kubectl-chaos"
			kubectl-chaos completion fish > ~/.config/fish/completions/kubectl-chaos.fish
			kubectl-chaos completion powershell | Out-String | Invoke-Expression
		`),
		ValidArgs:             Shells,
		Args:                  cobra.ExactArgs(1),
		DisableFlagsInUseLine: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			return Generate(cmd.Root(), args[0], f.IOStreams.Out)
		},
	}
	return cmd
}

// Generate writes root's completion script for shell to w.
func Generate(root *cobra.Command, shell string, w interface{ Write([]byte) (int, error) }) error {
	switch shell {
	case "bash":
		return root.GenBashCompletionV2(w, true)
	case "zsh":
		return root.GenZshCompletion(w)
	case "fish":
		return root.GenFishCompletion(w, true)
	case "powershell":
		return root.GenPowerShellCompletionWithDesc(w)
	}
	return exit.UsageError(fmt.Errorf("completion: shell must be bash, zsh, fish or powershell, got %q", shell))
}
