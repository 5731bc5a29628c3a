#!/usr/bin/env bash
# Prints "official" when a container registry answers, "local" otherwise.
# The probe pulls the Redis image the stack needs anyway; on a machine with
# no registry the pull fails at once (no DNS) or within the timeout.
if timeout 60 docker pull -q "${REDIS_IMAGE:-redis:7-bookworm}" >/dev/null 2>&1; then
  echo official
else
  echo local
fi
