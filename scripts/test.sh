#!/usr/bin/env bash
# test.sh - the whole test suite (README's test command; .ci/run calls it). Run as root on
# Debian 12: installs dependencies, builds, and runs
#   1. unit + loopback tests under AddressSanitizer + UndefinedBehaviorSanitizer,
#   2. the same tests in the optimised build,
#   3. every fuzz target over its committed corpus plus a short fuzzing burst (5 s per target;
#      CS_FUZZ_SECONDS=N for more; long fuzzing stays out of CI: docs/fuzzing.md),
#   4. static checks: `make lint` (clang-tidy, cppcheck, scripts/checksrc.sh),
#   5. `make format-check` (.clang-format: the tree is formatted; `make format` applies it),
#   6. the testbed self-test (network namespaces; needs root),
#   7. the probe's integration tests inside the testbed (tests/net/*.sh).
# Prints one closing line "N passed, M failed" over all stages.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
scripts/setup.sh || { echo "setup failed"; exit 1; }
JOBS=$(nproc 2>/dev/null || echo 2)
total_pass=0; total_fail=0
timings=()
stage() { # stage NAME CMD... : runs CMD, adds its "N passed, M failed" line to the totals
  local name=$1; shift
  echo "=== $name"
  local log; log=$(mktemp)
  local t0=$SECONDS
  "$@" 2>&1 | tee "$log"; local rc=${PIPESTATUS[0]}
  local secs=$((SECONDS - t0))
  local line; line=$(grep -E '^[A-Za-z_ -]*:? ?[0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  local p f
  p=$(sed -nE 's/.*\b([0-9]+) passed.*/\1/p' <<<"$line"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  total_pass=$((total_pass + p)); total_fail=$((total_fail + f))
  echo "=== $name: exit $rc ($p passed, $f failed) in ${secs} s"
  timings+=("$(printf '%6d s  %s' "$secs" "$name")")
  rm -f "$log"
}
stage "unit tests (ASan+UBSan)" make -s -j"$JOBS" BUILD=asan check
stage "unit tests (release)" make -s -j"$JOBS" check
stage "fuzz corpus replay" make -s -j"$JOBS" fuzz-replay FUZZ_SECONDS="${CS_FUZZ_SECONDS:-5}"
stage "lint" env CS_LINT_JOBS="$JOBS" make -s lint
stage "format-check" make -s format-check
if [ -x testbed/testbed ]; then
  stage "testbed self-test" testbed/testbed selftest
fi
for t in tests/net/*.sh; do
  [ -e "$t" ] || continue
  stage "$(basename "$t" .sh)" bash "$t"
done
echo
echo "=== time per stage"
printf '%s\n' "${timings[@]}"
echo
echo "$total_pass passed, $total_fail failed"
[ "$total_fail" -eq 0 ]
