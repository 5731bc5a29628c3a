#!/usr/bin/env bash
# Deploys scalelab as a swarm stack: joins nothing, but initialises a
# single-node swarm when this engine is in none (and labels the node so that
# down.sh knows to leave it), deploys deploy/swarm/stack.yml, and waits until
# every service runs all its replicas.
#   SWARM_STACK   stack name (default scalelab)
#   WAIT_TIMEOUT  seconds to wait for the replicas (default 300)
# Image, port and other variables are those of docker-compose.yml.
set -euo pipefail
cd "$(dirname "$0")/../.."
stack="${SWARM_STACK:-scalelab}"
timeout="${WAIT_TIMEOUT:-300}"

state=$(docker info --format '{{.Swarm.LocalNodeState}}')
if [ "$state" = inactive ]; then
  made=swarm
  # docker_gwbridge outlives `swarm leave`: remove it then only if we made it.
  docker network inspect docker_gwbridge >/dev/null 2>&1 || made=swarm+gwbridge
  echo "initialising a single-node swarm on this engine"
  # 127.0.0.1: one node needs no address others can reach, and a host with
  # several interfaces would otherwise make init ask which one to advertise.
  docker swarm init --advertise-addr 127.0.0.1 >/dev/null
  node=$(docker info --format '{{.Swarm.NodeID}}')
  if ! docker node update --label-add "scalelab.made=$made" "$node" >/dev/null; then
    docker swarm leave --force >/dev/null # unlabelled, down.sh would not know to leave it
    exit 1
  fi
elif [ "$state" != active ]; then
  echo "error: this engine's swarm is $state; expected inactive or active" >&2
  exit 1
fi

# The data services stay on this node: their volumes are here.
export SWARM_DATA_NODE="${SWARM_DATA_NODE:-$(docker node inspect self --format '{{.Description.Hostname}}')}"
# --resolve-image never: the images are local; asking a registry for their
# digests would fail (or hang) on a machine without one.
docker stack deploy --resolve-image never -c deploy/swarm/stack.yml "$stack"

deadline=$((SECONDS + timeout))
while :; do
  pending=$(docker service ls --filter "label=com.docker.stack.namespace=$stack" --format '{{.Name}} {{.Replicas}}' |
    awk '{split($2, r, "/"); if (r[1] != r[2]) print $1 "(" $2 ")"}')
  services=$(docker service ls -q --filter "label=com.docker.stack.namespace=$stack" | wc -l)
  if [ "$services" -gt 0 ] && [ -z "$pending" ]; then
    break
  fi
  if [ $SECONDS -ge $deadline ]; then
    echo "not every replica runs after ${timeout}s: $pending" >&2
    for s in $pending; do
      docker service ps --no-trunc --format '{{.Name}} {{.CurrentState}} {{.Error}}' "${s%%(*}" | head -5 >&2
    done
    exit 1
  fi
  sleep 2
done
echo "stack $stack: every service runs its replicas"
