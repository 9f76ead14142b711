# Release (issue 15): goreleaser and the SBOM writer, installed from the module proxy
# into a project-local bin dir by these targets (never by hand), pinned to versions the
# proxy serves. docs/release.md has what they build and how long each step takes.
GORELEASER_VERSION := v2.15.1
CYCLONEDX_GOMOD_VERSION := v1.10.0
TOOLS_BIN := $(CURDIR)/_out/tools
GORELEASER := $(TOOLS_BIN)/goreleaser
CYCLONEDX_GOMOD := $(TOOLS_BIN)/cyclonedx-gomod

.PHONY: goreleaser release-check release-snapshot
goreleaser: $(GORELEASER) $(CYCLONEDX_GOMOD)
$(GORELEASER):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) CGO_ENABLED=0 $(GO) install github.com/goreleaser/goreleaser/v2@$(GORELEASER_VERSION)

# The SBOM of each CLI binary (CycloneDX JSON), read from the module list Go embeds in
# the binary: offline, unlike goreleaser's default (syft, whose build is several times
# goreleaser's).
$(CYCLONEDX_GOMOD):
	@mkdir -p $(TOOLS_BIN)
	GOBIN=$(TOOLS_BIN) CGO_ENABLED=0 $(GO) install github.com/CycloneDX/cyclonedx-gomod/cmd/cyclonedx-gomod@$(CYCLONEDX_GOMOD_VERSION)

# goreleaser check: the configuration is valid for this goreleaser: 2.3 s once
# installed. Not part of `make test`: the install (this file's own rule) takes ≈6 min of
# CPU on a fresh machine, which CI's 60-minute budget for a fresh machine cannot spare.
release-check: $(GORELEASER)
	$(GORELEASER) check

# Everything a release builds, offline, into dist/: the CLI for linux/darwin/windows ×
# amd64/arm64 (archives, SBOMs, checksums) and the agent image for linux amd64/arm64 as
# OCI archives (mkimage, no Docker). Not part of `make test`: it is slow (docs/release.md).
release-snapshot: $(GORELEASER) $(CYCLONEDX_GOMOD)
	PATH=$(TOOLS_BIN):$$PATH $(GORELEASER) release --snapshot --clean --skip=publish,sign
