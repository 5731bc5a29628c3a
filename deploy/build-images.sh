#!/usr/bin/env bash
# Builds every image the stack and the tests need.
#   IMAGES=local    no registry: a Debian base from debootstrap, stand-ins for
#                   PostgreSQL, Redis and Prometheus from Debian's packages, a
#                   Go builder from this machine's toolchain, modules vendored.
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
  # The build context carries the modules: HTTPS downloads inside builds
  # are not possible here. The vendor folder lives only for the build, so
  # host builds keep using the module cache.
  go work vendor
  trap 'rm -rf vendor' EXIT
fi

echo "building service images (lb, api, edge, origin)"
$COMPOSE build lb api origin edge-sydney edge-newyork
