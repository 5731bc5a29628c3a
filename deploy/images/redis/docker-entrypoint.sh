#!/bin/sh
set -e
# `docker run image --maxmemory 64mb` means redis-server with those flags.
if [ "${1#-}" != "$1" ]; then set -- redis-server "$@"; fi
if [ "$1" = redis-server ]; then
  shift
  # Later flags win, so the user's own flags still override these defaults.
  set -- redis-server --bind 0.0.0.0 --protected-mode no --dir /data --logfile "" "$@"
fi
exec "$@"
