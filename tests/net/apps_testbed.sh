#!/usr/bin/env bash
# apps_testbed.sh [SCENARIO...] - the app and platform nettests (whatsapp, telegram, signal,
# facebook_messenger, platforms) end to end in the testbed's apps world: for each scenario of
# testbed/scenarios/apps (default all), with our control server on the uncensored control host,
# every nettest runs in the client namespace on the testbed's endpoint files (testbed/apps/:
# real names, testbed addresses; never data/apps) and tests/net/check_apps.py compares the
# measurements with the scenario's expect-app lines: OONI's test keys, x_outcome, and each
# function's x_functions verdict and method. On telegram-dc-partial it also checks that OONI's
# fields say "not blocked" where the per-function verdict says "partial". Then `censorscope
# report` over the scenario's measurements (scratch store from JSON lines; and a database for
# one nettest) must show the "Apps and platforms" section with the same verdicts, in text,
# JSON and HTML. Every endpoint address must be a testbed address, and the probe's own address
# (the STUN server reflects it) must not appear in any output. Needs root. Honours
# CS_TB_PREFIX / CS_TESTBED_DIR.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/${CS_TB_PREFIX:-cs}-testbed}
TB=testbed/testbed
EPS=$PWD/testbed/apps
work=$(mktemp -d)
chmod 755 "$work"
trap '$TB down >/dev/null 2>&1; rm -rf "$work"' EXIT
scns=("$@")
[ ${#scns[@]} -gt 0 ] || mapfile -t scns < <(ls testbed/scenarios/apps/*.scn)
P=0; F=0
count() { # adds the "N passed, M failed" line of $1 to the totals, prints the rest
  printf '%s\n' "$1" | grep -v ' passed, [0-9]* failed$'
  P=$((P + $(printf '%s\n' "$1" | sed -nE 's/^([0-9]+) passed.*/\1/p' | tail -n1)))
  F=$((F + $(printf '%s\n' "$1" | sed -nE 's/.* ([0-9]+) failed$/\1/p' | tail -n1)))
}
for scn in "${scns[@]}"; do
  [ -f "$scn" ] || scn=testbed/scenarios/apps/$scn.scn
  name=$(basename "$scn" .scn)
  if ! $TB up "$scn" >"$work/up.log" 2>&1; then
    echo "FAIL: $name: testbed up failed"; tail -3 "$work/up.log"; F=$((F + 1)); continue
  fi
  # shellcheck disable=SC1091
  . "$CS_TESTBED_DIR/env"
  hpid=$(scripts/start-helper.sh "$work") || { echo "FAIL: $name: control server"; F=$((F + 1)); continue; }
  d=$work/$name
  mkdir -p "$d"
  chmod 755 "$d"
  common=(-q --th "https://$CS_TB_CONTROL_ADDR/" --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET"
          --dns-timeout 2 --tcp-timeout 3 --tls-timeout 3 --http-timeout 4 --th-timeout 15)
  t0=$SECONDS
  # the five nettests at once (each its own output); telegram also into a database
  $TB exec client -- "$BIN" whatsapp "${common[@]}" --no-db --endpoints "$EPS/whatsapp.endpoints" \
    -o "$d/whatsapp.jsonl" 2>"$d/whatsapp.err" &
  $TB exec client -- "$BIN" telegram "${common[@]}" --db "$d/telegram.db" \
    --endpoints "$EPS/telegram.endpoints" -o "$d/telegram.jsonl" 2>"$d/telegram.err" &
  $TB exec client -- "$BIN" signal "${common[@]}" --no-db --endpoints "$EPS/signal.endpoints" \
    -o "$d/signal.jsonl" 2>"$d/signal.err" &
  $TB exec client -- "$BIN" facebook_messenger "${common[@]}" --no-db \
    --endpoints "$EPS/facebook_messenger.endpoints" -o "$d/facebook_messenger.jsonl" \
    2>"$d/facebook_messenger.err" &
  $TB exec client -- "$BIN" platforms "${common[@]}" --no-db --endpoints "$EPS/x.endpoints" \
    --endpoints "$EPS/youtube.endpoints" --endpoints "$EPS/facebook.endpoints" \
    --endpoints "$EPS/instagram.endpoints" -o "$d/platforms.jsonl" 2>"$d/platforms.err" &
  wait  # the five nettests (the control server is not a job of this shell)
  el=$((SECONDS - t0))
  kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
  cat "$d"/{whatsapp,telegram,signal,facebook_messenger,platforms}.jsonl >"$d/all.jsonl" 2>/dev/null
  # the report: from the JSON lines (scratch store) in three formats, and telegram's database
  for fmt in text json html; do
    "$BIN" report --jsonl "$d/all.jsonl" --format "$fmt" -o "$d/report.$fmt" 2>"$d/report.err"
  done
  "$BIN" report --db "$d/telegram.db" --format json -o "$d/report-db.json" 2>>"$d/report.err"
  res=$(python3 tests/net/check_apps.py "$scn" "$d" "$CS_TB_CLIENT_ADDR" "$el")
  count "$res"
  if printf '%s\n' "$res" | grep -q '^FAIL'; then
    mkdir -p build/apps-failures/"$name"; cp "$d"/* build/apps-failures/"$name"/ 2>/dev/null
  fi
done
echo "apps_testbed: $P passed, $F failed"
