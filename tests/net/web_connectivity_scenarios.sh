#!/usr/bin/env bash
# web_connectivity_scenarios.sh [PACK...] - runs censorscope web_connectivity (with our own
# control server on the testbed's control host) against every scenario of the given testbed
# packs (default: ooni-qa, pakistan, and the extra/ scenarios that show docs/analysis.md's
# deviations; a PACK/NAME argument is one scenario) and checks the verdict each scenario
# declares next to itself, allowing only the documented deviations in wc_deviations.txt. Root needed.
# CS_WC_SCENARIOS="NAME ..." runs only those scenarios of the packs (e.g. one case while
# developing; give CS_TB_PREFIX/CS_TESTBED_DIR a private value on a shared machine).
# CS_WC_KEEP=DIR keeps every scenario's measurements there (NAME.jsonl).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
packs=("$@")
[ ${#packs[@]} -gt 0 ] || packs=(ooni-qa pakistan extra/dnsRedirectToLookalikePage
  extra/controlFailureWithDNSBlocking extra/controlHTTPFailure)
work=$(mktemp -d)
trap '$TB down >/dev/null 2>&1; rm -rf "$work"' EXIT
P=0; F=0
for pack in "${packs[@]}"; do
  cc=(); [ "$pack" = pakistan ] && cc=(--probe-cc PK)  # fingerprints check their countries
  scns=(testbed/scenarios/"$pack"/*.scn)
  [ -f "testbed/scenarios/$pack.scn" ] && scns=("testbed/scenarios/$pack.scn")
  for scn in "${scns[@]}"; do
    name=$(basename "$scn" .scn)
    if [ -n "${CS_WC_SCENARIOS:-}" ] && [[ " $CS_WC_SCENARIOS " != *" $name "* ]]; then continue; fi
    mapfile -t inputs < <(awk '$1=="input"{print $2}' "$scn")
    [ ${#inputs[@]} -gt 0 ] || continue
    if ! $TB up "$scn" >"$work/up.log" 2>&1; then
      echo "FAIL: $name: testbed up failed"; tail -5 "$work/up.log"; F=$((F + 1)); continue
    fi
    # shellcheck source=/dev/null
    . "$CS_TESTBED_DIR/env"
    # our control server on the uncensored control host, over HTTPS like OONI's
    hpid=$(scripts/start-helper.sh "$work") || { echo "FAIL: $name: control server"; F=$((F + 1)); continue; }
    $TB exec client -- "$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" \
        --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" "${cc[@]}" -j 8 --no-db \
        --tcp-timeout 4 --tls-timeout 4 --http-timeout 6 --th-timeout 20 \
        -o "$work/$name.jsonl" "${inputs[@]}" 2>"$work/$name.err"
    kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null
    res=$(python3 tests/net/check_scenario.py "$scn" "$work/$name.jsonl" tests/net/wc_deviations.txt)
    printf '%s\n' "$res" | grep -v ' passed, '
    P=$((P + $(printf '%s\n' "$res" | sed -nE 's/^([0-9]+) passed.*/\1/p')))
    F=$((F + $(printf '%s\n' "$res" | sed -nE 's/.* ([0-9]+) failed$/\1/p')))
    if [ -n "${CS_WC_KEEP:-}" ]; then mkdir -p "$CS_WC_KEEP"; cp "$work/$name.jsonl" "$CS_WC_KEEP/" 2>/dev/null; fi
    if printf '%s\n' "$res" | grep -q '^FAIL'; then mkdir -p build/wc-failures; cp "$work/$name.jsonl" build/wc-failures/ 2>/dev/null; fi
  done
done
echo "web_connectivity scenarios: $P passed, $F failed"
[ "$F" -eq 0 ]
