# IO faults (issue 11): asked vs seen, the throughput of the FUSE mount against the bare
# directory, the cost of an open, how long a process is stopped to move its descriptors.
# Root (mount and PID namespaces, FUSE, ptrace).
.PHONY: bench-io
bench-io:
	$(GO) test -count=1 -run '^$$' -bench IO -benchtime 1x -v ./internal/fault/iofault/
