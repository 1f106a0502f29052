#!/usr/bin/env python3
"""check_apps.py SCENARIO DIR CLIENT_ADDR SECONDS - checks the app nettests' measurements of one
apps scenario (DIR/{whatsapp,telegram,signal,facebook_messenger,platforms}.jsonl) against the
scenario's `expect-app APP KEY VALUE` lines (docs/testbed.md), then the report made from them
(DIR/report.{text,json,html}, DIR/report-db.json). Prints one line per check and
"N passed, M failed" last.

KEY: an OONI test key of the app's nettest (compared as JSON: true/false/null/number/string),
x_outcome (for a platform, which shares one platforms measurement with the others: its worst
function verdict, blocked > partial > down > unknown > ok), fn.FUNCTION (that function's
x_functions verdict) or fn.FUNCTION.method."""
import ipaddress
import json
import os
import re
import sys

scn, d, client_addr, secs = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
name = os.path.basename(scn)[:-4]
PLATFORMS = {"x", "youtube", "facebook", "instagram"}
RANK = {"ok": 0, "unknown": 1, "down": 2, "partial": 3, "blocked": 4}
p = f = 0


def check(what, cond, detail=""):
    global p, f
    if cond:
        p += 1
        print(f"ok:   [{name}] {what}")
    else:
        f += 1
        print(f"FAIL: [{name}] {what}" + (f" ({detail})" if detail else ""))


def load(nt):
    try:
        with open(os.path.join(d, nt + ".jsonl")) as fh:
            return [json.loads(l) for l in fh if l.strip()]
    except (OSError, ValueError) as e:
        return e


expects = []
with open(scn) as fh:
    for line in fh:
        w = line.split("#")[0].split()
        if len(w) == 4 and w[0] == "expect-app":
            expects.append(tuple(w[1:]))
check("the scenario has expect-app lines", len(expects) > 0)

meas = {}
for nt in ("whatsapp", "telegram", "signal", "facebook_messenger", "platforms"):
    ms = load(nt)
    ok = isinstance(ms, list) and len(ms) == 1
    check(f"{nt}: one measurement", ok, ms if not isinstance(ms, list) else f"{len(ms)} lines")
    if not ok:
        continue
    m = ms[0]
    meas[nt] = m
    tk = m.get("test_keys") or {}
    check(f"{nt}: test_name, x_functions, x_endpoints and the outcome are recorded",
          m.get("test_name") == nt and isinstance(tk.get("x_functions"), list)
          and isinstance(tk.get("x_endpoints"), list) and tk.get("x_outcome") in RANK)
    # the probe never contacts a real address here: every endpoint address is a testbed one
    lab = ipaddress.ip_network("198.18.0.0/15")
    addrs = [e.get("address") for e in tk.get("x_endpoints") or [] if e.get("address")]
    bad = []
    for a in addrs:
        host = a.rsplit(":", 1)[0].strip("[]") if a.count(":") == 1 or a.startswith("[") else a
        try:
            if ipaddress.ip_address(host) not in lab:
                bad.append(a)
        except ValueError:
            bad.append(a)
    check(f"{nt}: every endpoint address is a testbed address ({len(addrs)})",
          len(addrs) > 0 and not bad, bad[:3])

# the probe's own address never appears in the saved measurements (STUN reflects it)
raw = ""
for nt in meas:
    with open(os.path.join(d, nt + ".jsonl")) as fh:
        raw += fh.read()
check(f"the probe's address {client_addr} is in no measurement",
      re.search(r"(?<![0-9.])" + re.escape(client_addr) + r"(?![0-9])", raw) is None)


def functions(app):
    nt = "platforms" if app in PLATFORMS else app
    tk = (meas.get(nt) or {}).get("test_keys") or {}
    return [x for x in tk.get("x_functions") or [] if x.get("app", nt) == app]


