#!/usr/bin/env bash
# fleet-demo.sh - the fleet of issue 13 on one machine, from one command (root; Debian 12 after
# scripts/setup.sh):
#   1. a throwaway PostgreSQL cluster (scripts/pg-cluster.sh, unix socket only, port 55450);
#   2. the testbed's fleet world (testbed/scenarios/fleet/three-isps.scn): three ISPs of one
#      country behind a national gateway, one lying in DNS, one resetting TLS by SNI, one serving
#      a blockpage, the gateway refusing one site for everybody; our control server on the
#      uncensored control host;
#   3. `censorscope collector` INSIDE the testbed, on the collector host 198.18.49.2, reaching
#      PostgreSQL over its unix socket (the filesystem is shared; no network link to the host);
#   4. one probe per ISP, in that ISP's client namespace: web_connectivity over the scenario's
#      URLs with `--collector http://198.18.49.2:18450/` (each its own store and upload queue);
#   5. the collector's rollup + change-detector job, waited for;
#   6. a second collector, `--read-only`, on 127.0.0.1:18450 of the host, serving the explorer
#      API and web UI from the same database;
#   7. a per-ISP summary read from that explorer API, then where to open the explorer.
# Everything stays up until `scripts/fleet-demo.sh stop` (which removes it all). Opens nothing
# outside the testbed but the read-only explorer on the host's loopback.
#   scripts/fleet-demo.sh [start] | stop | status
# Environment: CS_DEMO_DIR (default /run/cs-fleet-demo), CS_DEMO_ROUNDS (probe runs per ISP,
# default 1).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
DIR=${CS_DEMO_DIR:-/run/cs-fleet-demo}
ROUNDS=${CS_DEMO_ROUNDS:-1}
export CS_TB_PREFIX=csf CS_TESTBED_DIR=/run/csf-testbed
TB=$ROOT/testbed/testbed
BIN=${CS_BIN:-$ROOT/build/release/censorscope}
PG_PORT=55450
COLL_PORT=18450
EXPLORER=127.0.0.1:18450
SCENARIO=fleet/three-isps

say() { printf 'fleet-demo: %s\n' "$*"; }
die() { printf 'fleet-demo: error: %s\n' "$*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "run as root (network namespaces; PostgreSQL runs as user postgres)"

stop_all() {
  if [ -f "$DIR/explorer.pid" ]; then
    kill "$(cat "$DIR/explorer.pid")" 2>/dev/null || true
    rm -f "$DIR/explorer.pid"
  fi
  # the collector, the probes and the control server live in the testbed's namespaces
  "$TB" down >/dev/null 2>&1 || true
  [ -d "$DIR/pg" ] && "$ROOT/scripts/pg-cluster.sh" stop "$DIR/pg" >/dev/null 2>&1 || true
  rm -rf "$DIR"
}

case ${1:-start} in
  stop) stop_all; say "stopped (testbed down, PostgreSQL cluster removed, $DIR removed)"; exit 0 ;;
  status)
    "$TB" status || true
    [ -f "$DIR/explorer.pid" ] && kill -0 "$(cat "$DIR/explorer.pid")" 2>/dev/null &&
      echo "explorer: http://$EXPLORER/" || echo "explorer: not running"
    exit 0 ;;
  start) ;;
  *) die "usage: scripts/fleet-demo.sh [start] | stop | status" ;;
esac

for t in psql pg_config dnsmasq nginx curl python3; do
  command -v "$t" >/dev/null || die "$t missing: run scripts/setup.sh first"
done
say "building"
make -s -j"$(nproc)" >/dev/null || die "build failed"
[ -x "$BIN" ] || die "no $BIN"

stop_all     # a previous demo, if any
mkdir -p "$DIR"
chmod 755 "$DIR"
trap 'say "failed; cleaning up"; stop_all' ERR

# ---- 1. PostgreSQL ----------------------------------------------------------------------------
pg=$("$ROOT/scripts/pg-cluster.sh" start "$DIR/pg" $PG_PORT)
say "PostgreSQL: $pg"

# ---- 2. the fleet world and our control server ------------------------------------------------
"$TB" up "$SCENARIO" 2>&1 | sed 's/^/  /'
# shellcheck source=/dev/null
. "$CS_TESTBED_DIR/env"
"$ROOT/scripts/start-helper.sh" "$DIR" >/dev/null || die "control server did not start"
say "control server on the uncensored control host: https://$CS_TB_CONTROL_ADDR/"

