#!/usr/bin/env bash
# collector_replica.sh - the scale-out path of issue 13, shown: a streaming replica serving the
# explorer's reads. A throwaway PostgreSQL primary (scripts/pg-cluster.sh), a replica made with
# `pg_basebackup -R -X stream` and started as a hot standby, one collector with `--pg` on the
# primary and `--pg-read` on the replica. Measurements submitted through the collector (OONI's
# POST /report + POST /report/{id}) must reach the explorer's answers through the replica within
# a bounded replay wait; the replica's pg_stat_activity must show the collector's read
# connection running the explorer's queries (and the primary must not); after the primary is
# stopped, the explorer must keep answering from the replica with the same numbers.
# A second collector, --read-only with --pg on the replica alone, must answer the same and refuse
# submissions (more explorers in front of replicas).
# Root needed (PostgreSQL runs as user postgres). Ports: PG 55451/55452, HTTP 127.0.0.1:18451/18453.
# Prints "N passed, M failed" last. Under a minute on an idle 2-core machine.
set -uo pipefail
cd "$(dirname "$0")/../.." || exit 1
P=0 F=0
ok() { echo "ok   $*"; P=$((P + 1)); }
bad() { echo "FAIL $*"; F=$((F + 1)); }
check() { local what=$1; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }
finish() { echo "collector_replica: $P passed, $F failed"; [ "$F" = 0 ]; exit $?; }

[ "$(id -u)" = 0 ] || { echo "collector_replica: needs root"; echo "0 passed, 1 failed"; exit 1; }
make -s -j2 >/dev/null || { echo "build failed"; echo "0 passed, 1 failed"; exit 1; }
BIN=${CS_BIN:-$PWD/build/release/censorscope}
# until the collector (and scripts/pg-cluster.sh) is in the tree there is nothing to show
if [ ! -x scripts/pg-cluster.sh ] || ! "$BIN" collector --help >/dev/null 2>&1; then
  echo "collector_replica: skipped (no censorscope collector or scripts/pg-cluster.sh in this tree)"
  echo "collector_replica: 0 passed, 0 failed"; exit 0
fi
PGBIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1)
[ -x "$PGBIN/pg_basebackup" ] || { echo "no pg_basebackup"; echo "0 passed, 1 failed"; exit 1; }
PORT_P=55451 PORT_R=55452 HTTP=127.0.0.1:18451 HTTP_RO=127.0.0.1:18453 N=20
APP=cs_explorer_read          # application_name of the collector's read connection

work=$(mktemp -d /tmp/cs-replica.XXXXXX)
chmod 755 "$work"
cpid="" ropid=""
cleanup() {
  [ -n "$cpid" ] && { kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; }
  [ -n "$ropid" ] && { kill "$ropid" 2>/dev/null; wait "$ropid" 2>/dev/null; }
  [ -f "$work/replica/postmaster.pid" ] &&
    su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D '$work/replica' -m immediate -w stop" >/dev/null 2>&1
  scripts/pg-cluster.sh stop "$work/primary" >/dev/null 2>&1
  rm -rf "$work"
}
trap cleanup EXIT

# ---- primary, then the replica ---------------------------------------------------------------
primary=$(scripts/pg-cluster.sh start "$work/primary" $PORT_P) || { bad "primary starts"; finish; }
ok "primary starts ($primary)"
psql_p() { psql "$primary" -XAtqc "$1" 2>&1; }
mkdir -p "$work/replica" "$work/rsock" && chown postgres "$work/replica" "$work/rsock" && chmod 700 "$work/replica"
t0=${EPOCHREALTIME/[.,]/}
if su postgres -s /bin/sh -c "$PGBIN/pg_basebackup -d '$primary' -D '$work/replica' -R -X stream -c fast" \
    >"$work/basebackup.log" 2>&1; then
  ok "pg_basebackup -R -X stream ($(( (${EPOCHREALTIME/[.,]/} - t0) / 1000 )) ms)"
else
  bad "pg_basebackup: $(tail -n2 "$work/basebackup.log")"; finish
