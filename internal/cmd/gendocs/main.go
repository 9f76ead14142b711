// Command gendocs writes the generated command reference (docs/commands) and shell
// completion scripts (completions/) and the scenario JSON Schema from the real command tree. Run by `make docs`
// and `make completions`; a test in internal/app fails when the committed files are stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/scenario"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func main() {
	docs := flag.String("docs", "", "write the markdown command reference into this directory")
	completions := flag.String("completions", "", "write the shell completion scripts into this directory")
	schema := flag.String("schema", "", "write the scenario file's JSON Schema to this file")
	flag.Parse()
	if *docs == "" && *completions == "" && *schema == "" {
		fmt.Fprintln(os.Stderr, "usage: gendocs [-docs DIR] [-completions DIR] [-schema FILE]")
		os.Exit(1)
	}
	if *schema != "" {
		f := factory.New(ui.System())
		data, err := scenario.Schema(scenario.NewVerbs(func() *cobra.Command { return app.NewRootCmd(f) }))
		if err == nil {
			err = os.WriteFile(*schema, append(data, '\n'), 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %s\n", *schema)
	}
	if *docs != "" {
		names, err := app.GenMarkdownTree(app.NewRootCmd(factory.New(ui.System())), *docs)
		if err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Printf("wrote %d pages to %s\n", len(names), *docs)
	}
	if *completions != "" {
		if err := app.GenCompletions(app.NewRootCmd(factory.New(ui.System())), *completions); err != nil {
			fmt.Fprintln(os.Stderr, "error:", err)
			os.Exit(1)
		}
		fmt.Printf("wrote completion scripts to %s\n", *completions)
	}
}
