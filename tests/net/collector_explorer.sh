#!/usr/bin/env bash
# collector_explorer.sh - the collector's explorer API and change detector against a real
# PostgreSQL (a throwaway cluster, scripts/pg-cluster.sh) and the real collector on loopback.
# A few measurements go in through the submission API (they make the daily partitions and
# their raw bodies are read back from the cans by /api/v1/measurement/{uid}); the volume is
# scripted straight into `measurement` (tests/net/data/collector_explorer.sql). Checks:
# aggregation numbers equal SQL counts over the stored rows for many axis/filter/grain
# combinations, before the rollup job ran (dirty hours counted from measurement), after it
# (rollups) and after more rows land in a rolled-up hour; CSV equals JSON; the detector fires
# on the scripted onset within the promised delay (with the onset interval), gives -1 on a
# recovery, stays quiet on 5 % noise and across 49-h gaps, reaches a late upload, and makes a
# country-wide event when 3 ASNs flip together but not when 1 does; /measurements paging;
# hostile parameters refused with precise 400s. Ports: PG 55421, HTTP 18421.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j2 >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
T=$(mktemp -d /tmp/cs-explorer.XXXXXX)
chmod 755 "$T"
PGDIR=$T/pg
CPID=
# shellcheck disable=SC2317  # called by the trap
cleanup() {
  [ -n "$CPID" ] && kill "$CPID" 2>/dev/null && wait "$CPID" 2>/dev/null
  scripts/pg-cluster.sh stop "$PGDIR" >/dev/null 2>&1
  rm -rf "$T"
}
trap cleanup EXIT
CONN=$(scripts/pg-cluster.sh start "$PGDIR" 55421) || { echo "0 passed, 1 failed"; exit 1; }
PSQL=(psql "$CONN" -X -q -v ON_ERROR_STOP=1)
[ "$(id -u)" -eq 0 ] && PSQL=(runuser -u postgres -- "${PSQL[@]}")
URL=http://127.0.0.1:18421
mkdir -p "$T/data"
"$BIN" collector --listen 127.0.0.1:18421 --pg "$CONN" --data-dir "$T/data" --threads 4 \
  --rate 0 >"$T/collector.log" 2>&1 &
CPID=$!
for _ in $(seq 100); do
  curl -sf "$URL/api/_/collector/health" >/dev/null 2>&1 && break
  sleep 0.1
done
# the scripted series start 72 h before the current hour
BASE=$(date -u -d "$(date -u +%Y-%m-%dT%H:00:00Z) - 72 hours" +%Y-%m-%dT%H:00:00Z)

python3 - "$URL" "$BASE" "$T" "${PSQL[@]}" <<'PY'
import json, sys, os, subprocess, time, urllib.request, urllib.parse, urllib.error, csv, io
from datetime import datetime, timedelta, timezone
url, base_s, tmp, psql = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]
base = datetime.strptime(base_s, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=timezone.utc)
p = f = 0
def check(name, cond, detail=""):
    global p, f
    if cond: p += 1; print("ok:  ", name)
    else: f += 1; print("FAIL:", name, detail)
def sql(q):
    r = subprocess.run(psql + ["-tA", "-F", "\t", "-c", q], capture_output=True, text=True)
    if r.returncode: raise RuntimeError(r.stderr)
    return [l.split("\t") for l in r.stdout.splitlines() if l]
def get(path, **params):
    q = urllib.parse.urlencode(params)
    try:
        with urllib.request.urlopen(f"{url}{path}?{q}", timeout=30) as r:
            return r.status, r.headers.get("Content-Type", ""), r.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type", ""), e.read().decode()
def post(path, body):
    req = urllib.request.Request(url + path, data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=30) as r: return r.status, json.loads(r.read())
    except urllib.error.HTTPError as e: return e.code, e.read().decode()
def iso(d): return d.strftime("%Y-%m-%dT%H:%M:%SZ")
def wait_clean(what, timeout=60):
    t0 = time.time()
    while time.time() - t0 < timeout:
        if sql("SELECT (SELECT count(*) FROM dirty_hour) + (SELECT count(*) FROM detector_dirty)")[0][0] == "0":
            return True
        time.sleep(0.3)
    print("timeout waiting for", what); return False

