#!/usr/bin/env bash
# Removes a scalelab swarm stack with its volumes and configs, and leaves the
# swarm if up.sh initialised it and no other stack runs in it.
#   SWARM_STACK   stack name (default scalelab)
#   KEEP_VOLUMES=1 keeps the data volumes
set -euo pipefail
stack="${SWARM_STACK:-scalelab}"

if [ "$(docker info --format '{{.Swarm.LocalNodeState}}')" != active ]; then
  echo "no swarm on this engine: nothing to remove"
  exit 0
fi
docker stack rm "$stack" >/dev/null 2>&1 || true

# stack rm returns at once; tasks stop within their stop_grace_period (20 s).
filter="label=com.docker.stack.namespace=$stack"
for _ in $(seq 60); do
  if [ -z "$(docker ps -aq --filter "$filter")" ] && [ -z "$(docker network ls -q --filter "$filter")" ]; then
    break
  fi
  sleep 1
done
if [ "${KEEP_VOLUMES:-0}" != 1 ]; then
  vols=$(docker volume ls -q --filter "$filter")
  [ -z "$vols" ] || docker volume rm $vols >/dev/null
fi

made=$(docker node inspect self --format '{{index .Spec.Labels "scalelab.made"}}' 2>/dev/null || true)
if [ -n "$made" ]; then
  if [ -n "$(docker stack ls --format '{{.Name}}')" ]; then
    echo "other stacks run in the swarm this lab made: leaving it up" >&2
    exit 0
  fi
  echo "leaving the swarm this lab made"
  docker swarm leave --force >/dev/null
  if [ "$made" = swarm+gwbridge ]; then
    docker network rm docker_gwbridge >/dev/null 2>&1 || true
  fi
fi
