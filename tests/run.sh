#!/usr/bin/env bash
# Runs the tests of every module of go.work (docs/tests.md):
#   tests/run.sh unit   go vet (without and with the build tags, so that
#                       tagged files are vetted too), then `go test -race`
#                       without tags: no container starts, since every test
#                       file that needs one is built only with the
#                       `containers` tag; a few minutes.
#   tests/run.sh all    the same, then the tests of the `containers`-tagged
#                       files, one package at a time (two packages of
#                       containers at once on two cores starve each other),
#                       the whole-stack package under the stack lock.
# Either ends with a summary (tests/internal/testsum): what ran, passed,
# failed and was skipped, and how long it took.
set -uo pipefail
cd "$(dirname "$0")/.."
mode=${1:?usage: tests/run.sh unit|all}
out=${TEST_OUT:-.test-results}
start=$(date +%s)
mkdir -p "$out" && rm -f "$out"/*.json
go build -o "$out/testsum" ./tests/internal/testsum || exit 1
sum=$out/testsum

mapfile -t modules < <(go list -m -f '{{.Dir}}' | sed "s|^$PWD|.|; s|\$|/...|")
echo "== go vet ${modules[*]}"
go vet "${modules[@]}" || exit 1
# containers: make test's; experiments: make test-experiments'.
echo "== go vet -tags containers,experiments"
go vet -tags containers,experiments "${modules[@]}" || exit 1

echo "== unit: go test -race (no tags: no containers)"
status=0
go test -race -count=1 -timeout 10m -json "${modules[@]}" | "$sum" record "$out/unit.json" || status=1
if [ "$mode" = unit ] || [ "$status" != 0 ]; then
  "$sum" report -since "$start" unit="$out/unit.json" || status=1
  exit "$status"
fi

# Only the tests of the tagged files: the package's others ran just above.
tagged=$("$sum" tagged containers "${modules[@]}") || exit 1
touch "$out/containers.json"
while IFS=$'\t' read -r pkg tests; do
  lock=()
  # The whole stack holds the usual ports; the swarm test turns the engine
  # into a swarm for a while: neither shares the engine with the other.
  case $pkg in */tests/stack | */tests/swarm) lock=(flock /tmp/scalelab-stack.lock) ;; esac
  echo "== containers: $pkg $tests"
  "${lock[@]}" go test -tags containers -count=1 -timeout 30m -json -run "$tests" "$pkg" |
    "$sum" record "$out/package.json" || status=1
  cat "$out/package.json" >>"$out/containers.json"
done <<<"$tagged"
"$sum" report -since "$start" unit="$out/unit.json" containers="$out/containers.json" || status=1
exit "$status"