# 1. real submissions: one a day (makes the daily partitions), their bodies in the cans
uids = []
now = datetime.now(timezone.utc)
d = base
while d <= now + timedelta(hours=1):
    t = min(d, now - timedelta(minutes=5))
    content = {"test_name": "explorer_check", "probe_cc": "PK", "probe_asn": "AS1001",
               "measurement_start_time": t.strftime("%Y-%m-%d %H:%M:%S"),
               "input": "https://submitted.example/<script>alert(1)</script>",
               "software_name": "censorscope", "software_version": "test",
               "annotations": {"category_code": "NEWS"}, "test_keys": {"marker": f"day-{d:%Y%m%d}"}}
    st, r = post("/api/v1/submit_measurement", {"format": "json", "content": content})
    check(f"submission for {d:%Y-%m-%d} accepted", st == 200 and "measurement_uid" in r, str(r))
    if st == 200: uids.append((r["measurement_uid"], f"day-{d:%Y%m%d}"))
    d += timedelta(days=1)
# 2. the scripted volume straight into measurement
gen = open("tests/net/data/collector_explorer.sql").read()
r = subprocess.run(psql + ["-v", f"base={base_s}"], input=gen, capture_output=True, text=True)
check("scripted rows inserted", r.returncode == 0, r.stderr)
total = int(sql("SELECT count(*) FROM measurement")[0][0])
check("volume present", total > 3000, str(total))

# 3. aggregation = SQL counts, for many combinations
AX = {"measurement_start_day": None, "probe_cc": "probe_cc", "probe_asn": "probe_asn",
      "domain": "domain", "input": "input", "category_code": "category_code",
      "test_name": "test_name", "blocking_type": "blocking_type"}
def truth(params):
    since, until = params["since"], params["until"]
    where = ["measurement_start_time >= %s::timestamptz" % q(since),
             "measurement_start_time < %s::timestamptz" % q(until)]
    for k in ("probe_cc", "domain", "category_code", "test_name"):
        if k in params:
            vals = params[k].split(",")
            if k == "domain": vals = [v.lower() for v in vals]  # the API lower-cases hosts
            where.append("%s IN (%s)" % (k, ",".join(q(v) for v in vals)))
    if "probe_asn" in params:
        where.append("probe_asn IN (%s)" % ",".join(v.upper().replace("AS", "") for v in params["probe_asn"].split(",")))
    if "input" in params: where.append("input = %s" % q(params["input"]))
    cols = []
    for a in ("axis_x", "axis_y"):
        if a in params:
            n = params[a]
            if n == "measurement_start_day":
                g = params.get("time_grain", "day")
                fmt = 'YYYY-MM-DD"T"HH24:00:00"Z"' if g == "hour" else "YYYY-MM-DD"
                cols.append(f"to_char(date_trunc('{g}', measurement_start_time, 'UTC') AT TIME ZONE 'UTC', '{fmt}')")
            else: cols.append(n)
    sel = ", ".join(cols + [
        "count(*) FILTER (WHERE anomaly AND NOT confirmed AND NOT msm_failure)",
        "count(*) FILTER (WHERE confirmed AND NOT msm_failure)",
        "count(*) FILTER (WHERE msm_failure)",
        "count(*) FILTER (WHERE NOT anomaly AND NOT confirmed AND NOT msm_failure)", "count(*)"])
    qq = f"SELECT {sel} FROM measurement WHERE {' AND '.join(where)}"
    if cols: qq += " GROUP BY " + ", ".join(str(i + 1) for i in range(len(cols)))
    out = {}
    for row in sql(qq):
        key = tuple(None if v == "" else v for v in row[:len(cols)])
        out[key] = tuple(int(v) for v in row[len(cols):])
    return out
