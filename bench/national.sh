#!/usr/bin/env bash
# national.sh - benchmark of a whole national test-list run (issue: national runs), printed
# side by side with a baseline measured in the same run:
#   - censorscope web_connectivity -j J over the testbed's national world (Citizen Lab
#     global + PK lists, about a third blocked): wall time, user/sys CPU, peak RSS;
#     baseline: curl --parallel (fresh connection per URL, same timeouts) fetching the same
#     URLs from the same client namespace;
#   - a single-URL run (one accessible https URL): peak RSS, against curl fetching it;
#   - verdict identity: -j 1 and -j J on a sample stratified by the censor's method (every
#     method the world uses, S URLs in all) must agree.
# Each run is made R times (default 1) and every run is printed. Both tools' CPU includes
# the kernel work their own packets cause, the censor's in-kernel filtering among it (the
# testbed's namespaces share one kernel).
# Root needed (testbed). Bounded: every step has OONI's deadlines; nothing leaves the lab.
# With BASELINE=COMMIT (e.g. the commit before a refactoring), that commit is built in a
# scratch worktree and its web_connectivity is measured in the same run, row by row beside
# this tree's, with the ratios printed (CPU per URL and peak RSS).
#   bench/national.sh [J=512] [S=120] [R=1]
set -euo pipefail
cd "$(dirname "$0")/.."
J=${1:-512}; S=${2:-120}; R=${3:-1}
scripts/setup.sh
make -s -j"$(nproc)" >/dev/null
BIN=$PWD/build/release/censorscope
BASELINE=${BASELINE:-}
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
hpid=
cleanup() {
  [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1
  [ -d "$work/base" ] && git worktree remove --force "$work/base" >/dev/null 2>&1; rm -rf "$work"
}
trap cleanup EXIT
if [ -n "$BASELINE" ]; then # build the baseline commit in a scratch worktree (same compiler, flags)
  git worktree add -q --detach "$work/base" "$BASELINE"
  make -s -C "$work/base" -j"$(nproc)" >/dev/null
  BASE_BIN=$work/base/build/release/censorscope
fi
$TB up pk-national >/dev/null 2>&1
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work")
scripts/national-list.sh >"$work/list.csv"
N=$(($(wc -l <"$work/list.csv") - 1))
tail -n +2 "$work/list.csv" | cut -d, -f1 >"$work/urls"
one=$(awk -F, '$2 == "none" && $1 ~ /^https:/ {print $1; exit}' "$CS_TB_TRUTH")
WC=("$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" --ca-file "$CS_TB_CA"
    --lab-net "$CS_TB_LAB_NET" --probe-cc PK --no-db)
CURL=(curl -s --cacert "$CS_TB_CA" --http1.1 --no-sessionid -H 'Connection: close'
      --connect-timeout 10 -m 20)
while read -r u; do printf 'url = "%s"\noutput = "/dev/null"\n' "$u"; done <"$work/urls" >"$work/curl.cfg"
row() { # key label n cmd...: runs cmd (n URLs) in the client namespace, prints one table row
  local key=$1 label=$2 n=$3 tf=$work/t; shift 3
  rm -f "$work/out.jsonl"
  $TB exec client -- /usr/bin/time -f "%e %U %S %M" -o "$tf" "$@" >/dev/null 2>"$tf.err" || true
  local e u s m; read -r e u s m < <(tail -n1 "$tf")
  printf '%-40s %7.1f %7.2f %7.2f %10.2f %8.1f\n' "$label" "$e" "$u" "$s" \
    "$(echo "($u+$s)*1000/$n" | bc -l)" "$(echo "$m/1024" | bc -l)"
  echo "$e $u $s $m" >>"$work/$key.all"
}
echo "national world: $N URLs (global + pk test lists), concurrency $J, $(nproc) cores, $R run(s)"
printf '%-40s %7s %7s %7s %10s %8s\n' "run" "wall_s" "user_s" "sys_s" "cpu_ms/URL" "RSS_MB"
for ((r = 0; r < R; r++)); do
  row cs "censorscope web_connectivity -j $J" "$N" "${WC[@]}" -j "$J" -o "$work/out.jsonl" -f "$work/list.csv"
  m=$(grep -c . "$work/out.jsonl" || true)
  if [ -n "$BASELINE" ]; then
    WCB=("$BASE_BIN" "${WC[@]:1}")
    row base "baseline $BASELINE -j $J" "$N" "${WCB[@]}" -j "$J" -o "$work/out.jsonl" -f "$work/list.csv"
  fi
  row curl "curl --parallel $J (fetch only)" "$N" "${CURL[@]}" --parallel --parallel-max "$J" -K "$work/curl.cfg"
done
for ((r = 0; r < R; r++)); do
  row cs1 "censorscope web_connectivity, 1 URL" 1 "${WC[@]}" -j 1 -o "$work/out.jsonl" "$one"
  if [ -n "$BASELINE" ]; then
    row base1 "baseline $BASELINE, 1 URL" 1 "${WCB[@]}" -j 1 -o "$work/out.jsonl" "$one"
  fi
  row curl1 "curl, the same URL" 1 "${CURL[@]}" -o /dev/null "$one"
done
echo "measurements written (last run): $m of $N; OONI's design pace (5 s/URL): $((N * 5 / 60)) min"
echo "single URL: $one"
echo "targets: wall <= 60 s; RSS <= 48 MB at -j 512 and <= 8 MB for one URL; CPU/URL <= 1.5x curl"
python3 - "$work" <<'PY'
import glob, os, statistics, sys
runs = {os.path.basename(f)[:-4]: [list(map(float, l.split())) for l in open(f)] for f in glob.glob(sys.argv[1] + "/*.all")}
def med(k, i): return statistics.median(r[i] for r in runs[k])
cpu = lambda k: med(k, 1) + med(k, 2)
print(f"median CPU per URL, censorscope / curl: {cpu('cs') / cpu('curl'):.2f}x; "
      f"median peak RSS, 1 URL: censorscope {med('cs1', 3) / 1024:.1f} MB, curl {med('curl1', 3) / 1024:.1f} MB")
if "base" in runs:
    print(f"this tree / baseline: CPU per URL {cpu('cs') / cpu('base'):.3f}x, "
          f"peak RSS -j J {med('cs', 3) / med('base', 3):.3f}x, "
          f"peak RSS 1 URL {med('cs1', 3) / med('base1', 3):.3f}x (goal: within 5 %)")
PY
# verdict identity on a sample stratified by the censor's method
python3 - "$CS_TB_TRUTH" "$S" "$work/list.csv" >"$work/sample.csv" <<'PY'
import collections, csv, sys
truth, s, lst = sys.argv[1], int(sys.argv[2]), sys.argv[3]
by = collections.defaultdict(list)
for r in csv.DictReader(open(truth, encoding="utf-8")):
    if r["method"] != "skipped-ip-literal": by[r["method"]].append(r["url"])
per = max(1, s // (2 * len(by)))  # half the sample spread over the methods, half uncensored
pick = set()
for m, urls in sorted(by.items()):
    k = per if m != "none" else s - per * (len(by) - 1)
    step = max(1, len(urls) // max(1, k))
    pick.update(urls[::step][:k])
rows = list(csv.reader(open(lst, encoding="utf-8")))
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(rows[0])
for row in rows[1:]:
    if row and row[0] in pick: w.writerow(row)
PY
S1=$(($(wc -l <"$work/sample.csv") - 1))
$TB exec client -- "${WC[@]}" -j 1 -o "$work/s1.jsonl" -f "$work/sample.csv" 2>/dev/null
$TB exec client -- "${WC[@]}" -j "$J" -o "$work/sJ.jsonl" -f "$work/sample.csv" 2>/dev/null
python3 - "$work/s1.jsonl" "$work/sJ.jsonl" "$J" "$S1" <<'PY'
import json, sys
def v(f): return {m["input"]: (m["test_keys"].get("blocking"), m["test_keys"].get("accessible")) for m in map(json.loads, open(f))}
a, b = v(sys.argv[1]), v(sys.argv[2])
diff = [u for u in a if a[u] != b.get(u)]
print(f"verdicts -j 1 vs -j {sys.argv[3]} on {sys.argv[4]} URLs (every censor method): {len(a) - len(diff)} identical, {len(diff)} different")
for u in diff[:10]: print(f"  {u}: {a[u]} vs {b.get(u)}")
PY