fi
if su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D '$work/replica' -l '$work/rsock/replica.log' -w -t 30 \
    -o \"-p $PORT_R -k $work/rsock -c listen_addresses='' -c hot_standby=on -c log_statement=all \
    -c log_line_prefix='app=%a '\" start" >/dev/null 2>&1; then
  ok "replica starts as a hot standby"
else
  bad "replica start: $(tail -n3 "$work/rsock/replica.log")"; finish
fi
replica="host=$work/rsock port=$PORT_R user=postgres dbname=$(sed -nE 's/.*dbname=([^ ]+).*/\1/p' <<<"$primary")"
[[ $replica == *dbname=?* ]] || replica="host=$work/rsock port=$PORT_R user=postgres dbname=postgres"
psql_r() { psql "$replica" -XAtqc "$1" 2>&1; }
check "replica is in recovery" [ "$(psql_r 'SELECT pg_is_in_recovery()')" = t ]
st=""
for _ in $(seq 50); do
  st=$(psql_p "SELECT state || '|' || sync_state FROM pg_stat_replication")
  [ "$st" = "streaming|async" ] && break
  sleep 0.1
done
check "primary's pg_stat_replication: one WAL sender streaming ($st)" [ "$st" = "streaming|async" ]

# ---- collector: writes to the primary, explorer reads from the replica ---------------------
mkdir -p "$work/data"
"$BIN" collector --listen "$HTTP" --pg "$primary application_name=cs_collector_write" \
  --pg-read "$replica application_name=$APP" --data-dir "$work/data" --threads 2 --rate 0 \
  >"$work/collector.log" 2>&1 &
cpid=$!
up=0
for _ in $(seq 100); do
  curl -s -m 1 -o /dev/null "http://$HTTP/api/_/collector/health" && { up=1; break; }
  kill -0 "$cpid" 2>/dev/null || break
  sleep 0.1
done
[ $up = 1 ] || { bad "collector answers: $(tail -n5 "$work/collector.log")"; finish; }
ok "collector answers with --pg on the primary and --pg-read on the replica"

# N distinct real measurements (our own testbed web_connectivity records, PK / AS64501)
if python3 - "$HTTP" "$N" tests/fixtures/testbed-wc/*.jsonl >"$work/uids" 2>"$work/submit.err" <<'EOF'; then
import json, sys, time, urllib.request
host, n, files = sys.argv[1], int(sys.argv[2]), sys.argv[3:]
tpl = [json.loads(open(f).readline()) for f in files]
def post(path, obj):
    rq = urllib.request.Request("http://%s%s" % (host, path), data=json.dumps(obj).encode(),
                                headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(rq, timeout=20) as r:
        return json.loads(r.read())
now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(time.time() - 3600))
rep = post("/report", {"data_format_version": "0.2.0", "format": "json", "probe_asn": "AS64501",
                       "probe_cc": "PK", "software_name": "censorscope", "software_version": "0.1.0",
                       "test_name": "web_connectivity", "test_start_time": now, "test_version": "0.5.28"})
rid = rep["report_id"]
for i in range(n):
    m = dict(tpl[i % len(tpl)])
    m.update(probe_cc="PK", probe_asn="AS64501", report_id=rid, measurement_start_time=now,
             test_start_time=now, input="https://replica%02d.example/" % i)
    r = post("/report/" + rid, {"format": "json", "content": m})
    print(r["measurement_uid"])
post("/report/%s/close" % rid, {})
EOF
  ok "$N measurements submitted through the collector"
else
  bad "submission: $(tail -n3 "$work/submit.err")"; finish
fi
uid=$(head -n1 "$work/uids")
check "every submission acknowledged with a distinct measurement_uid" [ "$(sort -u "$work/uids" | grep -c .)" = "$N" ]

# ---- the explorer answers from the replica, within a bounded replay wait -------------------
agg() { # the explorer's total for PK (one result object: no axis), "" on error
  curl -s -m 5 "http://$HTTP/api/v1/aggregation?probe_cc=PK&test_name=web_connectivity" |
    sed -nE 's/.*"measurement_count": ?([0-9]+).*/\1/p'
}
now_ms() { echo $(( ${EPOCHREALTIME/[.,]/} / 1000 )); }
poll_agg() { # MAX_MS: until the explorer at $HTTP answers $N (got in $got, waited ms in $ms)
  local t0; t0=$(now_ms)
  got=""
  while :; do
    got=$(agg)
    ms=$(( $(now_ms) - t0 ))
    [ "$got" = "$N" ] || [ "$ms" -ge "$1" ] && return 0
    sleep 0.05
  done
}
poll_agg 10000
check "explorer's aggregation counts all $N through the replica within 10 s (got ${got:-none} after $ms ms)" [ "$got" = "$N" ]
check "replica holds the $N rows (SQL count)" [ "$(psql_r "SELECT count(*) FROM measurement WHERE probe_cc='PK'")" = "$N" ]
check "primary holds the same $N rows" [ "$(psql_p "SELECT count(*) FROM measurement WHERE probe_cc='PK'")" = "$N" ]
lag=$(psql_p "SELECT coalesce(round(extract(epoch FROM replay_lag) * 1000), 0) FROM pg_stat_replication")
echo "     replay_lag on the primary: ${lag:-?} ms"

