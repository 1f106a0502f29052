#!/usr/bin/env bash
# national.sh - benchmark of a whole national test-list run (issue: national runs), printed
# side by side with a baseline measured in the same run:
#   - censorscope web_connectivity -j J over the testbed's national world (Citizen Lab
#     global + PK lists, about a third blocked): wall time, CPU, peak RSS, URL/s;
#   - a single-URL run: peak RSS;
#   - baseline: curl --parallel (fresh connection per URL, same timeouts) fetching the same
#     URLs from the same client namespace: CPU per URL;
#   - verdict identity: -j 1 and -j J on a sample of S URLs must agree.
# Root needed (testbed). Bounded: every step has OONI's deadlines; nothing leaves the lab.
#   bench/national.sh [J=512] [S=150]
set -euo pipefail
cd "$(dirname "$0")/.."
J=${1:-512}; S=${2:-150}
scripts/setup.sh
make -s -j"$(nproc)" >/dev/null
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
$TB up pk-national >/dev/null 2>&1
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work")
scripts/national-list.sh >"$work/list.csv"
N=$(($(wc -l <"$work/list.csv") - 1))
tail -n +2 "$work/list.csv" | cut -d, -f1 >"$work/urls"
WC=("$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" --ca-file "$CS_TB_CA"
    --lab-net "$CS_TB_LAB_NET" --probe-cc PK --no-db)
timed() { # label file cmd...: runs cmd in the client namespace under /usr/bin/time
  local label=$1 tf=$2; shift 2
  $TB exec client -- /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" >/dev/null 2>"$tf.err" || true
}
timed wc "$work/wc.time" "${WC[@]}" -j "$J" -o "$work/wc.jsonl" -f "$work/list.csv"
timed one "$work/one.time" "${WC[@]}" -j 1 -o "$work/one.jsonl" "$(head -1 "$work/urls")"
while read -r u; do printf 'url = "%s"\noutput = "/dev/null"\n' "$u"; done <"$work/urls" >"$work/curl.cfg"
timed curl "$work/curl.time" curl -s --parallel --parallel-max "$J" --cacert "$CS_TB_CA" \
    --http1.1 --no-sessionid -H 'Connection: close' --connect-timeout 10 -m 20 -K "$work/curl.cfg"
read -r we wu ws wm < <(tail -n1 "$work/wc.time"); read -r oe ou os om < <(tail -n1 "$work/one.time")
read -r ce cu cs cm < <(tail -n1 "$work/curl.time")  # curl exits non-zero: blocked URLs fail
m=$(grep -c . "$work/wc.jsonl")
echo "national world: $N URLs (global + pk test lists), concurrency $J, 2 cores"
printf '%-38s %9s %9s %12s %11s\n' "run" "wall_s" "cpu_s" "cpu_ms/URL" "peak_RSS_MB"
printf '%-38s %9.1f %9.2f %12.2f %11.1f\n' "censorscope web_connectivity -j $J" "$we" "$(echo "$wu+$ws" | bc)" \
  "$(echo "($wu+$ws)*1000/$N" | bc -l)" "$(echo "$wm/1024" | bc -l)"
printf '%-38s %9.1f %9.2f %12.2f %11.1f\n' "curl --parallel (fetch only)" "$ce" "$(echo "$cu+$cs" | bc)" \
  "$(echo "($cu+$cs)*1000/$N" | bc -l)" "$(echo "$cm/1024" | bc -l)"
printf '%-38s %9.1f %9s %12s %11.1f\n' "censorscope web_connectivity, 1 URL" "$oe" "" "" "$(echo "$om/1024" | bc -l)"
echo "measurements written: $m of $N; OONI's design pace (5 s/URL): $((N * 5 / 60)) min"
echo "targets: wall <= 60 s; RSS <= 48 MB at -j 512 and <= 8 MB for one URL; CPU/URL <= 1.5x curl"
# verdict identity on a sample
{ head -1 "$work/list.csv"; tail -n +2 "$work/list.csv" | awk -v s="$S" 'NR % int(2392 / s) == 1' | head -"$S"; } >"$work/sample.csv"
$TB exec client -- "${WC[@]}" -j 1 -o "$work/s1.jsonl" -f "$work/sample.csv" 2>/dev/null
$TB exec client -- "${WC[@]}" -j "$J" -o "$work/sJ.jsonl" -f "$work/sample.csv" 2>/dev/null
python3 - "$work/s1.jsonl" "$work/sJ.jsonl" "$J" <<'PY'
import json, sys
def v(f): return {m["input"]: (m["test_keys"].get("blocking"), m["test_keys"].get("accessible")) for m in map(json.loads, open(f))}
a, b = v(sys.argv[1]), v(sys.argv[2])
diff = [u for u in a if a[u] != b.get(u)]
print(f"verdicts -j 1 vs -j {sys.argv[3]} on {len(a)} sampled URLs: {len(a) - len(diff)} identical, {len(diff)} different")
for u in diff[:10]: print(f"  {u}: {a[u]} vs {b.get(u)}")
PY
