#!/usr/bin/env bash
# forensics_locate.sh - `censorscope locate` in the testbed's 5-hop path (testbed/scenarios/
# forensics/locate-*.scn: ISP at hop 1, transit routers at hops 2-4, the internet side at hop
# 5). With the gateway's filters at hop 3 (RST after the SNI, RST after the Host, a forged DNS
# answer racing the real one) the TLS, HTTP and DNS triggers each find hop 3 and the router
# there (the testbed's own CS_TB_CENSOR_HOP and CS_TB_HOP_ROUTERS are the truth, never a
# constant here); the same filters at the ISP are found at hop 1; the uncensored path gives no
# hop; without CAP_NET_RAW (the probe run as nobody) the TCP trace still finds the hop, says
# what it could not see (the router) and the DNS trace still names the router (IP_RECVERR).
# `censorscope analyze` reproduces every outcome and the report has the "Who and where"
# section. Needs root (network namespaces). Honours CS_TB_PREFIX.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j"$(nproc)" >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/${CS_TB_PREFIX:-cs}-testbed}
TB=testbed/testbed
out=$(mktemp -d)
chmod 755 "$out"
trap '$TB down >/dev/null 2>&1' EXIT
fail_up=0

# One scenario: the three triggers at once (each trace has its own 5-tuple), into one store.
run_scenario() { # scenario
  local s=$1
  $TB up "forensics/$s" >"$out/$s.up" 2>&1 || { cat "$out/$s.up"; fail_up=$((fail_up + 1)); return; }
  cp "$CS_TESTBED_DIR/env" "$out/$s.env"
  # shellcheck disable=SC1091
  . "$CS_TESTBED_DIR/env"
  local site=198.18.70.200 res=$CS_TB_PUBLIC_RESOLVER
  lc() { $TB exec client -- "$BIN" locate -q --db "$out/$s.db" --probe-timeout 1 "$@"; }
  lc --sni www.wikipedia.org -o "$out/$s.tls.jsonl" "$site" &
  lc --host www.wikipedia.org -o "$out/$s.http.jsonl" "$site" &
  lc --dns www.wikipedia.org -o "$out/$s.dns.jsonl" "$res" &
  wait
  if [ "$s" = locate-hop3 ]; then # without privilege: nobody, no capabilities
    local np=(setpriv --reuid=65534 --regid=65534 --clear-groups --inh-caps=-all)
    $TB exec client -- "${np[@]}" "$BIN" locate -q --no-db --probe-timeout 1 \
      --sni www.wikipedia.org "$site" >"$out/$s.noraw-tls.jsonl" 2>"$out/$s.noraw.err" &
    $TB exec client -- "${np[@]}" "$BIN" locate -q --no-db --probe-timeout 1 \
      --dns www.wikipedia.org "$res" >"$out/$s.noraw-dns.jsonl" 2>>"$out/$s.noraw.err" &
    wait
    "$BIN" report --db "$out/$s.db" >"$out/$s.report.txt" 2>&1
    "$BIN" report --db "$out/$s.db" --format html >"$out/$s.report.html" 2>&1
  fi
  cat "$out/$s".*.jsonl >"$out/$s.all.jsonl"
  "$BIN" analyze --json "$out/$s.all.jsonl" >"$out/$s.analyze.jsonl" 2>"$out/$s.analyze.err"
}

t0=$SECONDS
for s in locate-hop3 locate-hop1 locate-clean; do run_scenario "$s"; done
secs=$((SECONDS - t0))

python3 - "$out" "$fail_up" "$secs" <<'PY'
import json, os, sys
out, fail_up, secs = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p, f = 0, fail_up
def check(name, cond):
    global p, f
    if cond: p += 1; print("ok:  ", name)
    else: f += 1; print("FAIL:", name)
def env(s):
    e = {}
    for line in open(os.path.join(out, s + '.env')):
        k, _, v = line.rstrip('\n').partition('=')
        e[k] = v.strip('"\'')
    return e
def one(fn):
    path = os.path.join(out, fn)
    ms = [json.loads(l) for l in open(path) if l.strip()] if os.path.exists(path) else []
    return ms[0] if len(ms) == 1 else None
