// Command gendocs writes the generated command reference (docs/commands) and shell
// completion scripts (completions/) from the real command tree. Run by `make docs`
// and `make completions`; a test in internal/app fails when the committed files are stale.
package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app"
	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

func main() {
	docs := flag.String("docs", "", "write the markdown command reference into this directory")
	completions := flag.String("completions", "", "write the shell completion scripts into this directory")
	flag.Parse()
	if *docs == "" && *completions == "" {
		fmt.Fprintln(os.Stderr, "usage: gendocs [-docs DIR] [-completions DIR]")
		os.Exit(1)
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
