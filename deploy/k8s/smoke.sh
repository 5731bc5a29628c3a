#!/usr/bin/env bash
# The README's curl checks against a running lab, wherever it runs (kind,
# k3d, swarm, compose): replicas, cache-aside, a write, sessions, the edge,
# the origin, Prometheus. Fails on the first claim that does not hold.
#   HOST (127.0.0.1) and LB_PORT, EDGE_SYDNEY_PORT, ORIGIN_PORT,
#   PROMETHEUS_PORT (8000, 8081, 8090, 9090); PROMETHEUS_TARGETS (10).
set -euo pipefail
h="${HOST:-127.0.0.1}"
lb="http://$h:${LB_PORT:-8000}"
edge="http://$h:${EDGE_SYDNEY_PORT:-8081}"
origin="http://$h:${ORIGIN_PORT:-8090}"
prom="http://$h:${PROMETHEUS_PORT:-9090}"
fail() { echo "smoke: FAIL: $*" >&2; exit 1; }
ok() { echo "smoke: ok: $*"; }
# header NAME: reads a response (curl -si) on stdin, prints that header's value.
header() { tr -d '\r' | awk -v n="$(echo "$1" | tr A-Z a-z)" 'BEGIN{FS=": "} tolower($1)==n {print $2; exit}'; }

# Replicas: one lb cycles through every api replica, so a dozen requests
# (spread over however many lbs) reach all three.
served=$(for i in $(seq 12); do curl -sf -si "$lb/" | header X-Served-By; done | sort -u | wc -l)
[ "$served" -eq 3 ] || fail "12 requests reached $served api replicas, want 3"
ok "12 requests reached 3 replicas"

# Cache-aside: a miss, a hit; a write invalidates (the first may be a hit
# if the lab served user 42 before, hence the write first).
curl -sf -X PUT "$lb/users/42" -d '{"name":"Ada Lovelace","email":"ada@example.com"}' >/dev/null || fail "PUT /users/42"
first=$(curl -sf -si "$lb/users/42") || fail "GET /users/42"
second=$(curl -sf -si "$lb/users/42")
[ "$(header X-Cache <<<"$first")" = MISS ] || fail "after a write: X-Cache $(header X-Cache <<<"$first"), want MISS"
[ "$(header X-Cache <<<"$second")" = HIT ] || fail "second read: X-Cache $(header X-Cache <<<"$second"), want HIT"
grep -q '"Ada Lovelace"' <<<"$second" || fail "the hit does not carry the written name"
ok "user 42: MISS after the write, then HIT (shard $(header X-Shard <<<"$second"))"

# Sessions: made on one replica, valid on the others.
jar=$(mktemp)
trap 'rm -f "$jar"' EXIT
curl -sf -c "$jar" -X POST "$lb/login" -d '{"user_id":42}' >/dev/null || fail "POST /login"
for i in 1 2 3; do
  curl -sf -b "$jar" "$lb/me" | grep -q '"user_id":42' || fail "GET /me $i did not see the session"
done
ok "a session is valid on every replica"

# The CDN: the far edge misses once, then hits.
a=$(curl -sf -si "$edge/logo.png") || fail "GET $edge/logo.png"
b=$(curl -sf -si "$edge/logo.png")
[ "$(header X-Cache <<<"$b")" = HIT ] || fail "edge: second GET X-Cache $(header X-Cache <<<"$b"), want HIT"
ok "edge: $(header X-Cache <<<"$a") then HIT"

# The origin: validators and Cache-Control.
o=$(curl -sf -sI "$origin/logo.png") || fail "HEAD origin logo"
[ -n "$(header ETag <<<"$o")" ] && [ -n "$(header Cache-Control <<<"$o")" ] || fail "origin: no ETag or Cache-Control"
ok "origin: ETag and Cache-Control"

# Prometheus: every target up (they appear within a few scrapes).
want="${PROMETHEUS_TARGETS:-10}"
for _ in $(seq 45); do
  t=$(curl -sf "$prom/api/v1/targets?state=active" || true)
  total=$(grep -o '"health":"[a-z]*"' <<<"$t" | wc -l)
  up=$(grep -o '"health":"up"' <<<"$t" | wc -l)
  [ "$total" -eq "$want" ] && [ "$up" -eq "$want" ] && { ok "prometheus: $up of $want targets up"; exit 0; }
  sleep 2
done
fail "prometheus: $up of $total targets up, want $want"
