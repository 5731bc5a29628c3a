#!/usr/bin/env bash
# Writes the settings `make up` runs with into .env, which Compose reads, so
# that plain compose commands afterwards (`docker compose up -d --scale
# api=5`, ps, logs, exec) run the same project, images and ports instead of
# the compose file's defaults (the official images, which need a registry).
#
# Written: COMPOSE_PROJECT_NAME, and every variable docker-compose.yml names
# that is set in this environment (the Makefile sets the image variables
# under IMAGES=local; `LB_PORT=18000 make up` sets a port). They go in one
# marked block that each `make up` rewrites; every line outside it is the
# user's, kept as it is, and a variable the user sets there is not written.
#
# Usage: deploy/write-env.sh [DIR]   (DIR holds docker-compose.yml; default .)
set -euo pipefail
dir=${1:-.}
env_file=$dir/.env
begin='# >>> written by `make up` (rewritten by each; lines outside this block are yours and win)'
end='# <<< written by `make up`'

# The user's lines: the file without our block.
user=
if [ -f "$env_file" ]; then
  user=$(awk -v b="$begin" -v e="$end" '$0==b{skip=1} !skip{print} $0==e{skip=0}' "$env_file")
fi
user_keys=$(printf '%s\n' "$user" | sed -nE 's/^[[:space:]]*(export[[:space:]]+)?([A-Za-z_][A-Za-z0-9_]*)=.*/\2/p')

names=$( { echo COMPOSE_PROJECT_NAME; grep -oE '\$\{[A-Za-z_][A-Za-z0-9_]*' "$dir/docker-compose.yml" | cut -c3-; } | sort -u)
block=$begin$'\n'
[ -n "${IMAGES:-}" ] && block+="# images: IMAGES=$IMAGES"$'\n'
for name in $names; do
  [ -n "${!name+set}" ] || continue
  if grep -qxF "$name" <<<"$user_keys"; then
    echo "write-env: .env sets $name itself; plain compose commands will use that, not ${!name}" >&2
    continue
  fi
  value=${!name}
  case $value in
    *"'"* | *$'\n'*) echo "write-env: $name is not written to .env: its value holds a quote or a newline" >&2; continue ;;
  esac
  block+="$name='$value'"$'\n'
done
block+=$end

tmp=$(mktemp "$env_file.XXXXXX")
{
  if [ -n "$user" ]; then printf '%s\n' "$user"; fi
  printf '%s\n' "$block"
} >"$tmp"
mv "$tmp" "$env_file"
