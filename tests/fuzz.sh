#!/usr/bin/env bash
# Fuzzes every Fuzz* target of the workspace for a bounded time, one target
# at a time (go test -fuzz takes one): FUZZ_TIME each (default 10s), and
# FuzzParseRequest, the lb's own HTTP/1.1 parser checked against net/http's
# (the request-smuggling defence), FUZZ_LONG_TIME (default 60s). About four
# minutes in all on two cores.
#
# A failure leaves its input where go test puts it, in the package's
# testdata/fuzz/FuzzName/, and this script prints it and exits 1: commit
# that file with the fix, and it runs as a seed in every `go test` after.
set -uo pipefail
cd "$(dirname "$0")/.."
short=${FUZZ_TIME:-10s}
long=${FUZZ_LONG_TIME:-60s}
start=$SECONDS

before=$(find . -path '*/testdata/fuzz/*' -type f | sort)
failed=()
log=$(mktemp) && trap 'rm -f "$log"' EXIT
# Every "func FuzzX(f *testing.F)" in a test file, as "dir FuzzX".
mapfile -t targets < <(grep -rlE --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(f \*testing\.F\)' . |
  xargs grep -hoE --with-filename '^func Fuzz[A-Za-z0-9_]*' |
  sed -E 's|^(.*)/[^/]*_test\.go:func (Fuzz.*)$|\1 \2|' | sort -u)
[ ${#targets[@]} -gt 0 ] || { echo "fuzz: no Fuzz targets found" >&2; exit 1; }

for t in "${targets[@]}"; do
  read -r dir name <<<"$t"
  time=$short
  [ "$name" = FuzzParseRequest ] && time=$long
  echo "== fuzz $dir $name for $time"
  # go test -fuzz can end with a bare "context deadline exceeded" and no
  # input saved when the time runs out while it is still minimizing or
  # warming up (a known quirk of Go's fuzzing engine, golang/go#56238): that
  # is the harness, not a crasher, so such a target gets one more run. A
  # saved input fails at once.
  for try in 1 2; do
    # -parallel 2: the machine has two cores; -run '^$': the unit tests ran already.
    go test -run '^$' -fuzz "^${name}\$" -fuzztime "$time" -parallel 2 "$dir" >"$log" 2>&1
    rc=$?
    tail -n 25 "$log"
    [ $rc = 0 ] && break
    if [ $try = 1 ] && [ -z "$(ls "$dir/testdata/fuzz/$name" 2>/dev/null | comm -13 <(echo "$before" | sed -n "s|^$dir/testdata/fuzz/$name/||p") -)" ] &&
       grep -q '^    context deadline exceeded$' "$log" && ! grep -q 'Failing input written' "$log"; then
      echo "== fuzz $dir $name: the engine timed out without an input (no crasher); once more"
      continue
    fi
    failed+=("$dir $name")
    break
  done
done

after=$(find . -path '*/testdata/fuzz/*' -type f | sort)
new=$(comm -13 <(echo "$before") <(echo "$after"))
echo "== fuzzed ${#targets[@]} targets in $((SECONDS - start)) s"
if [ ${#failed[@]} -gt 0 ] || [ -n "$new" ]; then
  echo "FUZZING FOUND A FAILURE in: ${failed[*]}" >&2
  for f in $new; do
    echo "-- new crasher $f (commit it with the fix):" >&2
    cat "$f" >&2
  done
  exit 1
fi
