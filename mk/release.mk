# Release (issue 15): goreleaser, installed from the module proxy into a project-local
# bin dir by this target (never by hand), pinned to the version the proxy serves.
GORELEASER_VERSION := v2.15.1
TOOLS_BIN := $(CURDIR)/_out/tools
GORELEASER := $(TOOLS_BIN)/goreleaser

.PHONY: goreleaser release-check release-snapshot
goreleaser: $(GORELEASER)
$(GORELEASER):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) CGO_ENABLED=0 $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

# goreleaser check: the configuration is valid for this goreleaser.
release-check: $(GORELEASER)
	$(GORELEASER) check

# Everything a release builds, offline, into dist/: the CLI for linux/darwin/windows ×
# amd64/arm64 (archives + checksums) and the agent image for linux amd64/arm64 as OCI
# archives (mkimage, no Docker). Not part of `make test`: it is slow (see the report).
release-snapshot: $(GORELEASER)
	$(GORELEASER) release --snapshot --clean --skip=publish,sign