def actual(app, key):
    nt = "platforms" if app in PLATFORMS else app
    tk = (meas.get(nt) or {}).get("test_keys") or {}
    if key == "x_outcome" and app in PLATFORMS:
        fns = functions(app)
        return max((x.get("verdict") for x in fns), key=lambda v: RANK.get(v, 1)) if fns else None
    if key.startswith("fn."):
        parts = key[3:].split(".")
        for x in functions(app):
            if x.get("function") == parts[0]:
                return x.get("method") if len(parts) > 1 else x.get("verdict")
        return "(no such function)"
    return tk.get(key, "(absent)")


def want(v):
    try:
        return json.loads(v)
    except ValueError:
        return v


for app, key, value in expects:
    got = actual(app, key)
    check(f"{app} {key} = {value}", got == want(value), f"got {json.dumps(got)}")

# the case OONI misses: its keys say the app works, the per-function verdict says partial
if name == "telegram-dc-partial" and "telegram" in meas:
    tk = meas["telegram"]["test_keys"]
    ooni_ok = (tk.get("telegram_http_blocking") is False and tk.get("telegram_tcp_blocking") is False
               and tk.get("telegram_web_status") == "ok")
    dc = [x for x in tk.get("x_functions") or [] if x.get("function") == "dc"]
    check("OONI's fields say Telegram works (any data centre counts) while x_functions says the "
          "data centres are partially blocked (1 of 6 reachable)",
          ooni_ok and dc and dc[0].get("verdict") == "partial" and tk.get("x_outcome") == "partial"
          and dc[0].get("endpoints_ok") == 2 and dc[0].get("endpoints_failed") == 10,
          json.dumps(dc[0] if dc else None))

# the report: one "Apps and platforms" section with every app and the same verdicts
try:
    rj = json.load(open(os.path.join(d, "report.json")))
    txt = open(os.path.join(d, "report.text")).read()
    html = open(os.path.join(d, "report.html")).read()
    rdb = json.load(open(os.path.join(d, "report-db.json")))
except (OSError, ValueError) as e:
    rj, txt, html, rdb = {}, "", "", {}
    check("the report was written in text, JSON and HTML", False, str(e))
apps = {a.get("app"): a for a in rj.get("apps") or []}
expected_apps = {"whatsapp", "telegram", "signal", "facebook_messenger"} | PLATFORMS
check("report (JSON lines): the apps section lists the eight apps and platforms",
      set(apps) == expected_apps, sorted(apps))
same = []
for app in expected_apps:
    mine = {(x.get("function"), x.get("verdict"), x.get("method")) for x in functions(app)}
    rep = {(x.get("function"), x.get("verdict"), x.get("method"))
           for x in (apps.get(app) or {}).get("functions") or []}
    if mine != rep or not mine:
        same.append(app)
check("report (JSON): every app's functions, verdicts and methods are the measurements'",
      not same, same)
check("report (text): one 'Apps and platforms' section", txt.count("\nApps and platforms") == 1)
bad = []
for app, key, value in expects:
    if key.startswith("fn.") and key.count(".") == 1 and value != "ok":
        fn = key[3:]
        x = next((x for x in functions(app) if x.get("function") == fn), {})
        line = f"    {fn}: {value} by {x.get('method')}"
        if line not in txt:
            bad.append(line.strip())
check("report (text): each blocked or partial function is listed with its method", not bad, bad)
rows = re.findall(r'<tr data-app="([^"]+)">', html)
check("report (HTML): a matrix row per app", sorted(rows) == sorted(expected_apps), rows)
cells = len(re.findall(r'<td class="fn" data-verdict="(?:blocked|partial)"', html))
nbad = sum(1 for app in expected_apps for x in functions(app)
           if x.get("verdict") in ("blocked", "partial"))
check(f"report (HTML): {nbad} blocked/partial cells, coloured and named", cells == nbad,
      f"{cells} cells")
check("report (HTML): no script", "<script" not in html)
tdb = {a.get("app"): a for a in rdb.get("apps") or []}
check("report (database, telegram): the section from a stored run",
      set(tdb) == {"telegram"} and tdb["telegram"].get("details") is True
      and tdb["telegram"].get("outcome") == (meas.get("telegram") or {}).get("test_keys", {})
      .get("x_outcome"))
check(f"the five nettests took {secs} s (< 60)", secs < 60)
print(f"{p} passed, {f} failed")
