#!/usr/bin/env bash
# Builds every image the stack and the tests need.
#   IMAGES=local    no registry: a Debian base from debootstrap, stand-ins for
#                   PostgreSQL, Redis and Prometheus from Debian's packages, a
#                   Go builder from this machine's toolchain; the services
#                   compiled on the host and copied into their images.
#   IMAGES=official a registry is reachable: official images, modules
#                   downloaded inside the build.
# Everything is incremental: present images are kept, Docker's layer cache
# makes an unchanged rebuild of the services take seconds.
set -euo pipefail
cd "$(dirname "$0")/.."
: "${IMAGES:?IMAGES must be local or official}"
: "${COMPOSE:?COMPOSE must name the compose command}"

if [ "$IMAGES" = local ]; then
  deploy/images/base/build.sh
  for img in postgres redis prometheus; do
    var="$(echo "$img" | tr a-z A-Z)_IMAGE"
    name="${!var:-scalelab/$img:dev}"
    if docker image inspect "$name" >/dev/null 2>&1; then
      echo "stand-in $name already present"
    else
      echo "building stand-in $name from Debian's packages"
      docker build -q -t "$name" --build-arg BASE_IMAGE="${BASE_IMAGE:-scalelab/debian:bookworm}" "deploy/images/$img" >/dev/null
    fi
  done
  deploy/images/gobuilder/build.sh
  # The binaries are compiled here on the host, where Go's build cache
  # makes a rebuild after a small change take seconds instead of minutes
  # in a fresh build container, and where the module cache already holds
  # every module (HTTPS downloads inside builds are not possible here).
  # The Dockerfile's build stage takes them from .build/bin when present;
  # the folder lives only for the build.
  trap 'rm -rf .build' EXIT
  echo "compiling the services on the host"
  rm -rf .build && mkdir -p .build/bin
  CGO_ENABLED=0 GOOS=linux GOFLAGS=-trimpath go build -buildvcs=false -ldflags="-s -w" -o .build/bin/ \
    ./services/api/cmd/api ./services/shardctl ./services/lb/cmd/lb ./services/edge/cmd/edge ./services/origin/cmd/origin
fi

echo "building service images (lb, api, edge, origin)"
$COMPOSE build lb api origin edge-sydney edge-newyork
