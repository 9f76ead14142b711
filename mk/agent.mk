# Agent footprint (issue 5: helper RSS ≤ 30 MiB during a network fault, image ≤ 60 MB).
# Builds the binary like `make build` and prints its size and the agent's VmRSS /
# RssAnon / RssFile idle and during a network fault held AGENT_RSS_HOLD (root).
AGENT_RSS_HOLD ?= 60s

.PHONY: bench-agent
bench-agent:
	AGENT_RSS_HOLD=$(AGENT_RSS_HOLD) $(GO) test -count=1 -run '^$$' -bench AgentRSS -benchtime 1x ./internal/agent/
