package app

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"

	"github.com/kubectl-chaos/kubectl-chaos/internal/cmd/completion"
	"github.com/spf13/cobra"
)

// DocFileName is the markdown file of cmd: kubectl_chaos_network_delay.md.
func DocFileName(cmd *cobra.Command) string {
	return strings.ReplaceAll(cmd.CommandPath(), " ", "_") + ".md"
}

// GenMarkdown renders the reference page of one command. Machine-specific defaults
// (the home directory in --cache-dir) are written as $HOME so the pages are stable.
func GenMarkdown(cmd *cobra.Command) []byte {
	var b bytes.Buffer
	cmd.InitDefaultHelpFlag()
	fmt.Fprintf(&b, "## %s\n\n%s\n\n", cmd.CommandPath(), cmd.Short)
	if cmd.Long != "" {
		fmt.Fprintf(&b, "### Synopsis\n\n%s\n\n", strings.TrimSpace(cmd.Long))
	}
	if cmd.Runnable() {
		fmt.Fprintf(&b, "```\n%s\n```\n\n", cmd.UseLine())
	}
	if cmd.Example != "" {
		fmt.Fprintf(&b, "### Examples\n\n```\n%s\n```\n\n", strings.TrimRight(cmd.Example, "\n"))
	}
	if fl := cmd.NonInheritedFlags(); fl.HasAvailableFlags() {
		fmt.Fprintf(&b, "### Options\n\n```\n%s```\n\n", fl.FlagUsages())
	}
	if fl := cmd.InheritedFlags(); fl.HasAvailableFlags() {
		fmt.Fprintf(&b, "### Options inherited from parent commands\n\n```\n%s```\n\n", fl.FlagUsages())
	}
	var see []string
	if p := cmd.Parent(); p != nil {
		see = append(see, fmt.Sprintf("* [%s](%s) - %s", p.CommandPath(), DocFileName(p), p.Short))
	}
	children := cmd.Commands()
	sort.Slice(children, func(i, j int) bool { return children[i].Name() < children[j].Name() })
	for _, c := range children {
		if !c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand() {
			continue
		}
		see = append(see, fmt.Sprintf("* [%s](%s) - %s", c.CommandPath(), DocFileName(c), c.Short))
	}
	if len(see) > 0 {
		fmt.Fprintf(&b, "### See also\n\n%s\n", strings.Join(see, "\n"))
	}
	out := b.Bytes()
	if home, err := os.UserHomeDir(); err == nil && home != "" && home != "/" {
		out = bytes.ReplaceAll(out, []byte(home), []byte("$HOME"))
	}
	return out
}

// GenMarkdownTree writes the page of root and every visible command below it into
// dir, returning the file names written.
func GenMarkdownTree(root *cobra.Command, dir string) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var names []string
	var walk func(c *cobra.Command) error
	walk = func(c *cobra.Command) error {
		if c != root && (!c.IsAvailableCommand() || c.IsAdditionalHelpTopicCommand()) {
			return nil
		}
		name := DocFileName(c)
		if err := os.WriteFile(filepath.Join(dir, name), GenMarkdown(c), 0o644); err != nil {
			return err
		}
		names = append(names, name)
		for _, child := range c.Commands() {
			if err := walk(child); err != nil {
				return err
			}
		}
		return nil
	}
	err := walk(root)
	sort.Strings(names)
	return names, err
}

// CompletionFiles maps each shell to the generated script's file name under completions/.
var CompletionFiles = map[string]string{
	"bash":       "kubectl-chaos.bash",
	"zsh":        "_kubectl-chaos",
	"fish":       "kubectl-chaos.fish",
	"powershell": "kubectl-chaos.ps1",
}

// GenCompletions writes the completion script of every shell into dir.
func GenCompletions(root *cobra.Command, dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for shell, name := range CompletionFiles {
		var b bytes.Buffer
		if err := completion.Generate(root, shell, &b); err != nil {
			return fmt.Errorf("generating %s completion: %w", shell, err)
		}
		if err := os.WriteFile(filepath.Join(dir, name), b.Bytes(), 0o644); err != nil {
			return err
		}
	}
	return nil
}
