# The netem code path tested for real inside a qemu VM with Debian's stock kernel, and
# the userspace NFQUEUE delay's benchmark (issue 6). See internal/e2e/netemvm/run.sh and
# internal/fault/network/nfqdelay/README.md.
TEST_TARGETS += test-netem

.PHONY: test-netem bench-nfqueue

# Boots a VM (TCG) running the netem tests and the native nft queue path; fails if the
# tests fail or never report. Downloads are cached in ~/.cache/kubectl-chaos/netemvm.
test-netem:
	GO=$(GO) bash internal/e2e/netemvm/run.sh

# Accuracy, pps ceiling, TCP throughput under delay and agent CPU of the NFQUEUE delay,
# as a table (root; a few tens of seconds).
bench-nfqueue:
	$(GO) test -count=1 -run '^$$' -bench 'NFQueue' -benchtime 1x ./internal/fault/network/nfqdelay/
