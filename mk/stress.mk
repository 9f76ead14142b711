# Stress faults (issue 10): asked vs measured CPU and memory from a stand-in cgroup's own
# accounting, time to start and to stop a stressor, kill -9 of the agent (root, ~1 min).
.PHONY: bench-stress
bench-stress:
	$(GO) test -count=1 -run '^$$' -bench 'Stress' -benchtime 1x ./internal/fault/stress/
