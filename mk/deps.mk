# The one install step (issue 19): the Debian packages in mk/packages that the machine
# image lacks, installed by mk/deps.sh when missing (quiet when nothing is). Every target
# that runs something from those packages depends on it, so the README's commands work on
# a fresh machine. docs/dependencies.md says why each package is there.
.PHONY: deps
deps:
	@bash mk/deps.sh

test demo cluster-up cluster-check test-e2e test-netem bench bench-agent bench-e2e bench-nfqueue: deps