def q(s): return "'" + s.replace("'", "''") + "'"
def api(params):
    st, ct, body = get("/api/v1/aggregation", **params)
    if st != 200: return None, body
    j = json.loads(body)
    res = j["result"] if j["dimension_count"] else [j["result"]]
    axes = [params[a] for a in ("axis_x", "axis_y") if a in params]
    out = {}
    for r in res:
        key = tuple(None if r[a] is None else str(r[a]) for a in axes)
        out[key] = (r["anomaly_count"], r["confirmed_count"], r["failure_count"], r["ok_count"], r["measurement_count"])
    if not axes and out.get(()) == (0, 0, 0, 0, 0): out = {}
    return out, j
S, U = iso(base - timedelta(days=1)), iso(now + timedelta(days=1))
S7 = iso(base - timedelta(hours=3)); U7 = iso(base + timedelta(hours=80))
combos = [
    {"since": S, "until": U, "probe_cc": "PK"},
    {"since": S, "until": U, "axis_x": "measurement_start_day"},
    {"since": iso(base + timedelta(minutes=17)), "until": iso(base + timedelta(hours=50, minutes=41)),
     "axis_x": "measurement_start_day", "axis_y": "probe_cc"},
    {"since": S7, "until": U7, "axis_x": "measurement_start_day", "time_grain": "hour",
     "domain": "onset.example,NATIONAL.example"},
    {"since": S, "until": U, "axis_x": "probe_asn", "axis_y": "blocking_type", "probe_cc": "PK"},
    {"since": S, "until": U, "axis_x": "category_code", "test_name": "web_connectivity,dnscheck"},
    {"since": S, "until": U, "axis_x": "domain", "probe_asn": "AS4001,4002"},
    {"since": S, "until": U, "axis_x": "test_name", "axis_y": "probe_asn"},
    {"since": S, "until": U, "axis_x": "input", "probe_cc": "RU"},
    {"since": S, "until": U, "input": "https://v3.example/p", "axis_x": "probe_cc"},
    {"since": iso(base - timedelta(days=20)), "until": U, "axis_x": "measurement_start_day",
     "time_grain": "week", "axis_y": "blocking_type"},
    {"since": iso(base - timedelta(days=40)), "until": U, "axis_x": "measurement_start_day",
     "time_grain": "month"},
    {"since": S, "until": U, "axis_x": "blocking_type", "category_code": "NEWS"},
    # domains without a network or blocking-type axis: the per-domain daily rollup (dom_day)
    {"since": S, "until": U, "axis_x": "domain", "probe_cc": "PK"},
    {"since": S, "until": U, "axis_x": "measurement_start_day", "axis_y": "category_code",
     "domain": "onset.example,v1.example"},
]
def run_combos(phase):
    for c in combos:
        got, j = api(c)
        want = truth(c)
        name = "&".join(f"{k}={v}" for k, v in c.items() if k not in ("since", "until"))
        diff = sorted(k for k in set(got or {}) | set(want) if (got or {}).get(k) != want.get(k))
        check(f"[{phase}] aggregation {name} = SQL count ({sum(v[4] for v in want.values())} rows)",
              got == want, f"{j if got is None else ''} {len(diff)} cells differ, e.g. " +
              "; ".join(f"{k}: api {(got or {}).get(k)} sql {want.get(k)}" for k in diff[:3]))
dirty0 = int(sql("SELECT count(*) FROM dirty_hour")[0][0])
run_combos(f"{dirty0} dirty hours")
check("rollup job consumed every dirty hour", wait_clean("rollup"))
check("cell_hour sums to the stored rows",
      sql("SELECT sum(measurement_count) FROM cell_hour")[0][0] == str(total))
