#!/usr/bin/env bash
# Waits until every container of the compose project is healthy (or running,
# for those without a health check). Compose v2 has `up --wait`; 1.29 has not.
set -euo pipefail
: "${COMPOSE:?}"
timeout="${WAIT_TIMEOUT:-300}"
deadline=$((SECONDS + timeout))
while :; do
  # -a: a container that exited must be seen, to fail at once.
  ids=$($COMPOSE ps -a -q)
  pending=()
  for id in $ids; do
    state=$(docker inspect -f '{{.Name}} {{.State.Status}} {{if .State.Health}}{{.State.Health.Status}}{{else}}none{{end}} {{.RestartCount}}' "$id")
    read -r name status health restarts <<<"$state"
    # With restart: unless-stopped a crashing service shows as restarting
    # (between its attempts), never as exited.
    if [ "$status" = exited ] || [ "$status" = dead ] || [ "$status" = restarting ]; then
      echo "container ${name#/} is $status after $restarts restarts; its last log lines:" >&2
      docker logs --tail 20 "$id" >&2 || true
      exit 1
    fi
    if [ "$status" != running ] || { [ "$health" != healthy ] && [ "$health" != none ]; }; then
      pending+=("${name#/}($health)")
    fi
  done
  if [ -n "$ids" ] && [ ${#pending[@]} -eq 0 ]; then
    exit 0
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "not healthy after ${timeout}s: ${pending[*]}" >&2
    exit 1
  fi
  sleep 2
done
