#!/usr/bin/env bash
# Builds the air-gapped Debian base image (scalelab/debian:bookworm) with
# debootstrap and `docker import`: no registry is needed, only Debian's mirror.
# Idempotent: does nothing when the image already exists.
set -euo pipefail

IMAGE="${BASE_IMAGE:-scalelab/debian:bookworm}"
if docker image inspect "$IMAGE" >/dev/null 2>&1; then
  echo "base image $IMAGE already present"
  exit 0
fi

command -v debootstrap >/dev/null || { echo "debootstrap is missing: run 'make deps' (apt-get install debootstrap)" >&2; exit 1; }

# Use the mirror this machine's apt already uses (deb822 or one-line format).
mirror="${DEBIAN_MIRROR:-}"
if [ -z "$mirror" ]; then
  mirror=$( { grep -hE '^URIs:' /etc/apt/sources.list.d/*.sources 2>/dev/null | awk '{print $2}';
              grep -hE '^deb ' /etc/apt/sources.list /etc/apt/sources.list.d/*.list 2>/dev/null | awk '{print $2}'; } \
            | grep -E '/debian/?$' | head -n1 || true)
fi
mirror="${mirror:-http://deb.debian.org/debian}"

root=$(mktemp -d /tmp/scalelab-rootfs.XXXXXX)
trap 'rm -rf "$root"' EXIT
echo "debootstrap bookworm from $mirror"
debootstrap --variant=minbase bookworm "$root" "$mirror" >/tmp/scalelab-debootstrap.log 2>&1 \
  || { tail -n 30 /tmp/scalelab-debootstrap.log >&2; exit 1; }
# Keep the image small and apt quiet inside builds.
rm -rf "$root"/var/cache/apt/archives/*.deb "$root"/var/lib/apt/lists/*
printf 'APT::Install-Recommends "false";\nAPT::Install-Suggests "false";\n' >"$root/etc/apt/apt.conf.d/99scalelab"
echo "deb $mirror bookworm main" >"$root/etc/apt/sources.list"
tar -C "$root" -c . | docker import \
  --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
  --change 'ENV LANG=C.UTF-8' \
  --change 'CMD ["/bin/bash"]' - "$IMAGE"
echo "built $IMAGE"
