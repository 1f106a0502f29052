#!/usr/bin/env bash
# throttling_report.sh - the report's Throttling section end to end: `censorscope throttling`
# in the testbed scenario throttling/sni-policer-150-down (downloads with SNI abs.twimg.com
# policed at 150 kbit/s; the throughput server on the control host), then `censorscope report`
# on the database in JSON and HTML: the verdict, pattern, rate, ratio with CI, p-value and
# key as the measurement says, and the HTML chart of the target with one line per trial, the
# target's lines slower (shallower) than the control's, axes labelled with units; also from the
# JSON-lines file (scratch store). CS_KEEP=DIR keeps the files.
# Needs root. Prints "N passed, M failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
export CS_TB_CENSORSCOPE=$BIN
TB=testbed/testbed
work=$(mktemp -d)
chmod 755 "$work"
trap '$TB down >/dev/null 2>&1; [ -n "${CS_KEEP:-}" ] && cp -r "$work" "$CS_KEEP"; rm -rf "$work"' EXIT
"$BIN" throttling --help >/dev/null 2>&1 || { echo "no throttling nettest"; echo "0 passed, 1 failed"; exit 1; }
$TB up throttling/sni-policer-150-down >"$work/up.log" 2>&1 ||
  { tail -5 "$work/up.log"; echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
# shellcheck disable=SC2086
$TB exec client -- "$BIN" throttling -q --db "$work/r.db" -o "$work/m.jsonl" \
  --server "$CS_TB_THROUGHPUT" --sni "$CS_TB_INPUT" $CS_TB_PROBE_ARGS >"$work/probe.log" 2>&1
"$BIN" report --db "$work/r.db" --format json -o "$work/r.json" 2>"$work/report.log"
"$BIN" report --db "$work/r.db" --format html -o "$work/r.html" 2>>"$work/report.log"
"$BIN" report --jsonl "$work/m.jsonl" --format html -o "$work/rj.html" 2>>"$work/report.log"
python3 - "$work/m.jsonl" "$work/r.json" "$work/r.html" "$work/rj.html" "$CS_TB_INPUT" <<'PY'
import json, re, sys
P = F = 0
def check(name, ok, detail=''):
    global P, F
    if ok: P += 1
    else: F += 1; print(f'FAIL: {name} {detail}')
mpath, jpath, hpath, hjpath, target = sys.argv[1:6]
try:
    m = [json.loads(l) for l in open(mpath)][0]
    x = m['test_keys']['x_throttling']
except Exception as e:
    check('a throttling measurement was written', False, e); print(f'{P} passed, {F} failed'); sys.exit(1)
# the nettest's accuracy is tests/net/throttling_testbed.sh's business; here it must at least
# have found the throttling, for the chart to have something to show
check('the nettest says throttled', m['test_keys']['throttled'] is True, x)
try:
    rep = json.load(open(jpath))
    th = rep['throttling']
except Exception as e:
    check('report JSON has a throttling section', False, e); th = []
check('report JSON: one target', len(th) == 1, len(th))
if th:
    t = th[0]
    check('report JSON: target name', t['input'] == target, t['input'])
    check('report JSON: throttled as measured', t['throttled'] == m['test_keys']['throttled'])
    for k in ('pattern', 'rate_bps', 'ratio', 'ci95', 'p_value', 'keyed', 'direction', 'control_sni', 'server', 'pairs'):
        check(f'report JSON: {k} as measured', t[k] == x.get(k), (t[k], x.get(k)))
    check('report JSON: every trial', t['trials'] == len(m['test_keys']['x_trials']), t['trials'])
    check('report JSON: ratio CI brackets the ratio', t['ci95'] and t['ci95'][0] <= t['ratio'] <= t['ci95'][1], (t['ratio'], t['ci95']))
for name, path in (('db', hpath), ('jsonl', hjpath)):
    h = open(path, encoding='utf-8').read()
    row = f'<td>{target}</td><td>throttled</td><td>{x["pattern"] or "-"}</td>'
    check(f'html ({name}): Throttling section and table row', '<h2 id="throttling">Throttling</h2>' in h and row in h, row)
    svgs = re.findall(r'<svg class="thr-chart" id="thr-chart-0-down".*?</svg>', h, re.S)
    check(f'html ({name}): a download chart for the target', len(svgs) == 1, len(svgs))
    if not svgs: continue
    svg = svgs[0]
    def lines(role):
        out = []
        for pts in re.findall(r'<polyline class="thr-%s"[^>]* points="([^"]*)"' % role, svg):
            p = [tuple(map(float, q.split(','))) for q in pts.split()]
            out.append(p)
        return out
    tl, cl = lines('target'), lines('control')
    ntrials = sum(1 for tr in m['test_keys']['x_trials'] if tr['direction'] == 'down')
    check(f'html ({name}): one line per trial, by role', len(tl) + len(cl) == ntrials and tl and cl, (len(tl), len(cl), ntrials))
    if tl and cl:
        # pixels: x grows with time, y shrinks with bytes; the slope (bytes per second) of a
        # target line must be far below the control lines' (the ratio the statistic reports)
        def slope(p): return (p[0][1] - p[-1][1]) / max(p[-1][0] - p[0][0], 1e-9)
        st = sorted(slope(p) for p in tl)[len(tl) // 2]
        sc = sorted(slope(p) for p in cl)[len(cl) // 2]
        check(f'html ({name}): target lines much shallower than control lines', sc > 3 * st, (st, sc))
    check(f'html ({name}): axes labelled with units', 'time since the trial started (s)' in svg and 'bytes received (kB)' in svg)
    check(f'html ({name}): no script', '<script' not in h)
print(f'{P} passed, {F} failed')
PY
