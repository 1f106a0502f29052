#!/usr/bin/env bash
# explorer_browser.sh - the collector's explorer web UI in a real headless browser (Debian
# `chromium`), against the real collector on a throwaway PostgreSQL cluster: measurements of
# a small fleet (an onset of blocking on three networks; hostile strings in inputs,
# categories, network names and evidence) go in through the real submission API
# (tests/net/explorer_fixture.py), then the dashboard is rendered (--dump-dom after a virtual
# time budget) for a country, a network with one measurement's evidence, and a domain, and
# tests/net/check_explorer.py checks: every chart and table shows the numbers the API gives
# for the same filters (per-network totals also equal what the collector acknowledged), the
# hostile strings are shown as text, no injected element or event handler exists, no payload
# ran (the title, a body attribute), every link stays on the collector; and the UI's HTTP
# answers: content types, CSP (default-src 'self', frame-ancestors 'none'), nosniff, ETag and
# 304, 404 for anything else. A narrow (360 px) screenshot must be painted.
#
# No network beyond loopback: when possible (root) everything runs in its own empty network
# namespace (unshare -n, with only lo up); PostgreSQL is reached over its unix socket.
# Ports: PostgreSQL 55430, collector 127.0.0.1:18430. Prints a final "N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1

if [ -z "${CS_EXPLORER_NS:-}" ] && [ "$(id -u)" = 0 ] && unshare -n true 2>/dev/null; then
  # shellcheck disable=SC2016 # expanded by the inner bash
  CS_EXPLORER_NS=1 exec unshare -n -- bash -c 'ip link set lo up && exec bash "$0" "$@"' \
    "$PWD/tests/net/explorer_browser.sh" "$@"
fi

pass=0
fail=0
ok() { echo "ok:   $*"; pass=$((pass + 1)); }
ko() { echo "FAIL: $*"; fail=$((fail + 1)); }

BIN=${CS_BIN:-build/release/censorscope}
PGPORT=${CS_EXPLORER_PGPORT:-55430}
ADDR=127.0.0.1:${CS_EXPLORER_PORT:-18430}
BASE=http://$ADDR
work=
cpid=
finish() {
  if [ -n "$cpid" ]; then
    kill "$cpid" 2>/dev/null
    wait "$cpid" 2>/dev/null
  fi
  [ -n "$work" ] && [ -d "$work/pg" ] && scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1
  echo "explorer_browser: $pass passed, $fail failed"
  [ -n "$work" ] && [ -z "${CS_KEEP:-}" ] && rm -rf "$work"
  [ "$fail" -eq 0 ]
  exit $?
}
trap finish EXIT
trap 'exit 1' INT TERM

[ -x "$BIN" ] || make -s -j2 >/dev/null 2>&1
[ -x "$BIN" ] || { ko "censorscope binary $BIN not built"; exit 1; }
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { ko "chromium is not installed (apt-get install chromium)"; exit 1; }
command -v python3 >/dev/null || { ko "python3 is not installed"; exit 1; }
[ -x scripts/pg-cluster.sh ] || { ko "scripts/pg-cluster.sh is missing"; exit 1; }
if [ -n "${CS_EXPLORER_NS:-}" ]; then ok "running in an empty network namespace (only lo)"
else echo "note: not root or no unshare -n: using the host's loopback only"; fi

work=$(mktemp -d /tmp/cs_explorer_browser.XXXXXX)
chmod 755 "$work"
if ! conninfo=$(scripts/pg-cluster.sh start "$work/pg" "$PGPORT" 2>"$work/pg.log"); then
  ko "PostgreSQL cluster did not start: $(tail -3 "$work/pg.log")"
  exit 1
fi
ok "PostgreSQL started ($conninfo)"

mkdir -p "$work/data"
"$BIN" collector --listen "$ADDR" --pg "$conninfo" --data-dir "$work/data" --rate 0 \
  >"$work/collector.log" 2>&1 &
cpid=$!
up=
for _ in $(seq 1 100); do
  if python3 -c "import urllib.request,sys;urllib.request.urlopen(sys.argv[1],timeout=2)" \
       "$BASE/api/_/collector/health" 2>/dev/null; then up=1; break; fi
  kill -0 "$cpid" 2>/dev/null || break
  sleep 0.1
done
if [ -n "$up" ]; then ok "collector listening on $ADDR"
else ko "collector did not start: $(tail -3 "$work/collector.log")"; exit 1; fi

# ---- the UI's HTTP answers ----------------------------------------------------------------
out=$(python3 tests/net/check_explorer.py http "$BASE" 2>&1)
while IFS= read -r line; do
  case $line in
    "ok:   "*) ok "${line#ok:   }" ;;
    "FAIL: "*) ko "${line#FAIL: }" ;;
    *) [ -n "$line" ] && ko "checker: $line" ;;
  esac
done <<<"$out"

# ---- measurements through the real submission API -----------------------------------------
if ! python3 tests/net/explorer_fixture.py "$BASE" >"$work/submitted.json" 2>"$work/fixture.log"; then
  ko "submitting measurements failed: $(tail -3 "$work/fixture.log")"
  exit 1
