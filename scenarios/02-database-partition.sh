#!/usr/bin/env bash
# Game day: the web tier loses its database. Does it fail fast, serve from cache, and
# recover on its own when the database comes back? The partition runs detached so the
# team can watch from several terminals; `stop` ends it early.
set -euo pipefail
NS=${NS:-shop}

ID=$(kubectl chaos network partition deploy/web -n "$NS" --to svc/db --direction to \
  --duration 5m --detach --yes -o json | jq -r .experiment)
echo "partition running as $ID"

kubectl chaos status "$ID"
sleep 60
kubectl chaos ls -o yaml
kubectl chaos stop "$ID"

# Leftovers from experiments whose CLI was killed are collected here.
kubectl chaos gc
