#!/usr/bin/env bash
# collector_upload.sh - the probe's upload queue against the real collector and a real
# PostgreSQL 15 (scripts/pg-cluster.sh), first over loopback, then inside the testbed:
#   - measuring with the collector down is not slowed, and every measurement stays pending;
#     once the collector is up, `censorscope upload` (collectors remembered by the store)
#     sends each exactly once; a second upload sends nothing;
#   - fallbacks in turn: a first collector that refuses connections, one that accepts and
#     never answers, and (testbed) one whose SYNs are dropped: the next one gets everything;
#   - a 4xx (413: a collector with a small --max-body) is recorded with its reason and never
#     retried;
#   - a crash between the collector's 200 and recording it (SIGKILL through the test hook
#     CENSORSCOPE_TEST_UPLOAD_CRASH_AFTER): the re-send is stored once (the collector's dedup)
#     and the store gets the first measurement_uid;
#   - testbed (fleet/three-isps, as root): a probe in an ISP's client namespace uploads as it
#     measures to the collector on the collector host (198.18.49.2), which reaches PostgreSQL
#     on the host over its unix socket.
# Ports: PostgreSQL 55441, collectors 18440-18444, the measured web server 18449 (coll-upload's
# ranges). Honours CS_TB_PREFIX (default cu) for the testbed part.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j2 >/dev/null || { echo "build failed"; echo "collector upload: 0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
work=$(mktemp -d /tmp/cs-upload.XXXXXX)
chmod 0755 "$work"
pgdir=$work/pg
export CS_TB_PREFIX=${CS_TB_PREFIX:-cu}
export CS_TESTBED_DIR=${CS_TESTBED_DIR:-/run/$CS_TB_PREFIX-testbed}
tb_up=0
cleanup() {
  cat "$work"/*.pid 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null; done
  [ "$tb_up" = 1 ] && testbed/testbed down >/dev/null 2>&1
  scripts/pg-cluster.sh stop "$pgdir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
PG=$(scripts/pg-cluster.sh start "$pgdir" "${CS_UPLOAD_PG_PORT:-55441}") || {
  echo "collector upload: 0 passed, 1 failed"; exit 1; }
python3 - "$BIN" "$PG" "$work" "$(id -u)" <<'PY'
import http.client, http.server, json, os, socket, sqlite3, subprocess, sys, threading, time
BIN, PG, WORK, UID = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")

def psql(sql):
    return subprocess.run(["psql", PG, "-XAtc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()

# the measured site: a small page, and a big one (for the 413)
class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = (b"<html><title>big</title>" + b"x" * 20000) if "/big" in self.path else \
               b"<html><title>ok</title>hello</html>"
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        self.end_headers(); self.wfile.write(body)
    def log_message(self, *a): pass
site = http.server.ThreadingHTTPServer(("127.0.0.1", 18449), Site)
threading.Thread(target=site.serve_forever, daemon=True).start()
def urls(tag, n): return [f"http://127.0.0.1:18449/{tag}/{i}" for i in range(n)]

procs = {}
def start(port, *extra):
    logf = open(f"{WORK}/collector-{port}.log", "a")
    args = [BIN, "collector", "--listen", f"127.0.0.1:{port}", "--pg", PG,
            "--data-dir", f"{WORK}/data-{port}", "--quiet"] + list(extra)
    pr = subprocess.Popen(args, stdout=logf, stderr=logf)
    procs[port] = pr
    open(f"{WORK}/c{port}.pid", "w").write(f"{pr.pid}\n")
    for _ in range(300):
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/_/collector/health"); st = c.getresponse().status; c.close()
            if st == 200: return pr
        except OSError: pass
        if pr.poll() is not None: break
        time.sleep(0.05)
    print(open(f"{WORK}/collector-{port}.log").read())
    raise SystemExit("collector did not start")

def probe(db, tag, n, *extra, env=None):
    args = [BIN, "urlgetter", "--db", db, "--probe-cc", "IT", "--probe-asn", "AS3269",
            "-o", f"{WORK}/{tag}.jsonl"] + list(extra) + urls(tag, n)
    t0 = time.monotonic()
    r = subprocess.run(args, capture_output=True, text=True, env=env)
    return r, time.monotonic() - t0

def upload(db, *extra, env=None):
    t0 = time.monotonic()
    r = subprocess.run([BIN, "upload", "--db", db] + list(extra), capture_output=True,
                       text=True, env=env)
    return r, time.monotonic() - t0

def states(db):
    con = sqlite3.connect(db)
    rows = con.execute("SELECT m.input, u.state, u.collector, u.measurement_uid, u.reason,"
                       " u.http_status, u.attempts FROM uploads u JOIN measurements m"
                       " ON m.id=u.meas_id ORDER BY m.id").fetchall()
    con.close()
    return rows

def pg_rows(tag):
    return psql(f"SELECT input, measurement_uid FROM measurement WHERE input LIKE "
                f"'%/{tag}/%' ORDER BY input").splitlines()

C1, C_DOWN = 18440, 18441
U1 = f"http://127.0.0.1:{C1}"

# ---- 1. the collector down: measuring goes on, everything pending -------------------------
db1 = f"{WORK}/q1.db"
r, el = probe(db1, "down", 6, "--collector", U1, "--upload-wait", "3")
check("measuring with the collector down succeeds", r.returncode == 0, r.stderr[-400:])
check("... and is not held up by it (6 URLs in < 6 s)", el < 6, f"{el:.1f}s")
st = states(db1)
check("... every measurement pending", len(st) == 6 and all(s[1] == "pending" for s in st),
      str(st))
check("... the summary says so", "0 sent, 0 refused, 6 pending" in r.stderr, r.stderr[-300:])

start(C1)
r, el = upload(db1)  # the collectors the run used, remembered by the store
check("upload with the collector up: all sent now",
      r.returncode == 0 and "6 sent now, 0 refused now; 6 sent, 0 refused, 0 pending" in r.stderr,
      r.stderr[-300:])
rows = pg_rows("down")
check("... each stored once in PostgreSQL", len(rows) == 6 and
      len({x.split("|")[0] for x in rows}) == 6, str(rows))
st = states(db1)
pg_uid = {x.split("|")[0]: x.split("|")[1] for x in rows}
check("... the store records each measurement_uid and the collector",
      all(s[1] == "sent" and s[2] == U1 and pg_uid.get(s[0]) == s[3] for s in st), str(st))
r, el = upload(db1, "--collector", U1)
check("a second upload sends nothing", "0 sent now" in r.stderr and len(pg_rows("down")) == 6,
      r.stderr[-300:])

# ---- 2. fallbacks ----------------------------------------------------------------------------
db2 = f"{WORK}/q2.db"
r, el = probe(db2, "fb-refused", 3, "--collector", f"http://127.0.0.1:{C_DOWN}",
              "--collector", U1)
st = states(db2)
check("first collector refuses connections: the run's uploads go to the second",
      r.returncode == 0 and all(s[1] == "sent" and s[2] == U1 for s in st) and len(st) == 3,
      str(st) + r.stderr[-300:])
check("... stored once each", len(pg_rows("fb-refused")) == 3)

hole = socket.socket(); hole.bind(("127.0.0.1", 18442)); hole.listen(64)  # never accepted
db3 = f"{WORK}/q3.db"
r, _ = probe(db3, "fb-hole", 4)
r, el = upload(db3, "--collector", "http://127.0.0.1:18442", "--collector", U1, "--timeout", "2")
st = states(db3)
check("first collector never answers: the second gets everything",
      r.returncode == 0 and len(st) == 4 and all(s[1] == "sent" and s[2] == U1 for s in st),
      str(st) + r.stderr[-300:])
check("... after one request deadline, not one per measurement (< 8 s)", el < 8, f"{el:.1f}s")
db3b = f"{WORK}/q3b.db"
r, el = probe(db3b, "run-hole", 6, "--collector", "http://127.0.0.1:18442", "--upload-wait", "2")
st = states(db3b)
check("measuring with the only collector black-holed: not held up (6 URLs + a 2 s drain < 8 s),"
      " all pending", r.returncode == 0 and el < 8 and len(st) == 6 and
      all(s[1] == "pending" for s in st), f"{el:.1f}s {st} {r.stderr[-300:]}")
hole.close()

# ---- 3. a 4xx is final ------------------------------------------------------------------------
C_SMALL = 18443
start(C_SMALL, "--max-body", "4096")
db4 = f"{WORK}/q4.db"
r, el = probe(db4, "big", 2, "--collector", f"http://127.0.0.1:{C_SMALL}")
st = states(db4)
check("a measurement over the collector's --max-body is refused with its reason",
      len(st) == 2 and all(s[1] == "refused" and s[5] == 413 and s[4] and "HTTP 413" in s[4]
                           for s in st), str(st))
r, el = upload(db4, "--collector", U1)
st2 = states(db4)
check("... and never retried (not even to another collector)",
      "0 sent now, 0 refused now" in r.stderr and st2 == st and not pg_rows("big"),
      r.stderr[-300:])

# ---- 4. a crash between the 200 and recording it --------------------------------------------
db5 = f"{WORK}/q5.db"
probe(db5, "crash", 3)
env = dict(os.environ, CENSORSCOPE_TEST_UPLOAD_CRASH_AFTER="2")
r, _ = upload(db5, "--collector", U1, env=env)
st = states(db5)
check("SIGKILL after the 2nd 200, before recording it", r.returncode == -9 and
      [s[1] for s in st] == ["sent", "pending", "pending"], f"rc={r.returncode} {st}")
check("... the collector has 2 (the unrecorded one included)", len(pg_rows("crash")) == 2)
r, _ = upload(db5, "--collector", U1)
st = states(db5)
rows = pg_rows("crash")
pg_uid = {x.split("|")[0]: x.split("|")[1] for x in rows}
check("the re-send is stored once: 3 rows, each input once", len(rows) == 3 and
      len(pg_uid) == 3, str(rows))
check("... and the store has the first measurement_uid",
      all(s[1] == "sent" and pg_uid.get(s[0]) == s[3] for s in st), str(st))

print(f"loopback: {p} passed, {f} failed")
open(f"{WORK}/loopback.result", "w").write(f"{p} {f}\n")
PY
read -r lp lf <"$work/loopback.result" 2>/dev/null || { lp=0; lf=1; }

# ---- testbed: a probe on an ISP uploads to the collector host -------------------------------
tp=0 tf=0
if [ "$(id -u)" -ne 0 ]; then
  echo "skip: the testbed part needs root"
else
  TB=testbed/testbed
  if $TB up fleet/three-isps >"$work/tb.log" 2>&1; then
    tb_up=1
    # shellcheck disable=SC1091
    . "$CS_TESTBED_DIR/env"
    chmod 0755 "$work"
    CADDR=$CS_TB_COLLECTOR_ADDR
    # ip netns exec execs the collector: $! is its pid (killed at the end)
    ip netns exec "$CS_TB_NS_COLLECTOR" "$BIN" collector --listen "$CADDR:18440" --pg "$PG" \
      --data-dir "$work/tb-data" --quiet >"$work/tb-coll.log" 2>&1 &
    echo $! >"$work/tbcoll.pid"
    disown
    # the collector's SYNs on 18441 are dropped: a black-holed first collector
    ip netns exec "$CS_TB_NS_COLLECTOR" iptables -A INPUT -p tcp --dport 18441 -j DROP
    for _ in $(seq 100); do
      $TB exec coll -- python3 -c "import socket; socket.create_connection(('$CADDR', 18440), 1)" \
        2>/dev/null && break
      sleep 0.1
    done
    isp=dnslie
    up=$(echo "$isp" | tr "[:lower:]" "[:upper:]")
    asn_var=CS_TB_ISP_${up}_ASN cc_var=CS_TB_ISP_${up}_CC
    t0=$(date +%s.%N)
    $TB exec "$isp" -- "$BIN" urlgetter --db "$work/tb.db" --lab-net "$CS_TB_LAB_NET" \
      --probe-cc "${!cc_var}" --probe-asn "${!asn_var}" \
      --collector "http://$CADDR:18441" --collector "http://$CADDR:18440" --upload-wait 20 \
      http://open.fleet.test/ http://news.fleet.test/ http://banned.fleet.test/ \
      >/dev/null 2>"$work/tb-probe.err"
    rc=$?
    t1=$(date +%s.%N)
    python3 - "$work/tb.db" "$PG" "${!cc_var}" "${!asn_var}" "$CADDR" "$rc" "$t0" "$t1" <<'PY'
import sqlite3, subprocess, sys
db, PG, cc, asn, caddr, rc, t0, t1 = sys.argv[1:]
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")
con = sqlite3.connect(db)
st = con.execute("SELECT m.input, u.state, u.collector, u.measurement_uid FROM uploads u"
                 " JOIN measurements m ON m.id=u.meas_id").fetchall()
check("testbed: the ISP probe's run succeeds", rc == "0")
check("testbed: every measurement sent to the collector host's second address (the first"
      " one's SYNs are dropped)", len(st) == 3 and
      all(s[1] == "sent" and s[2] == f"http://{caddr}:18440" for s in st), str(st))
rows = subprocess.run(["psql", PG, "-XAtc",
                       "SELECT measurement_uid, probe_cc, probe_asn FROM measurement WHERE"
                       " input LIKE 'http://%.fleet.test/'"], capture_output=True,
                      text=True).stdout.split()
uids = {r.split("|")[0] for r in rows}
check("testbed: PostgreSQL (unix socket from the collector's namespace) has each once, with"
      " the ISP's CC/ASN", len(rows) == 3 and uids == {s[3] for s in st} and
      all(r.split("|")[1] == cc and "AS" + r.split("|")[2] == asn for r in rows), str(rows))
open(db + ".result", "w").write(f"{p} {f}\n")
PY
    read -r tp tf <"$work/tb.db.result" 2>/dev/null || { tp=0; tf=1; }
    [ "$tf" = 0 ] || { tail -20 "$work/tb-probe.err"; tail -20 "$work/tb-coll.log"; }
  else
    cat "$work/tb.log"; tf=1
  fi
fi
echo "collector upload: $((lp + tp)) passed, $((lf + tf)) failed"
[ $((lf + tf)) -eq 0 ]
