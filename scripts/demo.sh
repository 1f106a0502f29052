#!/usr/bin/env bash
# demo.sh - the main job (README): installs what is needed, builds, brings up the testbed's
# national-scale world (every URL of the Citizen Lab global + Pakistan test lists served in
# network namespaces, about a third blocked by a Pakistan-like mix of DNS lies, SNI resets,
# drops and blockpages), runs our control server on the testbed's uncensored control host,
# measures the whole list with `censorscope web_connectivity`, and prints a report.
# Root needed (network namespaces). Nothing leaves the machine.
#   scripts/demo.sh [SCENARIO]     default: pk-national
set -euo pipefail
cd "$(dirname "$0")/.."
scn=${1:-pk-national}
scripts/setup.sh
make -s -j"$(nproc)"
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
$TB up "$scn"
out=${CS_DEMO_OUT:-$PWD/build/demo}
mkdir -p "$out"
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1 || true; }
trap cleanup EXIT
. "$CS_TESTBED_DIR/env"
# our control server on the testbed's uncensored control host, over HTTPS like OONI's
hpid=$(scripts/start-helper.sh "$out")
if [ -n "${CS_TB_TRUTH:-}" ]; then
  # the national world: the test lists it serves, in Citizen Lab CSV form (with categories)
  list="$out/list.csv"
  scripts/national-list.sh >"$list"
  inputs=(-f "$list")
else
  mapfile -t urls < <(awk '$1=="input"{print $2}' "$CS_TB_SCENARIO_FILE")
  inputs=("${urls[@]}")
fi
rm -f "$out/measurements.jsonl" "$out/censorscope.db"*
echo "demo: measuring with web_connectivity (control server https://$CS_TB_CONTROL_ADDR/) ..."
start=$(date +%s.%N)
$TB exec client -- "$BIN" web_connectivity -j 256 --th "https://$CS_TB_CONTROL_ADDR/" \
    --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --probe-cc PK --db "$out/censorscope.db" \
    -o "$out/measurements.jsonl" "${inputs[@]}"
end=$(date +%s.%N)
echo "demo: $(wc -l <"$out/measurements.jsonl") measurements in $(echo "$end - $start" | bc) s"
"$BIN" report --db "$out/censorscope.db" --format html -o "$out/report.html"
"$BIN" report --db "$out/censorscope.db" --format text
[ -n "${CS_TB_TRUTH:-}" ] && python3 scripts/truth_check.py "$out/measurements.jsonl" "$CS_TB_TRUTH"
echo "demo: measurements $out/measurements.jsonl, database $out/censorscope.db, HTML report $out/report.html"
