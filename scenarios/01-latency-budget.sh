#!/usr/bin/env bash
# Game day: does the checkout path stay within its latency budget when the API pods
# answer 100ms slower? Look at the plan first, then inject for two minutes while you
# watch your dashboards. Ctrl-C at any time removes the fault.
set -euo pipefail
NS=${NS:-shop}

# 1. What exactly would happen (creates nothing).
kubectl chaos network delay deploy/api -n "$NS" --latency 100ms --jitter 10ms --dry-run

# 2. Inject on one pod first, reproducibly, then on all of them.
kubectl chaos network delay deploy/api -n "$NS" --latency 100ms --jitter 10ms \
  --mode one --seed 42 --duration 2m --yes
kubectl chaos network delay deploy/api -n "$NS" --latency 100ms --jitter 10ms \
  --duration 2m --yes
