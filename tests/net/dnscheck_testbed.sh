#!/usr/bin/env bash
# dnscheck_testbed.sh - dnscheck end to end in the testbed (scenario primitives/all-primitives,
# where the ISP resolver lies for dnslie.lab.test and says NXDOMAIN for dnsnx.lab.test while
# the public resolver tells the truth): the nettest added as one file plus one registry line
# is run by the generic command into a database, its outcomes and test keys are checked, the
# store and `censorscope report` show them, and `censorscope analyze` on the JSON lines
# recomputes every outcome. Needs root (network namespaces). Honours CS_TB_PREFIX.
set -uo pipefail
cd "$(dirname "$0")/../.."
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/${CS_TB_PREFIX:-cs}-testbed}
TB=testbed/testbed
$TB up all-primitives >/dev/null 2>&1 || { $TB up all-primitives; echo "0 passed, 1 failed"; exit 1; }
trap '$TB down >/dev/null 2>&1' EXIT
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
out=$(mktemp -d)
chmod 755 "$out"
db=$out/dnscheck.db
PUB=$CS_TB_PUBLIC_RESOLVER
dc() { $TB exec client -- "$BIN" dnscheck -q --db "$db" --lab-net "$CS_TB_LAB_NET" \
         --lab-net "$CS_TB_LAB_NET6" --dns-timeout 2 "$@"; }

# The same resolvers for three domains: a lie, an NXDOMAIN, an honest answer; plus a
# resolver address where nothing answers (the censor black-holes unassigned lab addresses).
# Each command is one run in the database; `report` shows the latest run, so after each.
: >"$out/report.txt"
dc --domain dnslie.lab.test -o "$out/lie.jsonl" "udp://$PUB:53" system
"$BIN" report --db "$db" >>"$out/report.txt" 2>&1
dc --domain dnsnx.lab.test -o "$out/nx.jsonl" "udp://$PUB:53" system
"$BIN" report --db "$db" >>"$out/report.txt" 2>&1
dc --domain ok.lab.test -o "$out/ok.jsonl" "udp://$PUB:53" "tcp://$PUB:53" system \
   "udp://198.18.3.99:53"
"$BIN" report --db "$db" >>"$out/report.txt" 2>&1
cat "$out/lie.jsonl" "$out/nx.jsonl" "$out/ok.jsonl" >"$out/all.jsonl"

"$BIN" analyze --json "$out/all.jsonl" >"$out/analyze.jsonl" 2>"$out/analyze.err"

python3 - "$out" "$PUB" <<'PY'
import json, sys, os
out, pub = sys.argv[1], sys.argv[2]
p = f = 0
def check(name, cond):
    global p, f
    if cond: p += 1; print("ok:  ", name)
    else: f += 1; print("FAIL:", name)
def load(fn):
    ms = {}
    for line in open(os.path.join(out, fn)):
        if line.strip():
            m = json.loads(line); ms[m['input']] = m
    return ms
def addrs(lk):
    return {a.get('ipv4') or a.get('ipv6') for q in (lk.get('queries') or [])
            for a in (q.get('answers') or []) if a.get('ipv4') or a.get('ipv6')}
U = f"udp://{pub}:53"
lie, nx, ok = load('lie.jsonl'), load('nx.jsonl'), load('ok.jsonl')
for ms in (lie, nx, ok):
    for m in ms.values():
        check(f"{m['input']}: dnscheck 0.9.2 with OONI's test keys",
              m['test_name'] == 'dnscheck' and m['test_version'] == '0.9.2' and
              all(k in m['test_keys'] for k in ('domain', 'bootstrap', 'bootstrap_failure', 'lookups')))
tk = lie[U]['test_keys']
check("lie: the public resolver answers the real address, the ISP's the blockpage",
      addrs(tk['lookups'][U]) == {'198.18.65.2'} and
      '198.18.4.80' in addrs(tk['x_control_lookup']))
check("lie: the public resolver disagrees with the probe's resolver",
      tk['x_outcome'] == 'disagree' and tk['x_censorship'] is False)
tk = lie['system']['test_keys']
check("lie: the system resolver alone cannot tell (answered)",
      tk['x_outcome'] == 'accessible' and addrs(tk['lookups']['system']) == {'198.18.4.80'})
tk = nx[U]['test_keys']
check("nxdomain: the public resolver answers where the ISP's says NXDOMAIN",
      tk['x_outcome'] == 'disagree' and tk['lookups'][U]['failure'] is None and
      tk['x_control_lookup']['failure'] == 'dns_nxdomain_error')
check("nxdomain: the system resolver says nxdomain",
      nx['system']['test_keys']['x_outcome'] == 'nxdomain')
for inp in (U, f"tcp://{pub}:53", 'system'):
    tk = ok[inp]['test_keys']
    check(f"ok: {inp} accessible", tk['x_outcome'] == 'accessible' and
          addrs(tk['lookups'][inp]) == {'198.18.65.1'})
check("ok: tcp:// lookups went over TCP",
      all(q['engine'] == 'tcp' for q in ok[f"tcp://{pub}:53"]['test_keys']['lookups'][f"tcp://{pub}:53"]['queries']))
tk = ok['udp://198.18.3.99:53']['test_keys']
check("a resolver that never answers times out",
      tk['x_outcome'] == 'timeout' and
      tk['lookups']['udp://198.18.3.99:53']['failure'] == 'generic_timeout_error')
check("probe address scrubbed", '198.18.1.2' not in open(os.path.join(out, 'all.jsonl')).read())

# the report of each run (latest run after each command): dnscheck, its outcomes counted
import re
runs = open(os.path.join(out, 'report.txt')).read().split('censorscope report: run ')[1:]
check("report: one dnscheck run per command", len(runs) == 3 and
      all(r.split('\n')[0].strip().endswith('(dnscheck)') for r in runs))
def count(run, key, label):
    for line in run.split('\n'):
        mm = re.match(r'^\s*(.+?)\s{2,}(\d+)\b', line)
        if mm and mm.group(1).strip() in (key, label): return int(mm.group(2))
    return None
want = [{('disagree', 'Answers disagree'): 1, ('Accessible', 'Answered'): 1},
        {('disagree', 'Answers disagree'): 1, ('nxdomain', 'NXDOMAIN'): 1},
        {('Accessible', 'Answered'): 3, ('timeout', 'Resolver timed out'): 1}]
for i, (run, w) in enumerate(zip(runs, want)):
    for (k, lbl), n in w.items():
        check(f"report: run {i + 1} counts {n} {k}", count(run, k, lbl) == n)
an = [json.loads(l) for l in open(os.path.join(out, 'analyze.jsonl')) if l.strip()]
check("analyze: every measurement re-analysed",
      len(an) == sum(len(x) for x in (lie, nx, ok)))
check("analyze: every outcome reproduced",
      an and all(a.get('outcome_matches_recorded') is True for a in an))
print(f"dnscheck in testbed: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
rc=$?
if [ $rc -ne 0 ]; then
  echo "measurements, report and analysis kept in $out"
  sed 's/^/  report: /' "$out/report.txt" | head -60
else
  rm -rf "$out"
fi
exit $rc
