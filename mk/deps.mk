# The one install step (issue 19): the Debian packages in mk/packages that the machine
# image lacks, installed by mk/deps.sh when missing (quiet when nothing is). Every target
# that runs something from those packages depends on it, so the README's commands work on
# a fresh machine. docs/dependencies.md says why each package is there.
.PHONY: deps check-deps
deps:
	@bash mk/deps.sh

test demo cluster-up cluster-check test-e2e test-netem bench bench-agent bench-e2e bench-nfqueue bench-stress bench-io: deps

# Every command called by the Makefile, mk/*.mk, the project's shell scripts and the
# exec.Command literals in Go comes from a package of the image (mk/image-packages) or
# of the install step (mk/packages), or is a builtin, a function or a binary the project
# builds. The checker is a module of its own (internal/depcheck): its shell parser stays
# out of the product's go.mod. Its own tests run first.
check-deps: deps
	@cd internal/depcheck && $(GO) vet ./... && $(GO) test -count=1 ./... && \
		$(GO) run . -root $(CURDIR)
