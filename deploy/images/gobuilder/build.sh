#!/usr/bin/env bash
# Builds the air-gapped stand-in for the official golang image: the Debian
# base plus this machine's own Go toolchain (GOROOT of the host's `go`).
# deploy/build-images.sh compiles the services on the host and hands the
# binaries to the build stage, because HTTPS from inside builds cannot be
# trusted here; this image is the stage's base.
set -euo pipefail
IMAGE="${GO_IMAGE:-scalelab/go:1.26}"
BASE="${BASE_IMAGE:-scalelab/debian:bookworm}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "go builder image $IMAGE already present"
  exit 0
fi
# readlink: a GOROOT reached through a symlink must be copied, not the link.
goroot=$(readlink -f "$(go env GOROOT)")
version=$(go env GOVERSION)
ctr=$(docker create "$BASE" true)
trap 'docker rm -f "$ctr" >/dev/null' EXIT
docker cp "$goroot" "$ctr:/usr/local/go"
docker commit \
  --change 'ENV PATH=/usr/local/go/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV GOTOOLCHAIN=local GOPATH=/go' \
  --change 'WORKDIR /src' \
  "$ctr" "$IMAGE" >/dev/null
echo "built $IMAGE ($version from $goroot)"