run_combos("rolled up")
# more rows into hours already rolled up: exact again at once, and after the job
sql(f"""INSERT INTO measurement (measurement_uid, measurement_start_time, report_id, dedup_key,
  test_name, probe_cc, probe_asn, domain, anomaly, confirmed, msm_failure, blocking_type,
  can_path, can_offset, can_len) SELECT 'w' || i, '{iso(base + timedelta(hours=30))}'::timestamptz
  + (i || ' s')::interval, 'r', decode(md5('w' || i), 'hex'), 'dnscheck', 'PK', 4001,
  'v1.example', i % 2 = 0, false, false, CASE WHEN i % 2 = 0 THEN 'dns' END, 'cans/x', 0, 1
  FROM generate_series(1, 37) i;
  INSERT INTO dirty_hour VALUES ('{iso(base + timedelta(hours=30))}') ON CONFLICT DO NOTHING""")
run_combos("late rows, hour dirty")
st, ct, body = get("/api/v1/aggregation", since=S, until=U, axis_x="probe_cc", axis_y="blocking_type", format="CSV", download="true")
rows = list(csv.reader(io.StringIO(body)))
got, _ = api({"since": S, "until": U, "axis_x": "probe_cc", "axis_y": "blocking_type"})
fromcsv = {(r[0] or None, r[1] or None): tuple(int(x) for x in r[2:]) for r in rows[1:]}
check("CSV has the JSON's numbers", st == 200 and ct.startswith("text/csv") and
      rows[0] == ["probe_cc", "blocking_type", "anomaly_count", "confirmed_count", "failure_count",
                  "ok_count", "measurement_count"] and fromcsv == got, body[:300])
st, ct, body = get("/api/v1/aggregation", since=S, until=U, probe_cc="PK")
j = json.loads(body)
check("OONI's shape (dimension_count 0: one object)", j.get("v") == 0 and j["dimension_count"] == 0
      and isinstance(j["result"], dict) and "elapsed_seconds" in j["db_stats"], body[:200])
check("rollup job consumed the late hour", wait_clean("late hour"))
run_combos("late rows, rolled up")

# 4. the detector
def cps(**kw):
    st, ct, body = get("/api/v1/detector/changepoints", since=S, until=U, **kw)
    return json.loads(body)["results"] if st == 200 else body
def hrs(n): return iso(base + timedelta(hours=n))
allc = cps()
by = {(c["probe_asn"], c["domain"], c["blocking_type"]): c for c in allc}
j = json.loads(get("/api/v1/detector/changepoints", since=S, until=U)[2])
c = by.get((1001, "onset.example", "dns"))
check("onset: one +1 changepoint", c is not None and c["change_dir"] == 1, str(allc))
if c:
    # blocked from hour 48 at 2 an hour: the promised delay is 3 h (3 * 2 * 0.65 > 3.5)
    check("onset: alert at the promised hour (48 + 3 - 1)", c["ts"] == hrs(50), c["ts"])
    check("onset: onset interval (47, 48]", c["start_ts"] == hrs(48) and c["prev_ts"] == hrs(47), str(c))
    check("onset: blocked fraction and count recorded", c["n"] == 2 and c["k"] == 2 and c["s_pos"] > 3.5)
c = by.get((1001, "recovery.example", "tcp_ip"))
check("recovery: change_dir -1 at 36 + 4 - 1", c is not None and c["change_dir"] == -1 and c["ts"] == hrs(39), str(c))
check("no alert on 5 % noise (10 networks, 3 days)",
      not [c for c in allc if c["domain"] == "noise.example"] and
      int(sql("SELECT count(*) FROM measurement WHERE domain = 'noise.example' AND anomaly")[0][0]) > 10)
check("no alert across 49-h gaps", not [c for c in allc if c["domain"].startswith("gap-")])
check("three ASNs flipped on national.example", sorted(c["probe_asn"] for c in allc if c["domain"] == "national.example") == [2001, 2002, 2003])
check("detector parameters and promised delays reported",
      j["detector"]["delay_h"]["onset_1_per_hour"] == 6 and j["detector"]["delay_h"]["onset_3_per_hour"] == 2)
st, ct, body = get("/api/v1/detector/events", since=S, until=U)
ev = json.loads(body)["results"] if st == 200 else []
nat = [e for e in ev if e["domain"] == "national.example"]
check("country-wide event when 3 ASNs flip together",
      len(nat) == 1 and nat[0]["probe_asns"] == [2001, 2002, 2003] and nat[0]["change_dir"] == 1
      and nat[0]["probe_cc"] == "PK" and nat[0]["asn_count"] == 3, body[:400])
