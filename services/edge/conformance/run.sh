#!/usr/bin/env bash
# Runs the HTTP caching conformance suite (http-tests/cache-tests, the suite
# behind cache-tests.fyi) against a freshly built edge on loopback, prints
# the score, and fails when fewer tests pass than the floors.
#
#   services/edge/conformance/run.sh CACHE_TESTS_DIR [RUNS]
#
# CACHE_TESTS_DIR holds the suite and its runner (run.sh, score.mjs; on this
# project's machines ../shared/cache-tests). Each of RUNS (default 1) runs
# the whole suite against a new edge process, so no run inherits another's
# cache. Floors: CONFORMANCE_REQUIRED, CONFORMANCE_OPTIMAL.
set -euo pipefail
suite=${1:?usage: run.sh CACHE_TESTS_DIR [RUNS]}
runs=${2:-1}
need_required=${CONFORMANCE_REQUIRED:?set CONFORMANCE_REQUIRED, the floor of required tests passed}
need_optimal=${CONFORMANCE_OPTIMAL:?set CONFORMANCE_OPTIMAL, the floor of optimal tests passed}
[ -x "$suite/run.sh" ] || { echo "conformance: no cache-tests runner at $suite/run.sh (set CACHE_TESTS)" >&2; exit 1; }
command -v node >/dev/null || { echo "conformance: node is not installed (apt-get install nodejs)" >&2; exit 1; }
cd "$(dirname "$0")/../../.."

work=$(mktemp -d)
edge_pid=
trap '[ -n "$edge_pid" ] && kill "$edge_pid" 2>/dev/null; rm -rf "$work"' EXIT
go build -o "$work/edge" ./services/edge/cmd/edge

# free_port prints a loopback port nothing listens on, below Linux's
# ephemeral range (32768 up), where outgoing connections take theirs, and
# other than the ports named as arguments.
free_port() {
  local p
  for _ in $(seq 1 100); do
    p=$((20000 + RANDOM % 12000))
    case " $* " in *" $p "*) continue ;; esac
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "conformance: no free port found" >&2; exit 1
}

fail=0
for run in $(seq 1 "$runs"); do
  origin_port=$(free_port); edge_port=$(free_port "$origin_port"); admin_port=$(free_port "$origin_port" "$edge_port")
  ORIGIN_URL=http://127.0.0.1:$origin_port LISTEN_ADDR=127.0.0.1:$edge_port ADMIN_ADDR=127.0.0.1:$admin_port \
    INSTANCE_ID=edge-conformance LOG_LEVEL=warn "$work/edge" >"$work/edge-$run.log" 2>&1 &
  edge_pid=$!
  for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$edge_port") 2>/dev/null && break; sleep 0.1; done
  # Ten minutes bounds a hung run; a whole run takes one or two.
  timeout 600 "$suite/run.sh" "http://127.0.0.1:$edge_port" "$origin_port" "$work/results-$run.json" >"$work/score-$run.txt" 2>&1 || true
  kill "$edge_pid" 2>/dev/null; wait "$edge_pid" 2>/dev/null || true; edge_pid=
  required=$(sed -nE 's/^cache-tests: required passed ([0-9]+) of [0-9]+$/\1/p' "$work/score-$run.txt")
  optimal=$(sed -nE 's/^optimal: .*"pass":([0-9]+).*/\1/p' "$work/score-$run.txt")
  if [ -z "$required" ]; then
    echo "conformance run $run: the suite did not finish:"; tail -20 "$work/score-$run.txt"; fail=1; continue
  fi
  grep -vE '^(check|optimal|required|cache-tests):' "$work/score-$run.txt" | sed 's/^/  /' || true
  echo "conformance run $run: required passed $required of 160 (floor $need_required), optimal passed ${optimal:-0} (floor $need_optimal)"
  if [ "$required" -lt "$need_required" ] || [ "${optimal:-0}" -lt "$need_optimal" ]; then
    echo "conformance run $run: below the floor; the edge's warnings:"; grep -m 20 . "$work/edge-$run.log" || true
    fail=1
  fi
done
exit "$fail"