# who ran the explorer's queries: the replica's pg_stat_activity, never the primary's
curl -s -m 5 -o /dev/null "http://$HTTP/api/v1/measurements?probe_cc=PK&limit=5"
n=$(psql_r "SELECT count(*) FROM pg_stat_activity WHERE application_name='$APP'")
check "replica's pg_stat_activity shows the collector's read connection(s) ($APP: ${n:-0})" [ "${n:-0}" -ge 1 ]
# the replica logs every statement (log_statement=all) with the client's application_name
q=$(grep -cE "^app=$APP .*(FROM|JOIN) +(measurement|cell_|net_)" "$work/rsock/replica.log" || true)
check "the replica ran the explorer's queries for $APP ($q statements on measurement/rollups)" [ "${q:-0}" -ge 1 ]
check "the primary has no connection named $APP" [ "$(psql_p "SELECT count(*) FROM pg_stat_activity WHERE application_name='$APP'")" = 0 ]
err=$(psql_r "CREATE TABLE replica_write_probe (x int)")
check "the replica refuses writes (read-only standby)" grep -q 'read-only transaction' <<<"$err"

# more explorers in front: a --read-only collector on the replica alone (no primary at all)
"$BIN" collector --listen "$HTTP_RO" --pg "$replica application_name=cs_explorer_ro" \
  --data-dir "$work/data" --read-only >"$work/collector-ro.log" 2>&1 &
ropid=$!
HTTP=$HTTP_RO poll_agg 10000
check "a --read-only collector on the replica alone answers $N (got ${got:-none}; $(tail -n1 "$work/collector-ro.log"))" [ "$got" = "$N" ]
code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' -X POST -d '{}' "http://$HTTP_RO/report")
check "the --read-only collector refuses submissions (HTTP $code)" [ "$code" = 405 ]

# ---- the primary goes away: the explorer keeps answering from the replica ------------------
scripts/pg-cluster.sh stop "$work/primary" >/dev/null 2>&1
check "primary stopped" [ "$(psql_p 'SELECT 1' | grep -c '^1$')" = 0 ]
poll_agg 5000
check "with the primary stopped, aggregation still answers $N (got ${got:-none})" [ "$got" = "$N" ]
code=$(curl -s -m 5 -o "$work/list.json" -w '%{http_code}' "http://$HTTP/api/v1/measurements?probe_cc=PK&limit=100")
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["results"]))' "$work/list.json" 2>/dev/null)
check "with the primary stopped, /api/v1/measurements lists $N (HTTP $code, ${n:-none})" [ "$code/$n" = "200/$N" ]
code=$(curl -s -m 5 -o "$work/one.json" -w '%{http_code}' "http://$HTTP/api/v1/measurement/$uid")
raw=$(grep -c 'replica00.example' "$work/one.json" 2>/dev/null)
check "with the primary stopped, /api/v1/measurement/{uid} answers with the raw measurement (HTTP $code)" \
  [ "$code/$raw" = "200/1" ]
check "the collector survived the primary's loss" kill -0 "$cpid"
got=$(HTTP=$HTTP_RO agg)
check "with the primary stopped, the --read-only collector still answers $N (got ${got:-none})" [ "$got" = "$N" ]
finish
