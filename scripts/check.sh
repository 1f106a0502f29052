#!/usr/bin/env bash
# check.sh BIN MAN TEST... - `make check`: the unit and loopback tests (run-unit-tests.sh),
# then the man page against every --help (check-man.sh); prints each part's own closing line
# and then one "check: N passed, M failed" over both, the line scripts/test.sh counts.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
bin=$1 man=$2
shift 2
P=0; F=0
part() { # part CMD...: runs CMD, adds its "N passed, M failed" line (a failure if none)
  local log rc line p f
  log=$(mktemp)
  "$@" 2>&1 | tee "$log"; rc=${PIPESTATUS[0]}
  line=$(grep -E '^[a-z ]+: [0-9]+ passed, [0-9]+ failed' "$log" | tail -1)
  rm -f "$log"
  p=$(sed -nE 's/.*: ([0-9]+) passed.*/\1/p' <<<"$line"); f=$(sed -nE 's/.* ([0-9]+) failed.*/\1/p' <<<"$line")
  p=${p:-0}; f=${f:-0}
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; fi
  P=$((P + p)); F=$((F + f))
}
part env CS_BIN="$(realpath "$bin")" scripts/run-unit-tests.sh "$@"
part scripts/check-man.sh "$bin" "$man"
echo "check: $P passed, $F failed"
[ "$F" -eq 0 ]
