#!/usr/bin/env bash
# collector_work.sh - work splitting against the real collector and a real PostgreSQL 15
# (scripts/pg-cluster.sh), over loopback:
#   - POST /api/v1/work/lists is admin only (--admin-token FILE; 401 without or with a wrong
#     token), validates its input (400 with a reason) and refuses a second list of one name
#     (409);
#   - 12 concurrent claims get 12 different chunks (FOR UPDATE SKIP LOCKED), nothing twice;
#     a lease is per network (another CC/ASN gets chunk 0 again); heartbeat and done check the
#     lease token (409 once lost, 400 for a malformed id); done is idempotent;
#   - 3 probes (`censorscope urlgetter --work LIST`) split a 30-URL list in chunks of 4; one is
#     killed with SIGKILL in the middle of a chunk: its lease expires and another probe takes
#     the chunk; in the end every chunk is done once, the collector holds each URL of the list
#     exactly once (a chunk is uploaded when it is done), and the killed probe's partial chunk
#     is still pending in its own store.
# Ports: PostgreSQL 55442, collector 18445, the measured web server 18448 (coll-upload's ranges).
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
make -s -j2 >/dev/null || { echo "build failed"; echo "collector work: 0 passed, 1 failed"; exit 1; }
BIN=$PWD/build/release/censorscope
work=$(mktemp -d /tmp/cs-work.XXXXXX)
chmod 0755 "$work"
pgdir=$work/pg
cleanup() {
  cat "$work"/*.pid 2>/dev/null | while read -r p; do kill -9 "$p" 2>/dev/null; done
  scripts/pg-cluster.sh stop "$pgdir" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT
PG=$(scripts/pg-cluster.sh start "$pgdir" "${CS_WORK_PG_PORT:-55442}") || {
  echo "collector work: 0 passed, 1 failed"; exit 1; }
python3 - "$BIN" "$PG" "$work" <<'PY'
import concurrent.futures, http.client, http.server, json, os, signal, sqlite3, subprocess, sys
import threading, time
BIN, PG, WORK = sys.argv[1], sys.argv[2], sys.argv[3]
p = f = 0
def check(name, ok, detail=""):
    global p, f
    if ok: p += 1; print(f"ok:   {name}")
    else: f += 1; print(f"FAIL: {name} {detail}")

def psql(sql):
    return subprocess.run(["psql", PG, "-XAtc", sql], capture_output=True, text=True,
                          check=True).stdout.strip()

# the measured site: each page takes 0.25 s, so that a chunk is measured for a while
class Site(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        time.sleep(0.25)
        body = b"<html><title>w</title>ok</html>"
        self.send_response(200); self.send_header("Content-Length", str(len(body)))
        try: self.end_headers(); self.wfile.write(body)
        except OSError: pass  # the killed probe's connection
    def log_message(self, *a): pass
site = http.server.ThreadingHTTPServer(("127.0.0.1", 18448), Site)
threading.Thread(target=site.serve_forever, daemon=True).start()

PORT = 18445
TOKEN = "s3cret-admin-token"
open(f"{WORK}/admin.token", "w").write(TOKEN + "\n")
logf = open(f"{WORK}/collector.log", "a")
coll = subprocess.Popen([BIN, "collector", "--listen", f"127.0.0.1:{PORT}", "--pg", PG,
                         "--data-dir", f"{WORK}/data", "--admin-token", f"{WORK}/admin.token",
                         "--quiet"], stdout=logf, stderr=logf)
open(f"{WORK}/coll.pid", "w").write(f"{coll.pid}\n")

def req(method, path, body=None, headers=None):
    c = http.client.HTTPConnection("127.0.0.1", PORT, timeout=20)
    data = body if isinstance(body, (bytes, type(None))) else json.dumps(body).encode()
    c.request(method, path, body=data, headers=headers or {})
    r = c.getresponse(); raw = r.read(); c.close()
    try: js = json.loads(raw) if raw else None
    except ValueError: js = None
    return r.status, js

for _ in range(300):
    try:
        if req("GET", "/api/_/collector/health")[0] == 200: break
    except OSError: pass
    time.sleep(0.05)
ADMIN = {"Authorization": "Bearer " + TOKEN}

# ---- the admin route ------------------------------------------------------------------------
URLS = [f"http://127.0.0.1:18448/w/{i}" for i in range(30)]
lst = {"name": "it-list", "chunk_size": 4, "lease_seconds": 6,
       "inputs": [{"input": u, "category_code": "NEWS"} for u in URLS[:15]] + URLS[15:]}
st, js = req("POST", "/api/v1/work/lists", lst)
check("creating a list without the admin token: 401", st == 401, f"{st} {js}")
st, js = req("POST", "/api/v1/work/lists", lst, {"Authorization": "Bearer wrong"})
check("... with a wrong token: 401", st == 401, f"{st} {js}")
bad = dict(lst, inputs=["http://ok.example/", "bad\u0001input"])
st, js = req("POST", "/api/v1/work/lists", bad, ADMIN)
check("an input with a control character: 400 with the reason",
      st == 400 and "inputs[1]" in (js or {}).get("error", ""), f"{st} {js}")
st, js = req("POST", "/api/v1/work/lists", dict(lst, chunk_size=0), ADMIN)
check("chunk_size 0: 400", st == 400, f"{st} {js}")
st, js = req("POST", "/api/v1/work/lists", b"[1,2", ADMIN)
check("malformed JSON: 400", st == 400, f"{st} {js}")
st, js = req("POST", "/api/v1/work/lists", lst, ADMIN)
check("the list is created: 30 items in 8 chunks", st == 201 and js == {
    "name": "it-list", "items": 30, "chunks": 8, "chunk_size": 4, "lease_seconds": 6},
    f"{st} {js}")
st, js = req("POST", "/api/v1/work/lists", lst, ADMIN)
check("the same name again: 409", st == 409, f"{st} {js}")
check("PostgreSQL holds the items in order", psql(
    "SELECT count(*), count(DISTINCT input), max(chunk), count(category_code) FROM work_item"
    " WHERE list='it-list'") == "30|30|7|15")

# ---- claims: SKIP LOCKED, per network, tokens ----------------------------------------------
big = {"name": "race", "chunk_size": 1, "lease_seconds": 60,
       "inputs": [f"http://r.example/{i}" for i in range(12)]}
req("POST", "/api/v1/work/lists", big, ADMIN)
claim = {"list": "race", "probe_cc": "IT", "probe_asn": "AS3269"}
with concurrent.futures.ThreadPoolExecutor(12) as ex:
    res = list(ex.map(lambda _: req("POST", "/api/v1/work/claim", claim), range(12)))
chunks = [js["chunk"] for st, js in res if st == 200 and js.get("lease_id")]
check("12 concurrent claims: 12 different chunks", sorted(chunks) == list(range(12)),
      str(res[:3]))
st, js = req("POST", "/api/v1/work/claim", claim)
check("... then none is free: wait (retry_after), not done",
      st == 200 and js["lease_id"] is None and js["done"] is False and js["retry_after"] >= 1,
      f"{st} {js}")
st, js = req("POST", "/api/v1/work/claim", dict(claim, probe_cc="DE", probe_asn="AS3320"))
check("another network has its own leases (chunk 0 again)",
      st == 200 and js.get("chunk") == 0 and js["inputs"] == [
          {"input": "http://r.example/0", "category_code": None}], f"{st} {js}")
lease = res[0][1]["lease_id"]
lid, tok = lease.split("-", 1)
st, js = req("POST", f"/api/v1/work/{lease}/heartbeat", b"{}")
check("heartbeat with the lease's token: 200", st == 200 and js == {"lease_seconds": 60},
      f"{st} {js}")
other = "A" * 16 if tok != "A" * 16 else "B" * 16
st, js = req("POST", f"/api/v1/work/{lid}-{other}/done", b"{}")
check("done with another token: 409", st == 409, f"{st} {js}")
st, js = req("POST", "/api/v1/work/1;DROP/done", b"{}")
check("a malformed lease id: 400", st == 400, f"{st} {js}")
st1, _ = req("POST", f"/api/v1/work/{lease}/done", b"{}")
st2, _ = req("POST", f"/api/v1/work/{lease}/done", b"{}")
st3, _ = req("POST", f"/api/v1/work/{lease}/heartbeat", b"{}")
check("done: 200, again 200 (idempotent), then a heartbeat is refused (409)",
      (st1, st2, st3) == (200, 200, 409), f"{st1} {st2} {st3}")
st, js = req("POST", "/api/v1/work/claim", {"list": "nope", "probe_cc": "IT",
                                             "probe_asn": "AS3269"})
check("claiming an unknown list: 404", st == 404, f"{st} {js}")
st, js = req("POST", "/api/v1/work/claim", {"list": "race", "probe_cc": "ZZ", "probe_asn": 0})
check("claiming without a network: 400", st == 400, f"{st} {js}")

# ---- 3 probes, one killed mid-chunk ----------------------------------------------------------
def probe(k):
    err = open(f"{WORK}/probe{k}.err", "w")
    pr = subprocess.Popen([BIN, "urlgetter", "--db", f"{WORK}/p{k}.db", "--probe-cc", "IT",
                           "--probe-asn", "AS3269", "--collector", f"http://127.0.0.1:{PORT}",
                           "--work", "it-list", "-o", f"{WORK}/p{k}.jsonl"],
                          stdout=subprocess.DEVNULL, stderr=err)
    open(f"{WORK}/p{k}.pid", "w").write(f"{pr.pid}\n")
    return pr

def stored(k):
    try:
        con = sqlite3.connect(f"file:{WORK}/p{k}.db?mode=ro", uri=True)
        n = con.execute("SELECT count(*) FROM measurements").fetchone()[0]
        con.close(); return n
    except sqlite3.Error: return 0

t0 = time.monotonic()
victim = probe(0)
# the victim is killed after 1 measurement of its second chunk: its first chunk is done
while stored(0) < 5 and time.monotonic() - t0 < 30: time.sleep(0.02)
others = [probe(1), probe(2)]
victim.send_signal(signal.SIGKILL); victim.wait()
killed_at = stored(0)
rcs = [pr.wait(timeout=90) for pr in others]
el = time.monotonic() - t0
check("the other probes finish the list", rcs == [0, 0], str(rcs))
check(f"... within a bounded time ({el:.1f} s < 60 s)", el < 60)
leases = psql("SELECT chunk, state, leases FROM work_lease WHERE list='it-list' AND"
              " probe_cc='IT' AND probe_asn=3269 ORDER BY chunk").splitlines()
check("every chunk of the network is done", len(leases) == 8 and
      all(l.split("|")[1] == "2" for l in leases), str(leases))
check("... the killed probe's chunk was leased again after expiring",
      any(int(l.split("|")[2]) >= 2 for l in leases), str(leases))
rows = psql("SELECT input, count(*) FROM measurement WHERE input LIKE"
            " 'http://127.0.0.1:18448/w/%' GROUP BY input").splitlines()
got = {r.split("|")[0]: int(r.split("|")[1]) for r in rows}
check("the collector holds the union of the list, each URL exactly once",
      set(got) == set(URLS) and all(n == 1 for n in got.values()),
      f"{len(got)} inputs, dups {[k for k, n in got.items() if n > 1]}")
con = sqlite3.connect(f"{WORK}/p0.db")
vst = dict(con.execute("SELECT u.state, count(*) FROM uploads u GROUP BY u.state").fetchall())
con.close()
check("the killed probe: its done chunk sent, its partial chunk still pending",
      vst.get("sent") == 4 and vst.get("pending", 0) == killed_at - 4, f"{vst} {killed_at}")
st, js = req("POST", "/api/v1/work/claim", {"list": "it-list", "probe_cc": "FR",
                                             "probe_asn": 3215})
check("a claim carries the list's category codes", st == 200 and js["inputs"][0] == {
    "input": URLS[0], "category_code": "NEWS"}, f"{st} {js}")
errs = "".join(open(f"{WORK}/probe{k}.err").read() for k in (1, 2))
check("the probes say the list is done", errs.count("the list is done for this network") == 2,
      errs[-500:])
print(f"collector work: {p} passed, {f} failed")
sys.exit(1 if f else 0)
PY
