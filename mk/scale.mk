# Scale benchmarks (issue 16; internal/e2e/scale): the CLI against a kwok cluster (100
# fake nodes, 1000 target pods: etcd and kube-apiserver from `make cluster-build`, kwok's
# controller as a plain process) and the attach/stream fan-out at 100 helpers. kwok is
# installed from the module proxy into the project-local tools dir (never by hand),
# pinned like goreleaser in release.mk.
KWOK_VERSION := v0.7.0
SCALE_TOOLS := $(CURDIR)/_out/tools
KWOK := $(SCALE_TOOLS)/kwok-$(KWOK_VERSION)
SCALE_PKG := ./internal/e2e/scale/
# Sizes of `make test`'s smoke run (the full sizes are the benchmark's defaults).
SCALE_SMOKE := SCALE_NODES=10 SCALE_PODS=100 SCALE_ONE_BY_ONE=3 SCALE_FANOUT_HELPERS=10

TEST_TARGETS += test-scale

.PHONY: kwok bench-scale test-scale
kwok: $(KWOK)
$(KWOK):
	@mkdir -p $(SCALE_TOOLS)/kwok-build
	GOBIN=$(SCALE_TOOLS)/kwok-build CGO_ENABLED=0 $(GO) install sigs.k8s.io/kwok/cmd/kwok@$(KWOK_VERSION)
	mv $(SCALE_TOOLS)/kwok-build/kwok $@ && rmdir $(SCALE_TOOLS)/kwok-build

# The table: SCALE_NODES, SCALE_PODS, SCALE_ONE_BY_ONE, SCALE_FANOUT_HELPERS and
# SCALE_FANOUT_TARGETS change the sizes.
bench-scale: $(KWOK) cluster-build
	SCALE_KWOK=$(KWOK) SCALE_K8S_BIN=$$($(E2E_DIR)/harness/build.sh --dir) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 30m $(SCALE_PKG)

# One quick run of both benchmarks at 10 nodes/helpers (part of make test).
test-scale: $(KWOK) cluster-build
	$(SCALE_SMOKE) SCALE_KWOK=$(KWOK) SCALE_K8S_BIN=$$($(E2E_DIR)/harness/build.sh --dir) $(GO) test -count=1 -run '^$$' -bench . -benchtime 1x -timeout 10m $(SCALE_PKG)