check("no country-wide event when 1 ASN flips", not [e for e in ev if e["domain"] == "single.example"]
      and (2001, "single.example", "dns") in by)
check("changepoint filters: probe_asn + domain",
      [c["domain"] for c in cps(probe_asn="AS2002", domain="national.example")] == ["national.example"])
# a late upload: late.example's blocked hours 48..59 arrive after detection ran
check("late.example quiet before the late upload", not [c for c in allc if c["domain"] == "late.example"])
sql(f"""INSERT INTO measurement (measurement_uid, measurement_start_time, report_id, dedup_key,
  test_name, probe_cc, probe_asn, domain, anomaly, confirmed, msm_failure, blocking_type,
  can_path, can_offset, can_len) SELECT 'late' || h || '-' || i,
  '{base_s}'::timestamptz + (h || ' hours')::interval + (i || ' s')::interval, 'r',
  decode(md5('late' || h || '-' || i), 'hex'), 'web_connectivity', 'PK', 1001, 'late.example',
  true, false, false, 'dns', 'cans/x', 0, 1 FROM generate_series(48, 59) h, generate_series(1, 2) i;
  INSERT INTO dirty_hour SELECT DISTINCT date_trunc('hour', '{base_s}'::timestamptz + (h || ' hours')::interval)
  FROM generate_series(48, 59) h ON CONFLICT DO NOTHING""")
check("late upload: rollup and detector re-ran", wait_clean("late upload"))
late = [c for c in cps(domain="late.example")]
check("late upload reaches detection at the hour it would have in time",
      len(late) == 1 and late[0]["ts"] == hrs(50) and late[0]["change_dir"] == 1, str(late))
check("append-only log: nothing retracted by the replays",
      sql("SELECT count(*) FROM detector_changepoint WHERE retracted_at IS NOT NULL")[0][0] == "0")

# 5. /measurements and /measurement/{uid}
st, ct, body = get("/api/v1/measurements", probe_cc="PK", domain="onset.example", since=S, until=U, limit=50)
j = json.loads(body)
n_onset = int(sql("SELECT count(*) FROM measurement WHERE domain = 'onset.example'")[0][0])
seen = [r["measurement_uid"] for r in j["results"]]
pages = 1
while j["metadata"]["next_url"] and pages < 10:
    with urllib.request.urlopen(url + j["metadata"]["next_url"]) as r: j = json.loads(r.read())
    seen += [r["measurement_uid"] for r in j["results"]]; pages += 1
check(f"measurements: {n_onset} rows over {pages} pages, none twice", len(seen) == n_onset == len(set(seen)), f"{len(seen)} {n_onset}")
st, ct, body = get("/api/v1/measurements", probe_cc="PK", anomaly="true", domain="national.example", since=S, until=U, limit=1000)
j = json.loads(body)
check("measurements: anomaly filter", st == 200 and len(j["results"]) == 2 * 3 * 32 and
      all(r["anomaly"] and r["probe_asn"].startswith("AS") for r in j["results"]), str(len(j.get("results", []))))
for uid, marker in uids[:2]:
    st, ct, body = get("/api/v1/measurement/" + uid)
    m = json.loads(body) if st == 200 else {}
    raw = m.get("raw_measurement") or {}
    check(f"measurement/{uid[:20]}..: the raw body from the can",
          st == 200 and raw.get("test_keys", {}).get("marker") == marker and m.get("measurement_uid") == uid
          and raw.get("input") == "https://submitted.example/<script>alert(1)</script>", body[:300])
st, ct, body = get("/api/v1/measurement/20261203000000.000000_PK_x_0000000000000000")
check("unknown uid: 404", st == 404 and "error" in body)
syn = sql("SELECT measurement_uid FROM measurement WHERE domain = 'onset.example' LIMIT 1")[0][0]
st, ct, body = get("/api/v1/measurement/" + syn)
check("row without a can line: raw_measurement null with the reason",
      st == 200 and json.loads(body)["raw_measurement"] is None and "raw_error" in json.loads(body), body[:200])

