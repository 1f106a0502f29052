#!/usr/bin/env bash
# collector_ingest.sh - the collector's submission side against a real PostgreSQL 15 (a
# throwaway cluster from scripts/pg-cluster.sh) over loopback HTTP:
#   - kill -9 of the collector while 8 uploaders stream: every measurement answered 200 is in
#     the can, and in PostgreSQL after the restart (the cans are replayed);
#   - a duplicate upload (sequential, and 8 at once) is stored once and answered the same uid;
#   - malformed, oversized, inconsistent (CC/ASN/test_name vs the report), bad report_id,
#     future and too-old submissions are refused with their reasons; wrong method, unknown
#     path, the read-only collector, a Content-Encoding we do not take;
#   - the per-client rate limit answers 429 with Retry-After and logs the /24, never the IP;
#   - OONI's own measurements (../shared/data/ooni-measurements) are accepted, and their
#     outcome columns are what `censorscope analyze` computes from the same file.
# Root is not needed (as root the cluster runs as user postgres). Ports: PostgreSQL 55411,
# collectors 18411-18413 (coll-core's ranges).
set -uo pipefail
cd "$(dirname "$0")/../.."
make -s -j2 >/dev/null || { echo "build failed"; echo "collector ingest: 0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
work=$(mktemp -d /tmp/cs-ingest.XXXXXX)
chmod 0755 "$work"
pgdir=$work/pg
cleanup() {
  for p in $(cat "$work"/*.pid 2>/dev/null); do kill -9 "$p" 2>/dev/null; done
  scripts/pg-cluster.sh stop "$pgdir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
PG=$(scripts/pg-cluster.sh start "$pgdir" "${CS_INGEST_PG_PORT:-55411}") || {
  echo "collector ingest: 0 passed, 1 failed"; exit 1; }
python3 - "$BIN" "$PG" "$work" <<'PY'
import glob, http.client, json, os, random, signal, subprocess, sys, threading, time
BIN, PG, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
PORTS = (18411, 18412, 18413)
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")

def psql(sql):
    return subprocess.run(["psql", PG, "-XAtc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()

procs = {}
def start(port, *extra, data="data", log=None):
    logf = open(f"{WORK}/collector-{port}.log", "a")
    args = [BIN, "collector", "--listen", f"127.0.0.1:{port}", "--pg", PG] + list(extra)
    if data: args += ["--data-dir", f"{WORK}/{data}"]
    pr = subprocess.Popen(args, stdout=logf, stderr=logf)
    procs[port] = pr
    with open(f"{WORK}/{port}.pid", "w") as fh: fh.write(str(pr.pid))
    for _ in range(300):
        try:
            if req(port, "GET", "/api/_/collector/health")[0] == 200: return pr
        except OSError: pass
        if pr.poll() is not None: break
        time.sleep(0.05)
    print(open(f"{WORK}/collector-{port}.log").read())
    raise SystemExit("collector did not start")

def stop(port, sig=signal.SIGTERM):
    pr = procs.pop(port)
    pr.send_signal(sig)
    pr.wait(timeout=30)
    return pr.returncode

def req(port, method, path, body=None, headers=None, conn=None):
    c = conn or http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse()
    raw = r.read()
    if not conn: c.close()
    try: js = json.loads(raw) if raw else None
    except ValueError: js = None
    return r.status, js, r

def now_str(delta=0):
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() + delta))

def msm(cc="PK", asn="AS45595", tn="web_connectivity", inp=None, delta=-60, **kw):
    m = {"test_name": tn, "test_version": "0.4.3", "probe_cc": cc, "probe_asn": asn,
         "probe_ip": "127.0.0.1", "software_name": "censorscope-test",
         "software_version": "0.1.0", "measurement_start_time": now_str(delta),
         "test_start_time": now_str(delta), "input": inp or f"https://s{random.random()}.example/",
         "test_runtime": 0.5, "test_keys": {"x_note": "synthetic"}, "annotations": {}}
    m.update(kw)
    return m

def open_report(port, cc="PK", asn="AS45595", tn="web_connectivity", conn=None):
    s, js, _ = req(port, "POST", "/report", {"probe_cc": cc, "probe_asn": asn, "test_name": tn,
        "software_name": "censorscope-test", "software_version": "0.1.0", "format": "json",
        "data_format_version": "0.2.0", "test_version": "0.4.3"}, conn=conn)
    assert s == 200, (s, js)
    return js["report_id"]

def can_uids():
    uids = set()
    for fn in glob.glob(f"{WORK}/data/cans/*/*.jsonl"):
        with open(fn, "rb") as fh:
            for line in fh:
                if line.endswith(b"\n"): uids.add(json.loads(line)["measurement_uid"])
    return uids

A = PORTS[0]
start(A, "--rate", "0", "--threads", "8", "--max-body", "262144")

# ---- 1. kill -9 mid-stream ------------------------------------------------------------------
acked, errors, lock = [], [], threading.Lock()
stop_flag = threading.Event()
def uploader(i):
    try:
        conn = http.client.HTTPConnection("127.0.0.1", A, timeout=20)
        rid = open_report(A, conn=conn)
        while not stop_flag.is_set():
            s, js, _ = req(A, "POST", f"/report/{rid}", {"format": "json", "content": msm()},
                           headers={"X-Censorscope-Probe-Set": f"ps{i}"}, conn=conn)
            if s == 200:
                with lock: acked.append(js["measurement_uid"])
            else:
                with lock: errors.append((s, js))
    except (OSError, http.client.HTTPException):
        pass  # the collector died under us: whatever was not answered was not acknowledged
threads = [threading.Thread(target=uploader, args=(i,)) for i in range(8)]
for t in threads: t.start()
t0 = time.time()
while len(acked) < 400 and time.time() - t0 < 20: time.sleep(0.02)
procs[A].kill()  # SIGKILL while the uploaders are still sending
procs[A].wait()
procs.pop(A)
stop_flag.set()
for t in threads: t.join()
check(f"uploads were acknowledged before the kill ({len(acked)})", len(acked) >= 100)
check("no refusal while streaming", not errors, str(errors[:3]))
cu = can_uids()
missing = [u for u in acked if u not in cu]
check(f"every acknowledged uid is in the can ({len(cu)} lines)", not missing, str(missing[:3]))
start(A, "--rate", "0", "--threads", "8", "--max-body", "262144")
rows = set(psql("SELECT measurement_uid FROM measurement").split())
missing = [u for u in acked if u not in rows]
check(f"after the restart every acknowledged uid is in PostgreSQL ({len(rows)} rows)",
      not missing, str(missing[:3]))
check("PostgreSQL holds exactly the can's measurements (no more, no less)", rows == cu,
      f"{len(rows)} vs {len(cu)}")
log = open(f"{WORK}/collector-{A}.log").read()
check("the restart replayed the cans", "replayed" in log, log[-500:])

# ---- 2. duplicates --------------------------------------------------------------------------
m = msm(inp="https://dup.example/")
r1, r2 = open_report(A), open_report(A)
s1, j1, _ = req(A, "POST", f"/report/{r1}", {"format": "json", "content": m})
lines_before = len(can_uids())
s2, j2, _ = req(A, "POST", f"/report/{r2}", {"format": "json", "content": dict(m, report_id=r2)})
check("a re-upload (another report) answers the first uid", s1 == s2 == 200 and
      j1["measurement_uid"] == j2["measurement_uid"], f"{j1} {j2}")
check("a re-upload writes nothing to the can", len(can_uids()) == lines_before)
check("a re-upload is stored once",
      psql("SELECT count(*) FROM measurement WHERE input = 'https://dup.example/'") == "1")
s3, j3, _ = req(A, "POST", f"/report/{r1}", {"format": "json", "content": m},
                headers={"X-Censorscope-Probe-Set": "other-probe"})
check("the same content from another probe set is another measurement",
      s3 == 200 and j3["measurement_uid"] != j1["measurement_uid"])
m8 = msm(inp="https://dup8.example/")
res = []
def dup(i):
    res.append(req(A, "POST", "/api/v1/submit_measurement",
                   {"format": "json", "content": json.dumps(m8)}))
ts = [threading.Thread(target=dup, args=(i,)) for i in range(8)]
for t in ts: t.start()
for t in ts: t.join()
uids = {r[1]["measurement_uid"] for r in res if r[0] == 200}
check("8 concurrent identical uploads: all 200, one uid",
      len(res) == 8 and all(r[0] == 200 for r in res) and len(uids) == 1, str(res[:2]))
check("8 concurrent identical uploads: one row",
      psql("SELECT count(*) FROM measurement WHERE input = 'https://dup8.example/'") == "1")

# ---- 3. refusals with reasons ----------------------------------------------------------------
rid = open_report(A)
def refused(name, status, reason, path, body, headers=None):
    s, js, _ = req(A, "POST", path, body, headers=headers)
    err = (js or {}).get("error", "") if isinstance(js, dict) else ""
    check(f"refused: {name} -> {status} '{reason}'", s == status and reason in err, f"{s} {js}")
refused("malformed JSON", 400, "malformed JSON", f"/report/{rid}", b'{"format":"json","content":{')
refused("not an object", 400, "not a JSON object", f"/report/{rid}", b'[1,2]')
refused("content missing", 400, "content missing", f"/report/{rid}", {"format": "json"})
refused("yaml", 400, "format must be", f"/report/{rid}", {"format": "yaml", "content": msm()})
refused("oversized body", 413, "larger than", f"/report/{rid}",
        {"format": "json", "content": msm(test_keys={"pad": "x" * 300000})})
refused("inconsistent CC", 400, "Inconsistent measurement", f"/report/{rid}",
        {"format": "json", "content": msm(cc="IT")})
refused("inconsistent ASN", 400, "Inconsistent measurement", f"/report/{rid}",
        {"format": "json", "content": msm(asn="AS1")})
refused("inconsistent test_name", 400, "Inconsistent measurement", f"/report/{rid}",
        {"format": "json", "content": msm(tn="dnscheck")})
refused("bad report_id (5 parts)", 400, "bad report_id", "/report/20261203T000000Z_x_PK_1_n1",
        {"format": "json", "content": msm()})
refused("bad report_id (country)", 400, "bad report_id: country",
        "/report/20261203T000000Z_webconnectivity_P1_45595_n1_abcdefgh12345678",
        {"format": "json", "content": msm()})
refused("future measurement_start_time", 400, "in the future", f"/report/{rid}",
        {"format": "json", "content": msm(delta=3 * 86400)})
refused("too old measurement_start_time", 400, "older than", f"/report/{rid}",
        {"format": "json", "content": msm(delta=-40 * 86400)})
refused("unparseable time", 400, "measurement_start_time", f"/report/{rid}",
        {"format": "json", "content": msm(measurement_start_time="yesterday")})
refused("bad test_name", 400, "test_name", "/api/v1/submit_measurement",
        {"format": "json", "content": msm(tn="Web Connectivity")})
refused("bad probe-set header", 400, "Probe-Set", f"/report/{rid}",
        {"format": "json", "content": msm()}, {"X-Censorscope-Probe-Set": "a b"})
refused("zstd", 415, "Content-Encoding", f"/report/{rid}", {"format": "json", "content": msm()},
        {"Content-Encoding": "zstd"})
refused("web_connectivity input not an http(s) URL", 400, "http:// or https://", f"/report/{rid}",
        {"format": "json", "content": msm(inp="javascript:alert(1)")})
# a hostile host is stored as evidence but indexes no domain
s, js, _ = req(A, "POST", f"/report/{rid}",
               {"format": "json", "content": msm(inp='https://"><img>x.example/')})
check("hostile host: accepted, domain NULL", s == 200 and psql(
    f"SELECT domain IS NULL FROM measurement WHERE measurement_uid = '{js.get('measurement_uid')}'")
    == "t", f"{s} {js}")
s, js, _ = req(A, "GET", f"/report/{rid}")
check("wrong method -> 405", s == 405 and "method" in js["error"], str(js))
s, js, _ = req(A, "GET", "/no/such/thing")
check("unknown path -> 404", s == 404 and js.get("error"), str(js))
s, js, _ = req(A, "POST", "/report/20261203T000000Z_webconnectivity_ZZ_45595_n1_abcdefgh12345678",
               {"format": "json", "content": msm(cc="ZZ")})
check("CC ZZ is discarded with {} (OONI)", s == 200 and js == {}, f"{s} {js}")
s, js, _ = req(A, "POST", "/api/v1/submit_measurement", {"format": "json", "content": msm(asn="AS0")})
check("ASN 0 is discarded with {} (OONI)", s == 200 and js == {}, f"{s} {js}")
s, js, _ = req(A, "POST", f"/report/{rid}/close")
check("close -> {}", s == 200 and js == {} and
      psql(f"SELECT closed IS NOT NULL FROM report WHERE report_id = '{rid}'") == "t")
check("nothing refused was stored",
      psql("SELECT count(*) FROM measurement WHERE probe_cc <> 'PK' OR probe_asn <> 45595 "
           "OR test_name <> 'web_connectivity'") == "0")
today = time.strftime("%Y%m%d", time.gmtime())
check("the day's partition was created on demand",
      psql(f"SELECT count(*) FROM pg_class WHERE relname = 'measurement_p{today}'") == "1")
check("the dirty hour was recorded", int(psql("SELECT count(*) FROM dirty_hour")) >= 1)

# ---- 4. read-only and rate limits ------------------------------------------------------------
B, C = PORTS[1], PORTS[2]
start(B, "--read-only", data=None)
s, js, _ = req(B, "POST", "/report", {"probe_cc": "PK", "probe_asn": "AS1", "test_name": "x"})
check("read-only collector refuses submissions (405)", s == 405 and "read-only" in js["error"])
s, js, _ = req(B, "GET", "/api/_/collector/health")
check("read-only collector serves GET", s == 200 and js["read_only"] is True)
stop(B)
start(C, "--rate", "5", "--burst", "5", data="data-c")
rid = open_report(C)
statuses, retry = [], None
for i in range(15):
    s, js, r = req(C, "POST", f"/report/{rid}", {"format": "json", "content": msm()})
    statuses.append(s)
    if s == 429: retry = (r.getheader("Retry-After"), js["error"])
ok200 = statuses.count(200)
check(f"rate limit: a burst of 5 then 429 ({statuses})",
      4 <= ok200 <= 6 and statuses.count(429) == 15 - ok200 and statuses[-1] == 429)
check("429 has Retry-After and a reason", retry and retry[0] and "rate limit" in retry[1],
      str(retry))
time.sleep(0.5)
s, _, _ = req(C, "POST", f"/report/{rid}", {"format": "json", "content": msm()})
check("tokens come back with time", s == 200, str(s))
stop(C)
logc = open(f"{WORK}/collector-{C}.log").read()
refusals = [l for l in logc.splitlines() if l.startswith("collector: 4")]
check("refusals are logged with the route and the /24",
      refusals and all("127.0.0.0/24" in l for l in refusals), str(refusals[:2]))
loga = open(f"{WORK}/collector-{A}.log").read()
check("no full client address in any refusal log line",
      not [l for l in (loga + logc).splitlines() if l.startswith("collector: 4") and "127.0.0.1" in l])

# ---- 5. OONI's own measurements ----------------------------------------------------------------
stop(A)
start(A, "--rate", "0", "--max-age", "10000")  # the fixtures are years old
files = sorted(glob.glob(os.path.expanduser(os.path.join(os.getcwd(), "../shared/data/ooni-measurements/*/*.json"))) +
               glob.glob(os.path.join(os.getcwd(), "../shared/data/ooni-measurements/*/*/*.json")))
if not files:
    files = sorted(glob.glob("/work/shared/data/ooni-measurements/**/*.json", recursive=True))
sent = {}
for fn in files:
    raw = json.load(open(fn))
    if "body" in raw:  # an explorer API fixture: the measurement is a JSON string twice over
        raw = json.loads(json.loads(raw["body"])["raw_measurement"])
    s, js, _ = req(A, "POST", "/api/v1/submit_measurement", {"format": "json", "content": raw})
    if s != 200 or "measurement_uid" not in js:
        check(f"OONI measurement accepted: {os.path.basename(fn)}", False, f"{s} {js}")
        continue
    sent[js["measurement_uid"]] = (fn, raw)
check(f"every OONI measurement accepted ({len(sent)} of {len(files)})", len(sent) == len(files) >= 10)
agree = bad = 0
for uid, (fn, raw) in sent.items():
    row = psql("SELECT coalesce(outcome,'-'), anomaly, confirmed, msm_failure, "
               "coalesce(blocking_type,'-'), coalesce(domain,'-') FROM measurement "
               f"WHERE measurement_uid = '{uid}'").split("|")
    tmp = f"{WORK}/one.json"
    json.dump(raw, open(tmp, "w"))
    out = subprocess.run([BIN, "analyze", "--json", tmp], capture_output=True, text=True).stdout
    a = json.loads(out.splitlines()[0]) if out.strip() else None
    if a is None:  # not a nettest we analyse (http_header_field_manipulation)
        want = ["-", "f", "f", "t", "-"]
    else:
        cens = bool(a.get("x_censorship"))
        und = a.get("x_outcome") == "undetermined"
        want = [a.get("x_outcome"), "t" if cens and not und else "f",
                "t" if cens and not und and a.get("x_blockpage_confirmed") else "f",
                "t" if und else "f", a.get("x_outcome") if cens and not und else "-"]
    if row[:5] == want: agree += 1
    else:
        bad += 1
        print(f"  {os.path.basename(fn)}: stored {row} analyze {want}")
check(f"OONI measurements: stored outcome columns = censorscope analyze ({agree} agree)",
      bad == 0 and agree == len(sent))
def col(fname, c):
    for uid, (fn, _) in sent.items():
        if fn.endswith(fname):
            return psql(f"SELECT {c} FROM measurement WHERE measurement_uid = '{uid}'")
check("IR bug_352 (OONI: blocking=dns): anomaly, blocking_type dns, domain fa.wikipedia.org",
      col("bug_352.json", "anomaly::text || blocking_type || domain") == "truednsfa.wikipedia.org")
check("US report1 (OONI: accessible): ok", col("report1.json",
      "(NOT anomaly AND NOT msm_failure)::text || outcome") == "trueaccessible")
check("PK http_header_field_manipulation: stored, outcome NULL, msm_failure",
      col("http_header_field_manipulation_3.json", "(outcome IS NULL)::text || msm_failure") == "truetrue")
s, js, _ = req(A, "POST", "/api/v1/submit_measurement", {"format": "json",
               "content": sent[next(iter(sent))][1]})
check("an OONI measurement re-uploaded is deduplicated", s == 200 and js["measurement_uid"] in sent)
check("clean shutdown exits 0", stop(A) == 0)
print(f"collector ingest: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
rc=$?
[ $rc -eq 0 ] || { for l in "$work"/collector-*.log; do echo "== $l"; tail -15 "$l"; done; }
exit $rc
