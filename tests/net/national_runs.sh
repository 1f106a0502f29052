#!/usr/bin/env bash
# national_runs.sh - list runs on the testbed's national world (root needed):
#   1. kill -9 in the middle of a run, then --resume: every URL ends up stored exactly once;
#   2. a test list with malformed rows: each is reported with its line number, the rest run;
#   3. the control server down, and slow: the run completes, control_failure is recorded,
#      and no blocking verdict is inferred without a control;
#   4. `censorscope report --format json` agrees with the stored measurements;
#   5. concurrency does not change verdicts: -j 1 and -j 64 on the same URLs agree.
set -uo pipefail
cd "$(dirname "$0")/../.."
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
P=0; F=0
ok() { P=$((P + 1)); echo "ok:   $*"; }
bad() { F=$((F + 1)); echo "FAIL: $*"; }
check() { local name=$1; shift; if "$@"; then ok "$name"; else bad "$name"; fi; }

$TB up pk-national >"$work/up.log" 2>&1 || { cat "$work/up.log"; echo "0 passed, 1 failed"; exit 1; }
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work") || { echo "0 passed, 1 failed"; exit 1; }
TH="https://$CS_TB_CONTROL_ADDR/"
# 600 URLs of the national list (Citizen Lab CSV), IP-literal URLs left out (not served)
scripts/national-list.sh | { IFS= read -r header; printf '%s\n' "$header"
  grep -Ev '^https?://[0-9.]+[:/]' | head -600; } >"$work/list.csv"
N=$(($(wc -l <"$work/list.csv") - 1))
THS=(--th "$TH")
wcx() { $TB exec client -- "$BIN" web_connectivity -q "${THS[@]}" --ca-file "$CS_TB_CA" \
         --lab-net "$CS_TB_LAB_NET" --probe-cc PK --tcp-timeout 3 --tls-timeout 3 \
         --http-timeout 5 "$@"; }
count() { sqlite3 "$1" "select count(*) from measurements" 2>/dev/null || echo 0; }

# 1. kill -9 mid-run, then resume
wcx -j 64 --db "$work/r.db" -o "$work/r.jsonl" -f "$work/list.csv" 2>"$work/r1.err" &
wpid=$!
for _ in $(seq 300); do [ "$(count "$work/r.db")" -ge 150 ] && break; sleep 0.1; done
pkill -9 -f "censorscope web_connectivity.*$work/r.db"; wait "$wpid" 2>/dev/null
before=$(count "$work/r.db")
check "killed mid-run ($before of $N stored)" test "$before" -ge 150 -a "$before" -lt "$N"
wcx -j 64 --db "$work/r.db" -o "$work/r.jsonl" -f "$work/list.csv" --resume 2>"$work/r2.err"
after=$(count "$work/r.db")
check "resume completes the run: $after stored of $N" test "$after" -eq "$N"
dups=$(sqlite3 "$work/r.db" "select count(*) from (select input from measurements group by run_id, input having count(*) > 1)")
check "no duplicate measurement in the database" test "$dups" -eq 0
runs=$(sqlite3 "$work/r.db" "select count(*) from runs")
check "the resumed run is the same run ($runs run)" test "$runs" -eq 1
check "the JSON lines hold every URL exactly once" python3 - "$work/r.jsonl" "$N" <<'PY'
import json, sys
seen = []
for ln in open(sys.argv[1], encoding="utf-8"):
    try: seen.append(json.loads(ln)["input"])
    except ValueError: pass  # a line cut by kill -9 (the database is the record)
sys.exit(0 if len(seen) == len(set(seen)) == int(sys.argv[2]) else 1)
PY
check "the run is marked finished" test -n "$(sqlite3 "$work/r.db" "select finished_at from runs where finished_at is not null")"

# 4. report agrees with the stored measurements
"$BIN" report --db "$work/r.db" --format json -o "$work/report.json"
check "report --format json agrees with the stored measurements" python3 - "$work/report.json" "$work/r.db" <<'PY'
import json, sqlite3, sys
rep = json.load(open(sys.argv[1]))
db = sqlite3.connect(sys.argv[2])
rows = [json.loads(r[0]) for r in db.execute("select json from measurements")]
def outcome(tk):
    b = tk.get("blocking")
    if isinstance(b, str): return "blocked"
    if b is False: return "accessible" if tk.get("accessible") else "notblocked"
    return "undetermined"