# ---- 3. the collector inside the testbed ------------------------------------------------------
mkdir -p "$DIR/data"
COLLECTOR=http://$CS_TB_COLLECTOR_ADDR:$COLL_PORT/
"$TB" exec coll -- setsid "$BIN" collector --listen "$CS_TB_COLLECTOR_ADDR:$COLL_PORT" --pg "$pg" \
  --data-dir "$DIR/data" </dev/null >"$DIR/collector.log" 2>&1 &
for _ in $(seq 100); do
  "$TB" exec coll -- curl -s -m 1 -o /dev/null "${COLLECTOR}api/_/collector/health" && break
  sleep 0.1
done
"$TB" exec coll -- curl -s -m 1 -o /dev/null "${COLLECTOR}api/_/collector/health" ||
  die "collector did not start ($DIR/collector.log: $(tail -n2 "$DIR/collector.log"))"
say "collector in the testbed: $COLLECTOR (PostgreSQL over its unix socket)"

# ---- 4. one probe per ISP, uploading to the collector -----------------------------------------
mapfile -t inputs < <(awk '$1 == "input" { print $2 }' "$CS_TB_SCENARIO_FILE")
read -r -a isps <<<"$CS_TB_FLEET"
for r in $(seq 1 "$ROUNDS"); do
  say "round $r/$ROUNDS: web_connectivity of ${#inputs[@]} URLs from every ISP (${isps[*]})"
  pids=()
  for isp in "${isps[@]}"; do
    asn_var=CS_TB_ISP_${isp^^}_ASN cc_var=CS_TB_ISP_${isp^^}_CC
    "$TB" exec "$isp" -- "$BIN" web_connectivity -q --th "https://$CS_TB_CONTROL_ADDR/" \
      --ca-file "$CS_TB_CA" --lab-net "$CS_TB_LAB_NET" --probe-cc "${!cc_var}" --probe-asn "${!asn_var}" \
      -j 8 --tcp-timeout 4 --tls-timeout 4 --http-timeout 6 --th-timeout 20 \
      --db "$DIR/probe-$isp.db" --collector "$COLLECTOR" -o "$DIR/$isp.jsonl" "${inputs[@]}" \
      2>"$DIR/probe-$isp.err" &
    pids+=($!)
  done
  for p in "${pids[@]}"; do wait "$p" || say "a probe exited with $? (see $DIR/probe-*.err)"; done
done
# anything still queued (the collector was busy, a retry pending) goes now
for isp in "${isps[@]}"; do
  "$TB" exec "$isp" -- "$BIN" upload --db "$DIR/probe-$isp.db" --collector "$COLLECTOR" \
    >>"$DIR/probe-$isp.err" 2>&1 || say "upload from $isp: exit $? (see $DIR/probe-$isp.err)"
done
measured=0
for isp in "${isps[@]}"; do
  n=$(grep -c . "$DIR/$isp.jsonl" 2>/dev/null || true)
  measured=$((measured + ${n:-0}))
done

# ---- 5. rollups and the change detector -------------------------------------------------------
# (the collector's job runs every few seconds; bounded wait)
stored=0 dirty=1 t0=$SECONDS
while [ $((SECONDS - t0)) -lt 60 ]; do
  stored=$(psql "$pg" -XAtqc "SELECT count(*) FROM measurement")
  dirty=$(psql "$pg" -XAtqc "SELECT count(*) FROM dirty_hour")
  [ "$stored" -ge "$measured" ] && [ "$dirty" = 0 ] && break
  sleep 0.5
done
say "$measured measurements made, $stored stored by the collector;" \
  "$([ "$dirty" = 0 ] && echo "rollups and change detector run" || echo "$dirty hour(s) still waiting for the rollup job")"
for isp in "${isps[@]}"; do
  say "  $isp's upload queue: $("$BIN" upload --db "$DIR/probe-$isp.db" --status 2>&1 | tail -n1)"
done

# ---- 6. the read-only explorer on the host -----------------------------------------------------
setsid "$BIN" collector --listen "$EXPLORER" --pg "$pg" --data-dir "$DIR/data" --read-only \
  </dev/null >"$DIR/explorer.log" 2>&1 &
