# Binary size (issue 17): the shipped binary (= the agent image's content) and where its
# bytes go, by package and by module, read from a twin linked with its symbol table
# (same code and flags but -s). Fails above SIZE_MAX bytes or when the linker had to keep
# every exported method (text/template linked).
SIZE_MAX ?= 40000000
TEST_TARGETS += size

.PHONY: size
size: build
	$(GO) build -trimpath -tags "$(TAGS)" -ldflags "$(filter-out -s,$(LDFLAGS))" -o $(BIN).syms ./cmd/kubectl-chaos
	$(GO) run ./internal/cmd/binsize -max $(SIZE_MAX) $(BIN) $(BIN).syms