fi
read -r nacc nref <<<"$(python3 -c "import json,sys;j=json.load(open(sys.argv[1]));print(len(j['accepted']),len(j['refused']))" "$work/submitted.json")"
# 108 (onset) + 12 hostile + 4 (IR) must be accepted; the 2 non-URL inputs may be refused
if [ "$nacc" -ge 124 ]; then ok "collector acknowledged $nacc measurements ($nref refused)"
else ko "collector acknowledged only $nacc measurements: $(head -c 600 "$work/submitted.json" | tr '\n' ' ')"; fi
python3 -c "
import json,sys
for r in json.load(open(sys.argv[1]))['refused']: print('note: refused:', r['what'], r['status'], (r['error'] or '')[:100])
" "$work/submitted.json"

# The detector runs as a background job: wait (bounded) for the onset's change points.
cps=0
for _ in $(seq 1 120); do
  cps=$(python3 -c "
import json,sys,urllib.request
try:
    j=json.load(urllib.request.urlopen(sys.argv[1]+'/api/v1/detector/changepoints?probe_cc=PK',timeout=5))
    print(len(j.get('results') or []))
except Exception: print(-1)" "$BASE")
  [ "$cps" != 0 ] && break # found, or no detector route at all (-1)
  sleep 0.5
done
if [ "$cps" -gt 0 ] 2>/dev/null; then ok "the detector reported $cps change points for PK"
elif [ "$cps" = -1 ]; then echo "note: /api/v1/detector/changepoints is not available: alerts checked empty"
else ko "no change point for the onset on 3 networks after 60 s"; fi

# ---- the dashboard in Chromium ------------------------------------------------------------
chrome() { # chrome dom|shot OUT URL [WIDTH]
  local profile; profile=$(mktemp -d "$work/profile.XXXXXX")
  local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
               --disable-background-networking --disable-component-update --disable-sync
               --disable-extensions --disable-default-apps --no-default-browser-check
               --user-data-dir="$profile" --window-size="${4:-1100},2400" --hide-scrollbars
               --virtual-time-budget=15000)
  if [ "$1" = dom ]; then
    HOME=$profile timeout 90 "$CHROME" "${flags[@]}" --dump-dom "$3" >"$2" 2>>"$work/chrome.log"
  else
    HOME=$profile timeout 90 "$CHROME" "${flags[@]}" --screenshot="$2" "$3" >>"$work/chrome.log" 2>&1
  fi
}
uid=$(python3 -c "
import json,sys
j=json.load(open(sys.argv[1]))
# a hostile measurement with a failure string (the evidence carries an <img onerror>)
c=[a for a in j['accepted'] if a['asn']==64513 and a['kind']=='http']
print(c[0]['uid'] if c else '')" "$work/submitted.json")
enc() { python3 -c "import sys,urllib.parse;print(urllib.parse.quote(sys.argv[1],safe=''))" "$1"; }
views=("cc=PK" "cc=PK&asn=64513&m=$(enc "$uid")" "cc=PK&domain=www.example.com")
i=0
for v in "${views[@]}"; do
  i=$((i + 1))
  chrome dom "$work/dom$i.html" "$BASE/#$v"
  if [ -s "$work/dom$i.html" ]; then ok "view $i (#${v:0:40}): chromium rendered the page"
  else ko "view $i: chromium produced no DOM: $(tail -3 "$work/chrome.log")"; continue; fi
  hash=$(python3 -c "import sys,urllib.parse;print(urllib.parse.urlencode(urllib.parse.parse_qsl(sys.argv[1])))" "$v")
  out=$(python3 tests/net/check_explorer.py dom "$BASE" "$work/dom$i.html" "$hash" "$work/submitted.json" 2>&1)
  while IFS= read -r line; do
    case $line in
      "ok:   "*) ok "${line#ok:   }" ;;
      "FAIL: "*) ko "${line#FAIL: }" ;;
      "note: "*) echo "$line" ;;
      *) [ -n "$line" ] && ko "checker: $line" ;;
    esac
  done <<<"$out"
done

# narrow screen: the page still paints (and the PNG is not blank)
chrome shot "$work/narrow.png" "$BASE/#cc=PK" 360
if python3 - "$work/narrow.png" <<'PY'
import struct, sys, zlib
d = open(sys.argv[1], 'rb').read()
assert d[:8] == b'\x89PNG\r\n\x1a\n'
w, h = struct.unpack('>II', d[16:24])
idat = b''.join(d[i + 8:i + 8 + struct.unpack('>I', d[i:i + 4])[0]]
                for i in range(8, len(d)) if d[i + 4:i + 8] == b'IDAT')
raw = zlib.decompress(idat)
colours = len(set(raw[j:j + 3] for j in range(1, min(len(raw), 4 * w * 400), 4)))
print('narrow screenshot %dx%d, %d distinct pixel values in the top rows' % (w, h, colours))
sys.exit(0 if w == 360 and colours > 20 else 1)
PY
then ok "narrow (360 px) screenshot painted"; else ko "narrow screenshot blank or missing"; fi
[ -n "${CS_KEEP_SCREENSHOTS:-}" ] && cp "$work/narrow.png" "$CS_KEEP_SCREENSHOTS/explorer-narrow.png"

if kill -0 "$cpid" 2>/dev/null; then ok "collector still running after the browser runs"
else ko "collector died: $(tail -3 "$work/collector.log")"; fi