# 6. hostile parameters: precise 400s, nothing reaches SQL as text
bad = [("/api/v1/aggregation", {"probe_cc": "pk"}, "probe_cc"),
       ("/api/v1/aggregation", {"probe_cc": "PK,XX'); DROP TABLE measurement;--"}, "probe_cc"),
       ("/api/v1/aggregation", {"probe_asn": "AS12x"}, "probe_asn"),
       ("/api/v1/aggregation", {"probe_asn": "99999999999"}, "probe_asn"),
       ("/api/v1/aggregation", {"domain": "a.example\",\"b"}, "domain"),
       ("/api/v1/aggregation", {"domain": ",".join(["a.example"] * 51)}, "domain"),
       ("/api/v1/aggregation", {"since": "2026-13-01"}, "since"),
       ("/api/v1/aggregation", {"since": "2026-02-29"}, "since"),
       ("/api/v1/aggregation", {"until": "yesterday"}, "until"),
       ("/api/v1/aggregation", {"since": "2026-11-02", "until": "2026-11-01"}, "until"),
       ("/api/v1/aggregation", {"axis_x": "probe_ip"}, "axis_x"),
       ("/api/v1/aggregation", {"axis_y": "probe_cc"}, "axis_y"),
       ("/api/v1/aggregation", {"axis_x": "probe_cc", "axis_y": "probe_cc"}, "differ"),
       ("/api/v1/aggregation", {"axis_x": "measurement_start_day", "time_grain": "hour"}, "time_grain"),
       ("/api/v1/aggregation", {"time_grain": "decade"}, "time_grain"),
       ("/api/v1/aggregation", {"format": "XML"}, "format"),
       ("/api/v1/aggregation", {"input": "ab"}, "input"),
       ("/api/v1/aggregation", {"input": "abc\ndef"}, "input"),
       ("/api/v1/aggregation", {"test_name": "Web"}, "test_name"),
       ("/api/v1/aggregation", {"category_code": "NEWS;"}, "category_code"),
       ("/api/v1/measurements", {"limit": "0"}, "limit"),
       ("/api/v1/measurements", {"limit": "-5"}, "limit"),
       ("/api/v1/measurements", {"offset": "1e9"}, "offset"),
       ("/api/v1/measurements", {"order_by": "probe_ip"}, "order_by"),
       ("/api/v1/measurements", {"anomaly": "maybe"}, "anomaly"),
       ("/api/v1/measurements", {"report_id": "x' OR '1'='1"}, "report_id"),
       ("/api/v1/measurement/x'OR'1'='1", {}, "measurement_uid"),
       ("/api/v1/detector/changepoints", {"change_dir": "2"}, "change_dir"),
       ("/api/v1/detector/changepoints", {"blocking_type": "DNS"}, "blocking_type"),
       ("/api/v1/detector/events", {"probe_asn": "1"}, "probe_asn"),
       # a NUL (%00) neither cuts a value short ("a.example") nor passes
       ("/api/v1/aggregation", {"domain": "a.example\x00.evil"}, "domain"),
       ("/ui/index.html%00.js", {}, "NUL"),
       ("/api/v1/measurement/x%00y", {}, "NUL")]
for path, params, word in bad:
    st, ct, body = get(path, **params)
    try: err = json.loads(body).get("error", "")
    except ValueError: err = ""
    check(f"400 {path} {params}"[:110], st == 400 and word in err, f"{st} {body[:200]}")
st, ct, body = get("/api/v1/measurement/..%2F..%2Fetc%2Fpasswd")
check("a path in the uid is refused", st in (400, 404) and "root:" not in body, f"{st} {body[:100]}")
check("measurement table intact", int(sql("SELECT count(*) FROM measurement")[0][0]) >= total)
print(f"{p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
rc=$?
if [ $rc -ne 0 ]; then tail -20 "$T/collector.log"; fi
exit $rc