echo $! >"$DIR/explorer.pid"
for _ in $(seq 100); do
  curl -s -m 1 -o /dev/null "http://$EXPLORER/api/_/collector/health" && break
  sleep 0.1
done
curl -s -m 2 -o /dev/null "http://$EXPLORER/" || die "explorer did not start ($DIR/explorer.log)"
trap - ERR

# ---- 7. per-ISP summary from the explorer API --------------------------------------------------
python3 - "http://$EXPLORER" "$CS_TB_FLEET_TSV" "${inputs[@]}" <<'EOF' || say "summary failed"
import json, sys, urllib.request
base, tsv, inputs = sys.argv[1], sys.argv[2], sys.argv[3:]
def get(path):
    with urllib.request.urlopen(base + path, timeout=20) as r:
        return json.loads(r.read())
isps = [l.rstrip("\n").split("\t") for l in open(tsv)][1:]
asn_name = {int(i[1][2:]): i[0] for i in isps}
agg = get("/api/v1/aggregation?probe_cc=PK&axis_x=probe_asn")["result"]
rows = {r["probe_asn"] if isinstance(r["probe_asn"], int) else int(str(r["probe_asn"]).lstrip("AS")): r for r in agg}
meth = {}
for r in get("/api/v1/aggregation?probe_cc=PK&axis_x=probe_asn&axis_y=blocking_type")["result"]:
    bt = r.get("blocking_type")
    if bt and (r["anomaly_count"] + r["confirmed_count"]) > 0:
        a = int(str(r["probe_asn"]).lstrip("AS"))
        meth.setdefault(a, []).append("%s %d" % (bt, r["anomaly_count"] + r["confirmed_count"]))
print("\nper ISP (from GET /api/v1/aggregation?probe_cc=PK&axis_x=probe_asn[&axis_y=blocking_type]):")
print("  %-8s %-9s %6s %4s %8s %10s %8s  %s" % ("ISP", "ASN", "total", "ok", "anomaly", "confirmed", "failure", "blocking methods"))
for a in sorted(rows):
    r = rows[a]
    print("  %-8s AS%-7d %6d %4d %8d %10d %8d  %s" % (asn_name.get(a, "?"), a, r["measurement_count"], r["ok_count"],
          r["anomaly_count"], r["confirmed_count"], r["failure_count"], ", ".join(sorted(meth.get(a, []))) or "-"))
# per URL and ISP: each measurement's verdict (GET /api/v1/measurements)
res = get("/api/v1/measurements?probe_cc=PK&limit=1000")["results"]
cell = {}
for m in res:
    a = int(str(m.get("probe_asn")).lstrip("AS"))
    v = "failure" if m.get("failure") else (m.get("blocking_type") or "blocked") if (m.get("anomaly") or m.get("confirmed")) else "ok"
    if m.get("confirmed"): v += " (confirmed)"
    cell.setdefault((m.get("input"), a), set()).add(v)
asns = sorted(asn_name)
print("\nper URL and ISP (from GET /api/v1/measurements?probe_cc=PK):")
print("  %-28s" % "URL" + "".join("%-20s" % ("%s AS%d" % (asn_name[a], a)) for a in asns))
for u in inputs:
    print("  %-28s" % u + "".join("%-20s" % ("/".join(sorted(cell.get((u, a), {"-"})))) for a in asns))
cps = get("/api/v1/detector/changepoints?probe_cc=PK").get("results", [])
print("\nchange detector: %d changepoint(s) so far (the CUSUM needs a few hours of data per network)" % len(cps))
EOF

say ""
say "explorer: open http://$EXPLORER/ (read-only collector on the host's loopback; e.g."
say "  ssh -L 18450:127.0.0.1:18450 this-machine, then http://127.0.0.1:18450/ in a browser)"
say "more rounds: CS_DEMO_ROUNDS=N scripts/fleet-demo.sh; a probe by hand:"
say "  CS_TB_PREFIX=csf CS_TESTBED_DIR=$CS_TESTBED_DIR testbed/testbed exec dnslie -- $BIN web_connectivity --collector $COLLECTOR ..."
say "stop everything: scripts/fleet-demo.sh stop"
