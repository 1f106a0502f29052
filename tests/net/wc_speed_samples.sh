#!/usr/bin/env bash
# wc_speed_samples.sh - web_connectivity keeps OONI's download-speed samples (memoryless
# `bytes_received_cumulative` network events, docs/engine-conn.md) and they show a throttler's
# rate: testbed scenario ooni-qa/throttlingWithHTTPS (flows with SNI largefile.com limited to
# 150 kbit/s by HTB), measured with our control server; www.example.com, not throttled, is the
# comparison. Needs root (network namespaces). Prints "N passed, M failed" last.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/cs-testbed}
TB=testbed/testbed
work=$(mktemp -d)
trap '[ -n "${hpid:-}" ] && kill "$hpid" 2>/dev/null; $TB down >/dev/null 2>&1; rm -rf "$work"' EXIT
$TB up throttlingWithHTTPS >"$work/up.log" 2>&1 || { tail -5 "$work/up.log"; echo "0 passed, 1 failed"; exit 1; }
# shellcheck disable=SC1091
. "$CS_TESTBED_DIR/env"
hpid=$(scripts/start-helper.sh "$work") || { echo "control server failed"; echo "0 passed, 1 failed"; exit 1; }
$TB exec client -- "$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" \
    --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --no-db \
    --tcp-timeout 4 --tls-timeout 4 --http-timeout 8 --th-timeout 20 \
    -o "$work/wc.jsonl" https://largefile.com/ https://www.example.com/ 2>"$work/wc.err"
[ -n "${CS_KEEP:-}" ] && cp "$work/wc.jsonl" "$CS_KEEP"
python3 - "$work/wc.jsonl" <<'PY'
import json, sys
P = F = 0
def check(name, ok, detail=''):
    global P, F
    if ok: P += 1
    else: F += 1; print(f'FAIL: {name} {detail}')
ms = {m['input']: m for m in map(json.loads, open(sys.argv[1]))}
def samples(m):
    """The speed samples of the connection that carried the HTTP GET (its transaction_id)."""
    tk = m['test_keys']
    tid = tk['requests'][0]['transaction_id'] if tk['requests'] else None
    return tid, [e for e in tk['network_events']
                 if e['operation'] == 'bytes_received_cumulative' and e['transaction_id'] == tid]
for url in ('https://largefile.com/', 'https://www.example.com/'):
    check(f'{url} measured', url in ms)
    if url not in ms: continue
    tid, s = samples(ms[url])
    check(f'{url}: samples with the request transaction_id', tid is not None and len(s) >= 1, f'{tid} {len(s)}')
    if not s: continue
    check(f'{url}: OONI form', all(set(e) >= {'address', 'failure', 'num_bytes', 'operation', 'proto', 't0', 't', 'transaction_id', 'tags'}
                                   and e['failure'] is None and e['proto'] == 'tcp' and e['t0'] == e['t'] for e in s))
    check(f'{url}: monotonic', all(b['t'] > a['t'] and b['num_bytes'] >= a['num_bytes'] for a, b in zip(s, s[1:])))
    gaps = [b['t'] - a['t'] for a, b in zip(s[:-1], s[1:-1])]  # ticker samples (the last is at close)
    check(f'{url}: spaced per the sampler (25..650 ms, +slack)', all(0.02 <= g <= 1.15 for g in gaps), gaps)
big = ms.get('https://largefile.com/')
if big:
    tid, s = samples(big)
    tk = big['test_keys']
    # the final sample counts every byte of the connection: at least the body (TLS overhead on top)
    body = tk['requests'][0]['response']['body'] or ''
    check('throttled: final sample >= body bytes', s and s[-1]['num_bytes'] >= len(body.encode('utf-8', 'surrogateescape')) > 0,
          f"{s[-1]['num_bytes'] if s else None} {len(body)}")
    check('throttled: many samples over the slow download', len(s) >= 15, len(s))
    # the rate from the samples, from 2 s in (past TCP slow start) to the last ticker sample.
    # HTB on the testbed's veths releases GSO bursts of 15-40 KB (the samples show steps), so
    # an 8 s window is within about a burst of the configured rate: "~150 kbit/s" is checked
    # as 75..300 kbit/s; unthrottled, the 512 KiB body cap is reached in milliseconds.
    st = [e for e in s[:-1] if e['t'] >= s[0]['t'] + 2.0]
    rate = (st[-1]['num_bytes'] - st[0]['num_bytes']) * 8 / (st[-1]['t'] - st[0]['t']) if len(st) >= 2 and st[-1]['t'] > st[0]['t'] else 0
    print(f'throttled rate from the samples: {rate/1000:.1f} kbit/s over {len(st)} samples')
    check('throttled: samples show ~150 kbit/s (75..300)', 75e3 <= rate <= 300e3, rate)
    check('throttled: the download timed out (OONI: http-failure)', tk['requests'][0]['failure'] == 'generic_timeout_error')
    ex = ms.get('https://www.example.com/')
    if ex:
        _, e2 = samples(ex)
        b2 = ex['test_keys']['requests'][0]['response']['body'] or '' if ex['test_keys']['requests'] else ''
        check('unthrottled: final sample >= body bytes', bool(e2) and e2[-1]['num_bytes'] >= len(b2) > 0)
print(f'{P} passed, {F} failed')
PY
