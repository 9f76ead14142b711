package scale

import (
	"fmt"
	"log/slog"
	"os"
	"testing"
)

// TestMain is the node side in the child process, else the benchmarks and then their
// table (one row per run).
func TestMain(m *testing.M) {
	if os.Getenv(envNodeSide) != "" {
		if err := runNodeSide(); err != nil {
			fmt.Fprintln(os.Stderr, "node side:", err)
			os.Exit(1)
		}
		os.Exit(0)
	}
	// The CLI at its default verbosity: the session's step trace (-v) stays off.
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})))
	code := m.Run()
	if len(rows) > 0 {
		fmt.Println()
		fmt.Println("| run | nodes | helpers | helpers created | all Running (kwok) | all targets active | stop → all recovered | CLI returned | all helpers gone | API requests | attaches ok/refused | CLI CPU | CLI heap peak (MiB above start) | peak RSS (MiB) |")
		fmt.Println("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
		for _, r := range rows {
			fmt.Println(r)
		}
		fmt.Println()
		fmt.Println("Times from the CLI's start (stop → recovered: from the Ctrl-C); one-by-one rows are per pod.")
	}
	os.Exit(code)
}
