#!/usr/bin/env bash
# Waits until every Deployment and StatefulSet of the lab's namespace has
# rolled out; on a timeout, shows the pods and recent events.
set -euo pipefail
ns="${K8S_NAMESPACE:-scalelab}"
timeout="${WAIT_TIMEOUT:-300}s"
for r in $(kubectl -n "$ns" get deployments,statefulsets -o name); do
  if ! kubectl -n "$ns" rollout status "$r" --timeout="$timeout"; then
    kubectl -n "$ns" get pods -o wide >&2
    kubectl -n "$ns" get events --sort-by=.lastTimestamp | tail -30 >&2
    exit 1
  fi
done
