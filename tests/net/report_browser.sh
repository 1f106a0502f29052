#!/usr/bin/env bash
# report_browser.sh - renders HTML reports in a real headless browser (Debian `chromium`) and
# checks what it shows against the database: the page renders, both SVG charts are there with
# the expected bars (values, labels and widths), the headline numbers, tables and glossary
# match counts computed independently from the SQLite rows (tests/fixtures/report/check_dom.py),
# hostile strings from the measurements stay text, and the screenshot is painted (bar colours
# present); run 3: the Throttling section's charts (one per target, target vs control lines). file:// only and no network at all: Chromium runs in an empty network namespace
# when possible (unshare -n), with every background-networking feature off.
# Prints one line per check and a final "browser: N passed, M failed".
set -uo pipefail
cd "$(dirname "$0")/../.."

pass=0
fail=0
ok() { echo "ok:   $*"; pass=$((pass + 1)); }
ko() { echo "FAIL: $*"; fail=$((fail + 1)); }
finish() {
  echo "browser: $pass passed, $fail failed"
  [ -n "${work:-}" ] && rm -rf "$work"
  [ "$fail" -eq 0 ]
  exit $?
}

BIN=${CS_BIN:-build/release/censorscope}
[ -x "$BIN" ] || make -s -j2 >/dev/null 2>&1
[ -x "$BIN" ] || { ko "censorscope binary $BIN not built"; finish; }
CHROME=$(command -v chromium || command -v chromium-browser || true)
[ -n "$CHROME" ] || { ko "chromium is not installed (apt-get install chromium)"; finish; }
command -v python3 >/dev/null || { ko "python3 is not installed"; finish; }

work=$(mktemp -d /tmp/cs_report_browser.XXXXXX)
db=$work/results.db
W=1100
H=2400

NS=()
if unshare -n true 2>/dev/null; then NS=(unshare -n); fi

# run the browser: chrome OUT_KIND OUT_FILE URL
chrome() {
  local profile; profile=$(mktemp -d "$work/profile.XXXXXX")
  local flags=(--headless --no-sandbox --disable-gpu --disable-quic --no-first-run
               --disable-background-networking --disable-component-update --disable-sync
               --disable-extensions --disable-default-apps --no-default-browser-check
               --user-data-dir="$profile" --window-size=$W,$H --hide-scrollbars)
  if [ "$1" = dom ]; then
    HOME=$profile timeout 120 "${NS[@]}" "$CHROME" "${flags[@]}" --dump-dom "$3" >"$2" \
      2>>"$work/chrome.log"
  else
    HOME=$profile timeout 120 "${NS[@]}" "$CHROME" "${flags[@]}" --screenshot="$2" "$3" \
      >>"$work/chrome.log" 2>&1
  fi
}

[ ${#NS[@]} -gt 0 ] && ok "browser runs without any network (unshare -n)" \
                    || echo "note: unshare -n unavailable; relying on file:// and the page's CSP"

# run 1: 300 random measurements; run 2: the hand-written sample with hostile strings
python3 tests/fixtures/report/make_sample.py --many 300 --seed 7 >"$work/many.jsonl"
i=0
for src in "$work/many.jsonl" tests/fixtures/report/sample.jsonl; do
  i=$((i + 1))
  html=$work/report$i.html
  if "$BIN" report --db "$db" --import "$src" --format html -o "$html" 2>>"$work/report.log" &&
     [ -s "$html" ]; then
    ok "run $i: censorscope wrote $(basename "$html") ($(wc -c <"$html") bytes) from $(basename "$src")"
  else
    ko "run $i: censorscope report failed: $(tail -2 "$work/report.log")"
    continue
  fi
  run=$(python3 -c "import sqlite3,sys;print(sqlite3.connect(sys.argv[1]).execute('select max(id) from runs').fetchone()[0])" "$db")
  [ "$run" = "$i" ] && ok "run $i: stored as run $run" || ko "run $i: stored as run '$run'"
  chrome dom "$work/dom$i.html" "file://$html"
  if [ -s "$work/dom$i.html" ]; then ok "run $i: chromium rendered the page (--dump-dom)"
  else ko "run $i: chromium produced no DOM: $(tail -3 "$work/chrome.log")"; continue; fi
  chrome shot "$work/shot$i.png" "file://$html"
  [ -s "$work/shot$i.png" ] && ok "run $i: chromium took a screenshot" \
                            || ko "run $i: no screenshot: $(tail -3 "$work/chrome.log")"
  out=$(python3 tests/fixtures/report/check_dom.py "$db" "$run" "$work/dom$i.html" \
        "$work/shot$i.png" $W $H 2>&1)
  while IFS= read -r line; do
    case $line in
      "ok:   "*) ok "run $i: ${line#ok:   }" ;;
      "FAIL: "*) ko "run $i: ${line#FAIL: }" ;;
      *) [ -n "$line" ] && ko "run $i: checker: $line" ;;
    esac
  done <<<"$out"
  [ -n "${CS_KEEP_SCREENSHOTS:-}" ] && cp "$work/shot$i.png" "$CS_KEEP_SCREENSHOTS/report$i.png"
