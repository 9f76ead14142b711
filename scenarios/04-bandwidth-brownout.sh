#!/usr/bin/env bash
# Game day: a brown-out instead of an outage. Throttle half of the web pods to 1mbit and
# make a few percent of their packets arrive twice or corrupted; the real world is rarely
# a clean cut.
set -euo pipefail
NS=${NS:-shop}

kubectl chaos network bandwidth deploy/web -n "$NS" --rate 1mbit --limit 32kb --mode percent=50 \
  --duration 3m --yes
kubectl chaos network duplicate deploy/web -n "$NS" --percent 2 --duration 2m --yes
kubectl chaos network corrupt deploy/web -n "$NS" --percent 1 --protocol tcp --duration 2m --yes
kubectl chaos network reorder deploy/web -n "$NS" --percent 25 --gap 5 --latency 10ms --duration 2m --yes
