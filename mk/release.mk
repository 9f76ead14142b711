# Release (issue 15): goreleaser and the SBOM writer, installed from the module proxy
# into a project-local bin dir by these targets (never by hand), pinned to versions the
# proxy serves. docs/release.md has what they build and how long each step takes.
GORELEASER_VERSION := v2.15.1
CYCLONEDX_GOMOD_VERSION := v1.10.0
TOOLS_BIN := $(CURDIR)/_out/tools
GORELEASER := $(TOOLS_BIN)/goreleaser
CYCLONEDX_GOMOD := $(TOOLS_BIN)/cyclonedx-gomod

.PHONY: goreleaser release-check release-image release-snapshot
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

RELEASE_OUT := _out/release
RELEASE_ARCHS := amd64 arm64
empty :=
comma := ,

# The multi-arch agent image: the static binary for linux/amd64 and linux/arm64 (the
# Makefile's flags, so the same bytes as goreleaser's linux CLI builds of this VERSION)
# and ONE OCI image layout archive with an image index over both, tagged $(AGENT_IMAGE),
# checked by mkimage -verify (digests, sizes, each config's platform, each layer's ELF
# machine). goreleaser's before hook runs this with its VERSION and COMMIT.
release-image:
	rm -rf $(RELEASE_OUT) && mkdir -p $(RELEASE_OUT)
	for a in $(RELEASE_ARCHS); do \
		GOOS=linux GOARCH=$$a nice -n 19 $(GO) build -trimpath -tags "$(TAGS)" -ldflags "$(LDFLAGS)" \
			-o $(RELEASE_OUT)/linux_$$a/kubectl-chaos ./cmd/kubectl-chaos || exit 1; \
	done
	$(MKIMAGE) -oci -arch $(subst $(empty) $(empty),$(comma),$(RELEASE_ARCHS)) -tag $(AGENT_IMAGE) \
		-o $(RELEASE_OUT)/kubectl-chaos-agent_$(VERSION).oci.tar \
		-file '$(RELEASE_OUT)/linux_{arch}/kubectl-chaos:/kubectl-chaos' -dir /tmp:1777 -entrypoint /kubectl-chaos
	$(MKIMAGE) -verify $(RELEASE_OUT)/kubectl-chaos-agent_$(VERSION).oci.tar \
		-arch $(subst $(empty) $(empty),$(comma),$(RELEASE_ARCHS)) -tag $(AGENT_IMAGE)

# goreleaser drops all git information (commit "none", snapshot 0.0.1-snapshot.none)
# when `git ls-remote --get-url` fails, as it does in a clone without a remote (this
# machine's): name one for its git processes only (GIT_CONFIG_* environment, git ≥ 2.31;
# nothing is written to .git/config; --get-url does not connect).
RELEASE_GIT_ENV := GIT_CONFIG_COUNT=1 GIT_CONFIG_KEY_0=remote.origin.url \
	GIT_CONFIG_VALUE_0=https://github.com/kubectl-chaos/kubectl-chaos.git

# Everything a release builds, offline, into dist/: the CLI for linux/darwin/windows ×
# amd64/arm64 (archives, SBOMs, checksums) and the multi-arch agent image archive
# (release-image, through goreleaser's before hook), then mk/release-verify.sh checks
# the result (checksums, the version and default image a snapshot binary prints, the
# image's binaries = the linux CLI's). Not part of `make test`: it compiles six CLI
# targets (docs/release.md has the time). nice: the machine is shared. --timeout:
# goreleaser cancels the whole release after 1 h by default, which a cold-cache snapshot
# on a loaded 2-core machine exceeds (it did: 1h0m11s, four targets still compiling).
RELEASE_TIMEOUT := 4h
release-snapshot: $(GORELEASER) $(CYCLONEDX_GOMOD)
	$(RELEASE_GIT_ENV) PATH=$(TOOLS_BIN):$$PATH nice -n 19 $(GORELEASER) release --snapshot --clean --skip=publish,sign --timeout $(RELEASE_TIMEOUT)
	bash mk/release-verify.sh dist $(RELEASE_OUT)