done

# ---- run 3: the Throttling section's charts (report_throttling.c) ----------------------------
# Throttling measurements in the nettest's shape (tests/fixtures/report/make_throttling.py:
# twitter.com policed at 150 kbit/s, example.org not throttled, a hostile name policed at
# 64 kbit/s; 3 pairs each): the browser must show one chart per target with 3 target and 3
# control lines, the throttled targets' lines must run longer than their controls (slower)
# and example.org's not, and the hostile name must stay text.
python3 tests/fixtures/report/make_throttling.py >"$work/throttling.jsonl"
html=$work/report3.html
if "$BIN" report --db "$db" --import "$work/throttling.jsonl" --format html -o "$html" \
     2>>"$work/report.log" && [ -s "$html" ]; then
  ok "run 3: censorscope wrote a throttling report ($(wc -c <"$html") bytes)"
  chrome dom "$work/dom3.html" "file://$html"
  chrome shot "$work/shot3.png" "file://$html"
  if [ -s "$work/shot3.png" ]; then ok "run 3: chromium took a screenshot"; else ko "run 3: no screenshot"; fi
  out=$(python3 - "$work/dom3.html" <<'PY'
import re, sys
dom = open(sys.argv[1], encoding='utf-8').read()
def res(ok, what): print(('ok:   ' if ok else 'FAIL: ') + what)
charts = re.findall(r'<svg class="thr-chart" id="(thr-chart-\d+-\w+)".*?</svg>', dom, re.S)
res(len(charts) == 3, f'three throttling charts in the rendered DOM ({len(charts)})')
def ends(svg, role):
    out = []
    for pts in re.findall(r'<polyline class="thr-%s"[^>]* points="([^"]*)"' % role, svg):
        out.append(max(float(p.split(',')[0]) for p in pts.split()))
    return out
bodies = re.findall(r'<svg class="thr-chart".*?</svg>', dom, re.S)
for i, (svg, slow) in enumerate(zip(bodies, (True, False, True))):
    t, c = ends(svg, 'target'), ends(svg, 'control')
    res(len(t) == 3 and len(c) == 3, f'chart {i}: 3 target and 3 control lines ({len(t)}, {len(c)})')
    if t and c:
        res((min(t) > 2 * max(c)) == slow, f'chart {i}: target lines {"longer than" if slow else "as long as"} the controls')
    res('time since the trial started (s)' in svg and 'bytes received (kB)' in svg, f'chart {i}: axes labelled with units')
res('<img' not in dom and '<script' not in dom, 'the hostile target name stayed text (no img/script element)')
res('&lt;script&gt;alert("x")&lt;/script&gt;' in dom, 'the hostile name is shown escaped')
PY
)
  while IFS= read -r line; do
    case $line in
      "ok:   "*) ok "run 3: ${line#ok:   }" ;;
      "FAIL: "*) ko "run 3: ${line#FAIL: }" ;;
      *) [ -n "$line" ] && ko "run 3: checker: $line" ;;
    esac
  done <<<"$out"
  [ -n "${CS_KEEP_SCREENSHOTS:-}" ] && cp "$work/shot3.png" "$CS_KEEP_SCREENSHOTS/report3.png"
else
  ko "run 3: censorscope report failed: $(tail -2 "$work/report.log")"
fi
finish