found = {}
for s in ('locate-hop3', 'locate-hop1', 'locate-clean'):
    if not os.path.exists(os.path.join(out, s + '.env')):
        check(f"{s}: testbed up", False); continue
    e = env(s)
    routers = e['CS_TB_HOP_ROUTERS'].split()
    hops, chop = int(e['CS_TB_HOPS']), int(e['CS_TB_CENSOR_HOP'])
    for trig in ('tls', 'http', 'dns'):
        m = one(f"{s}.{trig}.jsonl")
        check(f"{s} {trig}: one locate measurement", m is not None and m['test_name'] == 'locate')
        if m is None: continue
        tk = m['test_keys']; x = tk.get('x_locate') or {}
        check(f"{s} {trig}: trigger and names recorded", tk.get('trigger') == trig and
              tk.get('target') == 'www.wikipedia.org' and tk.get('control') == 'example.com')
        check(f"{s} {trig}: the control trace reached the endpoint at hop {hops}",
              x.get('control_ttl') == hops and x.get('control_path', [{}])[-1].get('result') == 'answer')
        cp = x.get('control_path') or []
        check(f"{s} {trig}: the control path names every router",
              [h.get('router') for h in cp[:hops - 1]] == routers)
        check(f"{s} {trig}: one 5-tuple per trace", x.get('five_tuple_kept') is True)
        if s == 'locate-clean':
            check(f"{s} {trig}: no hop, accessible", x.get('hop') is None and
                  x.get('interference') is False and tk['x_outcome'] == 'accessible' and
                  tk['x_censorship'] is False)
            continue
        want_place = 'on-path' if trig == 'dns' else 'in-path'
        check(f"{s} {trig}: hop {chop}, router {routers[chop - 1]}, {want_place} "
              f"(got {x.get('hop')}, {x.get('router')}, {x.get('placement')})",
              x.get('hop') == chop and x.get('router') == routers[chop - 1] and
              x.get('placement') == want_place)
        check(f"{s} {trig}: located, consistent over {x.get('runs')} runs",
              tk['x_outcome'] == 'located' and tk['x_censorship'] is True and
              x.get('consistent') is True and x.get('runs', 0) >= 2)
        path = x.get('path') or []
        if trig == 'dns':
            h = path[-1] if path else {}
            check(f"{s} dns: the forged answer (198.18.4.80) and the router's time-exceeded at one TTL",
                  h.get('ttl') == chop and h.get('answer') == '198.18.4.80' and
                  h.get('time_exceeded') is True)
        else:
            h = path[-1] if path else {}
            check(f"{s} {trig}: a reset at TTL {chop}", h.get('ttl') == chop and
                  h.get('result') == 'reset' and h.get('failure') == 'connection_reset')
        found[(s, trig)] = (x.get('hop'), x.get('router'))
for trig in ('tls', 'http', 'dns'):
    a, b = found.get(('locate-hop3', trig)), found.get(('locate-hop1', trig))
    check(f"{trig}: the ISP (hop 1) is told apart from the gateway (hop 3)",
          a is not None and b is not None and a[0] != b[0] and a[1] != b[1])

# without CAP_NET_RAW
if os.path.exists(os.path.join(out, 'locate-hop3.env')):
    e = env('locate-hop3'); routers = e['CS_TB_HOP_ROUTERS'].split()
    m = one('locate-hop3.noraw-tls.jsonl')
    x = (m or {}).get('test_keys', {}).get('x_locate') or {}
    check("no privilege, tls: the hop is still found", x.get('hop') == 3)
    check("no privilege, tls: no router, and the note says why",
          x.get('router') is None and x.get('method') == 'so_error' and
          'CAP_NET_RAW' in (x.get('note') or ''))
    m = one('locate-hop3.noraw-dns.jsonl')
    x = (m or {}).get('test_keys', {}).get('x_locate') or {}
    check("no privilege, dns: hop and router from the error queue (IP_RECVERR)",
          x.get('hop') == 3 and x.get('router') == routers[2] and x.get('method') == 'ip_recverr')
    rep = open(os.path.join(out, 'locate-hop3.report.txt')).read()
    check("report: the Who and where section names hop 3 and its router",
          'Who and where' in rep and routers[2] in rep)
    html = open(os.path.join(out, 'locate-hop3.report.html')).read()
    check("report (HTML): Who and where", 'Who and where' in html and routers[2] in html)

allm = ''.join(open(os.path.join(out, fn)).read() for fn in os.listdir(out) if fn.endswith('.jsonl'))
check("the probe's address (198.18.1.2) never appears", '198.18.1.2' not in allm)
for s in ('locate-hop3', 'locate-hop1', 'locate-clean'):
    fn = os.path.join(out, s + '.analyze.jsonl')
    an = [json.loads(l) for l in open(fn) if l.strip()] if os.path.exists(fn) else []
    check(f"{s}: analyze reproduces every outcome",
          len(an) >= 3 and all(a.get('outcome_matches_recorded') is True for a in an))
check(f"three scenarios in {secs} s (< 100)", secs < 100)
print(f"forensics locate: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
rc=$?
if [ $rc -ne 0 ]; then echo "measurements kept in $out"; else rm -rf "$out"; fi
exit $rc
