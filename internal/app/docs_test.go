package app

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/kubectl-chaos/kubectl-chaos/internal/app/factory"
	"github.com/kubectl-chaos/kubectl-chaos/internal/ui"
)

// TestGeneratedFilesUpToDate fails when docs/commands or completions/ no longer match the
// command tree: run `make docs completions`.
func TestGeneratedFilesUpToDate(t *testing.T) {
	isolate(t)
	root := moduleRoot(t)
	io, _, _, _ := ui.Test()

	tmp := t.TempDir()
	names, err := GenMarkdownTree(NewRootCmd(factory.New(io)), filepath.Join(tmp, "docs"))
	if err != nil {
		t.Fatal(err)
	}
	if len(names) < 12 {
		t.Errorf("only %d reference pages generated", len(names))
	}
	committed, _ := filepath.Glob(filepath.Join(root, "docs", "commands", "*.md"))
	if len(committed) != len(names) {
		t.Errorf("docs/commands has %d pages, the command tree %d: run `make docs`", len(committed), len(names))
	}
	for _, n := range names {
		compare(t, filepath.Join(tmp, "docs", n), filepath.Join(root, "docs", "commands", n), "make docs")
	}
	if err := GenCompletions(NewRootCmd(factory.New(io)), filepath.Join(tmp, "completions")); err != nil {
		t.Fatal(err)
	}
	for _, n := range CompletionFiles {
		compare(t, filepath.Join(tmp, "completions", n), filepath.Join(root, "completions", n), "make completions")
	}
}

func compare(t *testing.T, generated, committed, fix string) {
	t.Helper()
	want, err := os.ReadFile(generated)
	if err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(committed)
	if err != nil {
		t.Errorf("%s missing: run `%s`", committed, fix)
		return
	}
	if string(got) != string(want) {
		t.Errorf("%s is stale: run `%s`", committed, fix)
	}
}
