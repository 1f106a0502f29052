#!/usr/bin/env bash
# uncensored_list.sh - no false positives: the whole national test list (2,392 URLs) served
# by the testbed with NOTHING blocked (CS_TB_BLOCK_SHARE=0) must yield zero blocking
# verdicts from web_connectivity. Root needed.
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
CS_TB_BLOCK_SHARE=0 $TB up pk-national >"$work/up.log" 2>&1 || { cat "$work/up.log"; echo "0 passed, 1 failed"; exit 1; }
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work") || { echo "0 passed, 1 failed"; exit 1; }
scripts/national-list.sh >"$work/list.csv"
$TB exec client -- "$BIN" web_connectivity -q -j 256 --th "https://$CS_TB_CONTROL_ADDR/" \
    --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --no-db -o "$work/m.jsonl" -f "$work/list.csv"
python3 - "$work/m.jsonl" "$CS_TB_TRUTH" <<'PY'
import collections, csv, json, sys
truth = {r["url"]: r for r in csv.DictReader(open(sys.argv[2], encoding="utf-8"))}
ms = [json.loads(l) for l in open(sys.argv[1], encoding="utf-8") if l.strip()]
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")
check(f"every URL measured ({len(ms)} of {len(truth)})", len(ms) == len(truth))
check("the world blocks nothing", all(t["method"] in ("none", "skipped-ip-literal") for t in truth.values()))
blocked = [(m["input"], m["test_keys"]["blocking"], m["test_keys"].get("x_analysis_reason"))
           for m in ms if isinstance(m["test_keys"].get("blocking"), str)]
check("zero blocking verdicts (no false positives)", not blocked, str(blocked[:5]))
served = [m for m in ms if truth.get(m["input"], {}).get("method") == "none"]
acc = sum(1 for m in served if m["test_keys"].get("accessible") is True)
check(f"every served site accessible ({acc} of {len(served)})", acc == len(served),
      str([m["input"] for m in served if m["test_keys"].get("accessible") is not True][:5]))
# the 9 IP-literal URLs are not served in the lab: both vantage points fail -> website down
down = [m for m in ms if truth.get(m["input"], {}).get("method") == "skipped-ip-literal"]
check("unserved IP-literal URLs are 'down', not blocked",
      all(m["test_keys"].get("blocking") is False for m in down),
      str([(m["input"], m["test_keys"].get("blocking")) for m in down][:5]))
print(f"uncensored list: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
