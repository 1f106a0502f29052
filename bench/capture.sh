#!/usr/bin/env bash
# capture.sh - what packet capture (x_packets, engine/capture.h) costs a national run, printed
# side by side in the same run: web_connectivity -j J over the testbed's national world
# (Citizen Lab global + PK lists, about a third blocked; N URLs, default all 2,392), with
# capture (the default) and with --no-packets, alternating R times (default 2). Columns: wall
# time, user/sys CPU, CPU per URL, peak RSS, and the packets captured. Root needed (testbed).
#   bench/capture.sh [J=256] [N=0 (all)] [R=2]
set -euo pipefail
cd "$(dirname "$0")/.."
J=${1:-256}; N=${2:-0}; R=${3:-2}
make -s -j"$(nproc)" >/dev/null
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
$TB up pk-national >/dev/null 2>&1
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work")
scripts/national-list.sh >"$work/list.csv"
if [ "$N" -gt 0 ]; then head -n $((N + 1)) "$work/list.csv" >"$work/l.csv"; mv "$work/l.csv" "$work/list.csv"; fi
n=$(($(wc -l <"$work/list.csv") - 1))
WC=("$BIN" web_connectivity -q -j "$J" --th "https://$CS_TB_CONTROL_ADDR/" --ca-file "$CS_TB_CA"
    --lab-net "$CS_TB_LAB_NET" --probe-cc PK --no-db -f "$work/list.csv")
row() { # label extra-args...
  local label=$1 tf=$work/t; shift
  rm -f "$work/out.jsonl"
  $TB exec client -- /usr/bin/time -f "%e %U %S %M" -o "$tf" "${WC[@]}" -o "$work/out.jsonl" "$@" \
    >/dev/null 2>"$tf.err" || true
  local e u s m pk
  read -r e u s m < <(tail -n1 "$tf")
  pk=$(python3 -c 'import json,sys; print(sum(len(json.loads(l)["test_keys"].get("x_packets") or []) for l in open(sys.argv[1])))' "$work/out.jsonl")
  printf '%-28s %7.1f %7.2f %7.2f %10.2f %8.1f %9s\n' "$label" "$e" "$u" "$s" \
    "$(echo "($u+$s)*1000/$n" | bc -l)" "$(echo "$m/1024" | bc -l)" "$pk"
}
echo "web_connectivity -j $J over $n URLs of the national world, $R rounds"
printf '%-28s %7s %7s %7s %10s %8s %9s\n' run wall_s user_s sys_s cpu_ms/url rss_MiB packets
for r in $(seq 1 "$R"); do
  row "capture on  (round $r)"
  row "--no-packets (round $r)" --no-packets
done
