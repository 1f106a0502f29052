#!/usr/bin/env bash
# run-unit-tests.sh - runs each test binary in its own process with a timeout and prints a
# closing "N passed, M failed" line (counting test binaries' cmocka results).
set -u
pass=0; fail=0; failed=()
for t in "$@"; do
  out=$(timeout -k 5 ${CS_TEST_TIMEOUT:-120} "$t" 2>&1); rc=$?
  p=$(printf '%s\n' "$out" | sed -n 's/^\[  PASSED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END{print s+0}')
  f=$(printf '%s\n' "$out" | sed -n 's/^\[  FAILED  \] \([0-9]*\) test.*/\1/p' | awk '{s+=$1} END{print s+0}')
  if [ $rc -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  pass=$((pass + p)); fail=$((fail + f))
  if [ $rc -ne 0 ]; then
    failed+=("$(basename "$t")")
    printf '%s\n' "$out" | tail -40
    echo "FAIL: $(basename "$t") (exit $rc)"
  else
    echo "ok:   $(basename "$t") ($p tests)"
  fi
done
echo "unit: $pass passed, $fail failed"
[ ${#failed[@]} -eq 0 ]
