#!/usr/bin/env bash
# throttling_testbed.sh - `censorscope throttling` end to end in the testbed's throttling pack
# (testbed/scenarios/throttling/): every scenario once - SNI policers at 64/150/1000 kbit/s
# down, up and both, the Host-header variant, a stall after 16 KB, throttling after N packets,
# IP-keyed throttling, and the negatives (slow 2 Mbit/s + 100 ms link, 2.5 % loss, a congested
# link, server-side limits). For each, the probe runs in the client namespace against the
# throughput server (`censorscope helper --throughput`, started by the testbed on both
# addresses of the control host) and its verdict, pattern, rate, stall point, direction and key
# are checked against the scenario's `expect` lines (tests/net/check_throttling.py), plus
# `censorscope report` on the run. Scenarios run in CS_THR_LANES parallel testbeds (default 3,
# own namespace prefixes derived from CS_TB_PREFIX): policed flows wait, they do not use CPU.
# Needs root. Prints "N passed, M failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
TB=$PWD/testbed/testbed
PFX=${CS_TB_PREFIX:-cs}
LANES=${CS_THR_LANES:-3}
export CS_TB_CENSORSCOPE=$BIN
out=$(mktemp -d)
chmod 755 "$out"
if ! "$BIN" throttling --help >/dev/null 2>&1; then
  echo "FAIL: censorscope has no throttling nettest"; echo "0 passed, 1 failed"; exit 1
fi

# every scenario of the pack once; the slowest (64 kbit/s, both directions) first
mapfile -t SCNS < <(cd testbed/scenarios/throttling && ls -- *.scn | sed 's/\.scn$//' |
  awk '/-64-/ { print; next } { rest[n++] = $0 } END { for (i = 0; i < n; i++) print rest[i] }')

lane() { # lane index: runs scenarios i, i+LANES, ... in its own testbed
  local i=$1 k s
  local lp="${PFX:0:4}t$i"
  local -x CS_TB_PREFIX=$lp CS_TESTBED_DIR=/run/$lp-testbed
  for ((k = i; k < ${#SCNS[@]}; k += LANES)); do
    s=${SCNS[k]}
    if ! "$TB" up "throttling/$s" >"$out/$s.up" 2>&1; then
      echo "$PWD/testbed/scenarios/throttling/$s.scn $out/$s.jsonl up-failed $out/$s.report" >"$out/$s.man"
      continue
    fi
    (
      # shellcheck disable=SC1091
      . "$CS_TESTBED_DIR/env"
      local t0=$EPOCHREALTIME
      # shellcheck disable=SC2086
      timeout 170 "$TB" exec client -- "$BIN" throttling -q --db "$out/$lp.db" -o "$out/$s.jsonl" \
        --server "$CS_TB_THROUGHPUT" --sni "$CS_TB_INPUT" --lab-net "$CS_TB_LAB_NET" $CS_TB_PROBE_ARGS >"$out/$s.log" 2>&1
      local secs; secs=$(awk -v a="$t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
      "$BIN" report --db "$out/$lp.db" >"$out/$s.report" 2>&1
      echo "$CS_TB_SCENARIO_FILE $out/$s.jsonl $secs $out/$s.report" >"$out/$s.man"
    )
    "$TB" down >/dev/null 2>&1
  done
}

t0=$SECONDS
pids=()
for ((i = 0; i < LANES; i++)); do lane "$i" & pids+=($!); done
trap 'kill "${pids[@]}" 2>/dev/null; for ((i = 0; i < LANES; i++)); do
  CS_TB_PREFIX="${PFX:0:4}t$i" CS_TESTBED_DIR="/run/${PFX:0:4}t$i-testbed" "$TB" down >/dev/null 2>&1; done' EXIT
wait "${pids[@]}"
cat "$out"/*.man >"$out/manifest"
echo "ran ${#SCNS[@]} scenarios in $LANES lanes in $((SECONDS - t0)) s"
python3 tests/net/check_throttling.py "$out/manifest"
rc=$?
if [ $rc -ne 0 ]; then
  echo "measurements, logs and reports kept in $out"
  for f in "$out"/*.log; do [ -s "$f" ] && sed "s|^|  $(basename "$f" .log): |" "$f" | tail -5; done
else
  rm -rf "$out"
fi
exit $rc
