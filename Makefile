# kubectl-chaos — build, test, demo. Fragments in mk/*.mk add their own targets
# (cluster harness, netem VM, ...) and append to TEST_TARGETS.
SHELL := /bin/bash
GO ?= go
# Computed once per make (given on the command line or in the environment: kept). A
# recursive ?= ran git describe again at each use: a commit during `make test-e2e` gave
# AGENT_IMAGE …:X-dirty (parsed first) next to VERSION Y (expanded in the recipe).
ifeq ($(origin VERSION),undefined)
VERSION := $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
endif
ifeq ($(origin COMMIT),undefined)
COMMIT := $(shell git rev-parse --short HEAD 2>/dev/null || echo none)
endif
PKG := github.com/kubectl-chaos/kubectl-chaos
LDFLAGS := -s -w -X $(PKG)/internal/version.Version=$(VERSION) -X $(PKG)/internal/version.Commit=$(COMMIT)
# grpcnotrace: gRPC (the agent's containerd lookup) otherwise links golang.org/x/net/trace,
# whose html/template turns off the linker's removal of unused methods (+21 MB; docs/dependencies.md).
TAGS := grpcnotrace
BIN := bin/kubectl-chaos
PREFIX ?= /usr/local
export CGO_ENABLED := 0

# Targets run by `make test`, in order. Fragments append.
TEST_TARGETS := vet check-deps test-unit

.PHONY: all build install test vet test-unit cross fmt bench clean
all: build

build:
	$(GO) build -trimpath -tags "$(TAGS)" -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/kubectl-chaos

install: build
	install -m 0755 $(BIN) $(PREFIX)/bin/kubectl-chaos
	install -m 0755 completions/kubectl_complete-chaos $(PREFIX)/bin/kubectl_complete-chaos

fmt:
	gofmt -w $$(git ls-files '*.go')

vet:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || { echo "gofmt needed:"; gofmt -l $$(git ls-files '*.go'); exit 1; }
	$(GO) vet ./...

# Unit tests and the root integration tests (netns, nftables, tc): these skip with a
# reason when not root. -p 1 keeps tests that measure real traffic off each other's CPU.
test-unit:
	$(GO) test -count=1 -p 1 ./...

# Go benchmarks of the CLI and agent hot paths (root for the network ones). The NFQUEUE
# delay and the end-to-end figures have their own tables: make bench-nfqueue, bench-e2e.
bench:
	$(GO) test -count=1 -run '^$$' -bench . -benchmem ./internal/target/ ./internal/app/ \
		./internal/fault/journal/ ./internal/fault/network/

cross:
	GOOS=darwin GOARCH=arm64 $(GO) build ./...
	GOOS=windows GOARCH=amd64 $(GO) build ./...
	GOOS=linux GOARCH=arm64 $(GO) build ./...

-include mk/*.mk

test: $(TEST_TARGETS)

clean:
	rm -rf bin
