#!/usr/bin/env bash
# lint.sh FILE... - `make lint`: clang-tidy (.clang-tidy), cppcheck and scripts/checksrc.sh over
# the given C files (the Makefile passes src/, tests/ and fuzz/). clang-tidy skips tests/unit/:
# cmocka's assert_* do not return on failure but are not declared noreturn, so the analyzer
# reports every path past a failed assertion (null dereferences, divisions by zero...). CS_LINT_CFLAGS: the include
# path and defines (the Makefile's). Fails on any finding; prints "lint: N passed, M failed"
# (one per tool). Suppressions live in the code as `// NOLINT(check): reason` or
# `// cppcheck-suppress id ; reason`, never here.
set -u
cd "$(dirname "$0")/.."
flags=${CS_LINT_CFLAGS:--std=c17 -D_GNU_SOURCE -Isrc -Itests/support}
jobs=${CS_LINT_JOBS:-2}
pass=0; fail=0
result() { # result NAME RC
  if [ "$2" -eq 0 ]; then echo "ok:   $1"; pass=$((pass + 1)); else echo "FAIL: $1"; fail=$((fail + 1)); fi
}

# clang-tidy: one process per file, $jobs at a time; any warning is an error (.clang-tidy).
log=$(mktemp)
printf '%s\n' "$@" | grep '\.c$' | grep -v '^tests/unit/' |
  xargs -P "$jobs" -I{} sh -c 'clang-tidy --quiet "$1" -- $2 >"$3.$$" 2>&1 || { cat "$3.$$"; echo "clang-tidy failed on $1"; }; rm -f "$3.$$"' \
    _ {} "$flags" "$log" >"$log" 2>&1
grep -E 'warning:|error:|clang-tidy failed' "$log" | grep -v 'warnings generated' >/dev/null
rc=$(( $? == 0 ? 1 : 0 ))
[ "$rc" -ne 0 ] && grep -vE '^[0-9]+ warnings? (and [0-9]+ errors? )?generated|^Suppressed|^Use -header-filter|^Error while processing' "$log"
rm -f "$log"
result clang-tidy "$rc"

# cppcheck: the project's include path; the system headers are not analysed.
incs=$(printf '%s\n' $flags | grep '^-I' | tr '\n' ' ')
# shellcheck disable=SC2086
cppcheck -q --std=c11 --enable=warning,performance,portability --error-exitcode=1 --inline-suppr \
  -D_GNU_SOURCE --suppress=missingIncludeSystem -j "$jobs" $incs "$@"
result cppcheck $?

scripts/checksrc.sh $(printf '%s\n' "$@" | grep -E '^(src|fuzz|tests/support)/')
result checksrc $?

echo "lint: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
