#!/usr/bin/env bash
# outcome_agreement.sh - one outcome per measurement, read everywhere: in the testbed, the
# web_connectivity command's closing summary line, the measurements' own x_outcome keys, the
# store's outcome columns and `censorscope report` must agree on every count. Two worlds:
#   1. the Nayatel "Safeweb" opt-in filter (its resolver answers the filter's blockpage
#      server): the command once said "2 blocked" where the report said "0 censorship,
#      2 opt-in"; both must now say 0 blocked, 2 opt-in;
#   2. a sample of the national world stratified by the censor's method (every method).
# Needs root (network namespaces). Honours CS_TB_PREFIX.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/${CS_TB_PREFIX:-cs}-testbed}
TB=testbed/testbed
work=$(mktemp -d)
chmod 755 "$work"
hpid=
cleanup() { [ -n "$hpid" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"; }
trap cleanup EXIT
P=0; F=0

up() { # up NAME SCENARIO
  if ! $TB up "$2" >"$work/up.log" 2>&1; then
    echo "FAIL: $1: testbed up failed"; tail -5 "$work/up.log"; F=$((F + 1)); return 1
  fi
  # shellcheck disable=SC1091
  . "$CS_TESTBED_DIR/env"
}

# world NAME CC ARGS...: in the testbed that is up, runs web_connectivity with ARGS into a
# database, then the report, and takes the testbed down; leaves NAME.{err,jsonl,db,
# report.json,rows} in $work.
world() {
  local name=$1 cc=$2; shift 2
  hpid=$(scripts/start-helper.sh "$work") || { echo "FAIL: $name: control server"; F=$((F + 1)); return 1; }
  $TB exec client -- "$BIN" web_connectivity --th "https://$CS_TB_CONTROL_ADDR/" \
      --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --probe-cc "$cc" -j 32 \
      --tcp-timeout 4 --tls-timeout 4 --http-timeout 6 --th-timeout 20 \
      --db "$work/$name.db" -o "$work/$name.jsonl" "$@" 2>"$work/$name.err"
  kill "$hpid" 2>/dev/null; wait "$hpid" 2>/dev/null; hpid=
  "$BIN" report --db "$work/$name.db" --format json >"$work/$name.report.json" 2>>"$work/$name.err"
  sqlite3 -separator $'\t' "$work/$name.db" \
    "SELECT input, outcome, censorship FROM measurements" >"$work/$name.rows"
  $TB down >/dev/null 2>&1
}

# check NAME [EXPECT_BLOCKED EXPECT_OPTIN]: the four readers agree (and match the numbers).
check() {
  local res
  res=$(python3 - "$work" "$@" <<'PY'
import collections, json, re, sys
work, name = sys.argv[1], sys.argv[2]
want = sys.argv[3:]
p = f = 0
def ok(what, cond, detail=""):
    global p, f
    if cond: p += 1; print(f"ok:   {name}: {what}")
    else: f += 1; print(f"FAIL: {name}: {what} {detail}")
meas = [json.loads(l) for l in open(f"{work}/{name}.jsonl") if l.strip()]
tk = [m["test_keys"] for m in meas]
by = collections.Counter(k.get("x_outcome") for k in tk)
blocked = sum(1 for k in tk if k.get("x_censorship") is True)
ok("every measurement carries an outcome", all(isinstance(k.get("x_outcome"), str) for k in tk), by)
line = [l for l in open(f"{work}/{name}.err") if l.startswith("web_connectivity: ") and " measured: " in l]
ok("the command printed its summary line", len(line) == 1, line)
if line:
    s = line[-1]
    n = int(re.search(r"(\d+) measured", s).group(1))
    acc = int(re.search(r"(\d+) accessible", s).group(1))
    b = re.search(r"(\d+) blocked", s)
    nc = re.search(r"(\d+) not censorship", s)
    ok("summary: measured = measurements written", n == len(meas), (n, len(meas)))
    ok("summary: accessible = x_outcome accessible", acc == by["accessible"], (acc, by))
    ok("summary: blocked = x_censorship true", (int(b.group(1)) if b else 0) == blocked, (s, blocked))
    for key, cnt in re.findall(r"([a-z_]+) (\d+)", s):
        if key in by or key in ("dns", "tcp_ip", "tls", "http_failure", "blockpage", "optin", "server_side"):
            ok(f"summary: {key} = x_outcome {key}", int(cnt) == by[key], (cnt, by[key]))
r = json.load(open(f"{work}/{name}.report.json"))
ok("report: tested = measurements", r["totals"]["tested"] == len(meas), (r["totals"], len(meas)))
ok("report: blocked = x_censorship true", r["totals"]["blocked"] == blocked, (r["totals"], blocked))
for o in r["outcomes"]:
    ok(f"report: {o['key']} = x_outcome {o['key']}", o["count"] == by[o["key"]], (o, by[o["key"]]))
rows = {}
for l in open(f"{work}/{name}.rows"):
    i, o, c = l.rstrip("\n").split("\t")
    rows[i] = (o, c == "1")
mine = {m["input"]: (m["test_keys"]["x_outcome"], m["test_keys"]["x_censorship"]) for m in meas}
ok("store: each row's outcome is its measurement's", rows == mine,
   [(i, rows.get(i), mine[i]) for i in mine if rows.get(i) != mine[i]][:5])
if want:
    ok(f"blocked = {want[0]}", blocked == int(want[0]), blocked)
    ok(f"optin = {want[1]}", by["optin"] == int(want[1]), by)
print(f"{p} passed, {f} failed")
PY
  )
  printf '%s\n' "$res" | grep -v ' passed, '
  P=$((P + $(printf '%s\n' "$res" | sed -nE 's/^([0-9]+) passed.*/\1/p')))
  F=$((F + $(printf '%s\n' "$res" | sed -nE 's/.* ([0-9]+) failed$/\1/p')))
}

if up optin pakistan/nayatel-safeweb-optin-dns &&
   world optin PK http://www.gaytoday.com/ http://www.globalgayz.com/; then
  check optin 0 2
fi

# A national sample: up to 12 URLs of every censor method plus accessible ones.
if up national pk-national; then
  scripts/national-list.sh >"$work/list.csv"
  python3 - "$CS_TB_TRUTH" "$work/list.csv" >"$work/sample.csv" <<'PY'
import collections, csv, sys
by = collections.defaultdict(list)
for r in csv.DictReader(open(sys.argv[1], encoding="utf-8")):
    if r["method"] != "skipped-ip-literal": by[r["method"]].append(r["url"])
pick = set()
for m, urls in sorted(by.items()):
    pick.update(urls[:: max(1, len(urls) // 12)][:12])
rows = list(csv.reader(open(sys.argv[2], encoding="utf-8")))
w = csv.writer(sys.stdout, lineterminator="\n")
w.writerow(rows[0])
for row in rows[1:]:
    if row and row[0] in pick: w.writerow(row)
PY
  if world national PK -f "$work/sample.csv"; then check national; fi
fi
echo "outcome agreement: $P passed, $F failed"
[ "$F" -eq 0 ]
