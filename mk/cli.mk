# CLI: generated command reference and shell completion scripts (owned by the CLI).
.PHONY: docs completions
docs:
	$(GO) run ./internal/cmd/gendocs -docs docs/commands -schema docs/scenario.schema.json

completions:
	$(GO) run ./internal/cmd/gendocs -completions completions