t = rep["totals"]
n_blocked_raw = sum(1 for m in rows if isinstance(m["test_keys"].get("blocking"), str) and not m["test_keys"].get("x_blockpage_optin"))
n_acc = sum(1 for m in rows if outcome(m["test_keys"]) == "accessible")
ok = t["tested"] == len(rows) and t["accessible"] == n_acc and t["blocked"] == n_blocked_raw
ok = ok and t["blocked"] == t["dns"] + t["tcp_ip"] + t["tls"] + t["http_failure"] + t["blockpage"]
ok = ok and len(rep["blocked_urls"]) == t["blocked"]
if not ok: print(t, len(rows), n_acc, n_blocked_raw, file=sys.stderr)
sys.exit(0 if ok else 1)
PY

# 2. malformed rows
{ head -3 "$work/list.csv"
  echo "not a url,NEWS,News Media,2020-01-01,x,"
  echo "ftp://files.example/,FILE,File-sharing,2020-01-01,x,"
  echo ",NEWS,News Media,2020-01-01,x,"
  sed -n 4,6p "$work/list.csv"; } >"$work/bad.csv"
wcx -j 8 --no-db -o "$work/bad.jsonl" -f "$work/bad.csv" 2>"$work/bad.err"
check "malformed rows reported with line numbers" \
  test "$(grep -cE "bad.csv:(5|6|7): skipped" "$work/bad.err")" -eq 3
check "the valid rows still run (5 measurements)" test "$(grep -c . "$work/bad.jsonl")" -eq 5

# 3. control server down, then slow (a port nobody answers, a host that never answers)
head -41 "$work/list.csv" >"$work/small.csv"
THS=(--th "https://$CS_TB_CONTROL_ADDR:4443/")
wcx -j 16 --no-db -o "$work/down.jsonl" -f "$work/small.csv" 2>/dev/null
THS=(--th "https://198.18.5.77/" --th-timeout 2)
wcx -j 16 --no-db -o "$work/slow.jsonl" -f "$work/small.csv" 2>/dev/null
THS=(--th "$TH")
for k in down slow; do
  check "control $k: every measurement done, control_failure recorded, nothing inferred" \
    python3 - "$work/$k.jsonl" <<'PY'
import json, sys
ms = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
bad = []
for m in ms:
    tk = m["test_keys"]
    if not tk.get("control_failure"): bad.append((m["input"], "no control_failure"))
    b = tk.get("blocking")
    # without a control only the probe's own proof may decide: a confirmed fingerprint
    if isinstance(b, str) and not tk.get("x_blockpage_confirmed"): bad.append((m["input"], b))
ok = len(ms) == 40 and not bad
if not ok: print(len(ms), bad[:5], file=sys.stderr)
sys.exit(0 if ok else 1)
PY
done

# 5. concurrency does not change verdicts
head -81 "$work/list.csv" >"$work/eighty.csv"
wcx -j 1 --no-db -o "$work/j1.jsonl" -f "$work/eighty.csv" 2>/dev/null
wcx -j 64 --no-db -o "$work/j64.jsonl" -f "$work/eighty.csv" 2>/dev/null
check "-j 1 and -j 64 give the same verdicts on 80 URLs" python3 - "$work/j1.jsonl" "$work/j64.jsonl" <<'PY'
import json, sys
def v(f):
    return {m["input"]: (m["test_keys"].get("blocking"), m["test_keys"].get("accessible"))
            for m in map(json.loads, open(f))}
a, b = v(sys.argv[1]), v(sys.argv[2])
diff = [u for u in a if a[u] != b.get(u)]
if diff or len(a) != 80: print(len(a), [(u, a[u], b.get(u)) for u in diff[:5]], file=sys.stderr)
sys.exit(0 if not diff and len(a) == 80 else 1)
PY
echo "national runs: $P passed, $F failed"
[ "$F" -eq 0 ]
