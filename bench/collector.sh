#!/usr/bin/env bash
# collector.sh - benchmark of the fleet collector (issue 13), each figure printed beside the raw
# PostgreSQL COPY rate measured in the same run, on the same throwaway cluster:
#   1. ingest: measurements/s through the HTTP API (OONI's POST /report + POST /report/{id}),
#      CLIENTS concurrent keep-alive clients (bench/collector_load.c, one probe network each)
#      sending real measurements (our testbed web_connectivity records, made unique), every one
#      acknowledged only after its can line is on disk and analysed; goal >= 2,000/s.
#      Baselines: libpq COPY of the same number of rows of the `measurement` columns into an
#      unindexed heap (the raw rate) and into the partitioned, indexed `measurement` itself.
#   2. explorer: ROWS (default 10 M) synthetic measurements COPYed into `measurement` over 30
#      days (10 countries, PK 12 networks with a third of 2,400 domains blocked: the research's
#      data shape, fleet-and-scale.md §3.1), rolled up by the collector's own job, then the
#      queries the explorer dashboard sends for one country (src/collector/ui/app.js: summary,
#      blocking over time by method, categories, the per-ISP comparison, the choice lists,
#      alerts, the measurement list), Q times each over keep-alive: p50/p95/max per query and
#      over all; goal p95 <= 100 ms. The COPY rate of those rows is the baseline printed beside.
# Not run in CI. Root needed (PostgreSQL runs as user postgres). Loopback only (127.0.0.1:18452,
# PG port 55453, unix socket). Bounded: fixed counts, the rollup and detector waits capped by
# ROLLUP_MAX_S (each measured from the end of the COPY).
# Cleans up everything it started (cluster, collector, files) on exit.
#   bench/collector.sh [ROWS=10000000] [INGEST=20000] [CLIENTS=32] [Q=20]
# Disk: about 9.5 GB for 10 M rows (measured: the database was 9.2 GB with its rollups; research
# §3.3 gives ~370 B/row for measurement with indexes alone). About 20 min on this machine.
set -euo pipefail
cd "$(dirname "$0")/.."
ROWS=${1:-10000000} INGEST=${2:-20000} CLIENTS=${3:-32} Q=${4:-20}
ROLLUP_MAX_S=${ROLLUP_MAX_S:-1800}
PORT=55453 HTTP=127.0.0.1:18452 DAYS=30
[ "$(id -u)" = 0 ] || { echo "collector.sh: needs root (PostgreSQL as user postgres)" >&2; exit 1; }
make -s -j2 >/dev/null
BIN=${CS_BIN:-$PWD/build/release/censorscope}
LOAD=$PWD/build/bench/collector_load
mkdir -p build/bench
if [ ! -x "$LOAD" ] || [ bench/collector_load.c -nt "$LOAD" ]; then
  # the project's warnings (Makefile WARN), libpq
  cc -std=c17 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -Wshadow -Wformat=2 -Wstrict-prototypes \
    -Wmissing-prototypes -Wvla -Wpointer-arith -Wnull-dereference -Wimplicit-fallthrough -Wundef \
    -Wwrite-strings -Wconversion -Wsign-conversion -I"$(pg_config --includedir)" \
    bench/collector_load.c -o "$LOAD" -lpq -lpthread
fi

work=$(mktemp -d /tmp/cs-bench-collector.XXXXXX)
chmod 755 "$work"
cpid=""
cleanup() {
  [ -n "$cpid" ] && { kill "$cpid" 2>/dev/null; wait "$cpid" 2>/dev/null; } || true
  scripts/pg-cluster.sh stop "$work/pg" >/dev/null 2>&1 || true
  rm -rf "$work"
}
trap cleanup EXIT
say() { printf '%s\n' "$*"; }
val() { sed -nE "s/^$1 (.*)$/\1/p" "$2"; }

pg=$(scripts/pg-cluster.sh start "$work/pg" $PORT)
psql_q() { psql "$pg" -XAtqc "$1"; }
# the research's query settings (§3.1) that take effect without a restart
for s in "work_mem='64MB'" "maintenance_work_mem='512MB'" "max_wal_size='8GB'" "jit=off" \
  "effective_cache_size='8GB'"; do
  psql_q "ALTER SYSTEM SET ${s%%=*} = ${s#*=}"
done
psql_q "SELECT pg_reload_conf()" >/dev/null

start_collector() {
  mkdir -p "$work/data"
  # --rate 0 and no per-address connection cap: every client comes from 127.0.0.1
  "$BIN" collector --listen "$HTTP" --pg "$pg" --data-dir "$work/data" --rate 0 --conns-per-ip 0 \
    --threads "${1:-8}" \
    >"$work/collector.log" 2>&1 &
  cpid=$!
  for _ in $(seq 200); do
    curl -s -m 1 -o /dev/null "http://$HTTP/api/_/collector/health" && return 0
    kill -0 "$cpid" 2>/dev/null || break
    sleep 0.1
  done
  echo "collector did not start:" >&2; tail -n5 "$work/collector.log" >&2; exit 1
}
start_collector 8
say "censorscope collector benchmark ($(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg))"
say "PostgreSQL $(psql_q 'SHOW server_version'), shared_buffers $(psql_q 'SHOW shared_buffers')"

# ---- 1. ingest through the HTTP API --------------------------------------------------------
# templates: real measurements with the fields each request changes as @placeholders@
python3 - tests/fixtures/testbed-wc/*.jsonl >"$work/templates" <<'EOF'
import json, sys
for f in sys.argv[1:]:
    m = json.loads(open(f).readline())
    m.update(measurement_start_time="@TIME@", test_start_time="@TIME@", input="@INPUT@",
             probe_cc="@CC@", probe_asn="@ASN@", report_id="@RID@")
    m.setdefault("annotations", {})["bench_seq"] = "@SEQ@"
    print(json.dumps(m, separators=(",", ":")))
EOF
say ""
say "== 1. ingest: $INGEST measurements, $CLIENTS concurrent clients, $(wc -c <"$work/templates" | awk -v n="$(grep -c . "$work/templates")" '{printf "%d", $1/n}') B each"
"$LOAD" ingest "$HTTP" "$work/templates" "$CLIENTS" "$INGEST" >"$work/ingest.out" 2>"$work/ingest.err" ||
  { cat "$work/ingest.err" >&2; }
stored=$(psql_q "SELECT count(*) FROM measurement")
# baselines in the same run: raw COPY of as many rows into an unindexed heap, and into the
# partitioned, indexed measurement table itself (time range before the ingest's own rows)
psql_q "CREATE TABLE bench_heap (LIKE measurement INCLUDING DEFAULTS)"
"$LOAD" copy "$pg" bench_heap "$INGEST" 1 "$(($(date +%s) - 40 * 86400))" >"$work/copy_heap.out"
psql_q "DROP TABLE bench_heap"
mkparts() { # FROM_EPOCH DAYS: the collector's daily partitions (its naming, pgstore.c)
  psql_q "SELECT format('CREATE TABLE IF NOT EXISTS measurement_p%s PARTITION OF measurement FOR VALUES FROM (%L) TO (%L);',
            to_char(d, 'YYYYMMDD'), d AT TIME ZONE 'UTC', (d + interval '1 day') AT TIME ZONE 'UTC')
          FROM generate_series(date_trunc('day', to_timestamp($1) AT TIME ZONE 'UTC'),
                               date_trunc('day', to_timestamp($1) AT TIME ZONE 'UTC') + interval '$2 day',
                               interval '1 day') d" | psql "$pg" -Xq -v ON_ERROR_STOP=1 >/dev/null
}
t_small=$(($(date +%s) - 45 * 86400))
mkparts "$t_small" 2
"$LOAD" copy "$pg" measurement "$INGEST" 1 "$((t_small + 86400))" >"$work/copy_idx.out"
say "$(printf '%-58s %12s %s' 'HTTP API, acknowledged (can fsynced, analysed, in PG)' "$(val ingest_rate "$work/ingest.out")/s" \
  "($(val ingest_ok "$work/ingest.out") ok, $(val ingest_errors "$work/ingest.out") errors, $stored rows stored, latency p50 $(val ingest_p50_ms "$work/ingest.out") ms p95 $(val ingest_p95_ms "$work/ingest.out") ms)")"
say "$(printf '%-58s %12s' 'baseline: libpq COPY, unindexed heap (raw)' "$(val copy_rate "$work/copy_heap.out")/s")"
say "$(printf '%-58s %12s' 'baseline: libpq COPY into measurement (partitioned, indexed)' "$(val copy_rate "$work/copy_idx.out")/s")"
ir=$(val ingest_rate "$work/ingest.out")
say "goal >= 2000/s: $([ "${ir:-0}" -ge 2000 ] 2>/dev/null && echo met || echo NOT met)"

# ---- 2. explorer latency over ROWS stored measurements ------------------------------------
say ""
say "== 2. explorer: $ROWS measurements over $DAYS days"
end=$(($(date +%s) - 2 * 86400))   # before the ingest's rows: they stay apart
mkparts "$((end - DAYS * 86400))" "$DAYS"
"$LOAD" copy "$pg" measurement "$ROWS" "$DAYS" "$end" >"$work/copy_big.out"
# every hour of the range is dirty: the collector's rollup job rebuilds them (as after a bulk
# upload); the wait is bounded
psql_q "INSERT INTO dirty_hour SELECT generate_series(date_trunc('hour', to_timestamp($((end - DAYS * 86400)))),
          to_timestamp($end), interval '1 hour') ON CONFLICT DO NOTHING"
t0=$SECONDS
psql_q "VACUUM ANALYZE measurement" >/dev/null
while [ "$(psql_q 'SELECT count(*) FROM dirty_hour')" != 0 ]; do
  [ $((SECONDS - t0)) -lt "$ROLLUP_MAX_S" ] || { say "rollup did not finish within ${ROLLUP_MAX_S}s"; break; }
  sleep 2
done
rollup_s=$((SECONDS - t0))
# then the detector over every queued (country, network, domain) cell: the dashboard is
# measured in the steady state, not while the detector replays 30 days of every cell
while [ "$(psql_q 'SELECT count(*) FROM detector_dirty')" != 0 ]; do
  [ $((SECONDS - t0)) -lt "$ROLLUP_MAX_S" ] || { say "detector did not finish within ${ROLLUP_MAX_S}s"; break; }
  sleep 2
done
detector_s=$((SECONDS - t0 - rollup_s))
psql_q "VACUUM ANALYZE" >/dev/null
say "$(printf '%-58s %12s' 'COPY into measurement (the baseline)' "$(val copy_rate "$work/copy_big.out")/s") ($(val copy_seconds "$work/copy_big.out") s)"
say "rollup (the collector's job, every dirty hour -> cell_hour/cell_day/net_*/dom_day, VACUUM ANALYZE of measurement first): ${rollup_s} s;" \
  "cell_hour $(psql_q 'SELECT count(*) FROM cell_hour') rows, cell_day $(psql_q 'SELECT count(*) FROM cell_day') rows," \
  "dom_day $(psql_q 'SELECT count(*) FROM dom_day') rows; database $(psql_q "SELECT pg_size_pretty(pg_database_size(current_database()))")"
say "detector (the same job, after the rollup): ${detector_s} s for $(psql_q 'SELECT count(*) FROM (SELECT DISTINCT probe_cc, probe_asn, domain FROM cell_day) c') cells;" \
  "$(psql_q 'SELECT count(*) FROM detector_changepoint WHERE retracted_at IS NULL') changepoints, $(psql_q 'SELECT count(*) FROM detector_event') country-wide events"
since=$(date -u -d "@$((end - 29 * 86400))" +%F) until=$(date -u -d "@$end" +%F)
f="probe_cc=PK&since=$since&until=$until"
dom=www.site0003.example
queries=(
  "/api/v1/aggregation?$f"
  "/api/v1/aggregation?$f&axis_x=measurement_start_day&axis_y=blocking_type&time_grain=day"
  "/api/v1/aggregation?$f&axis_x=category_code"
  "/api/v1/aggregation?$f&axis_x=measurement_start_day&axis_y=probe_asn&time_grain=day"
  "/api/v1/aggregation?$f&axis_x=probe_asn&axis_y=blocking_type"
  "/api/v1/aggregation?since=$since&until=$until&axis_x=probe_cc"
  "/api/v1/aggregation?$f&axis_x=probe_asn"
  "/api/v1/aggregation?$f&axis_x=domain"
  "/api/v1/aggregation?$f&domain=$dom&axis_x=measurement_start_day&axis_y=probe_asn&time_grain=day"
  "/api/v1/detector/changepoints?$f"
  "/api/v1/detector/events?$f"
  "/api/v1/measurements?$f&limit=50"
)
"$LOAD" latency "$HTTP" "$Q" "${queries[@]}" >"$work/latency.out" 2>"$work/latency.err" ||
  { cat "$work/latency.err" >&2; }
say "dashboard queries for PK, 30 days ($Q runs each after one warm-up, one keep-alive client):"
sed -nE 's/^query ([0-9]+) p50_ms ([^ ]+) p95_ms ([^ ]+) max_ms ([^ ]+) bytes ([^ ]+) (.*)$/  p50 \2 ms  p95 \3 ms  max \4 ms  \5 B  \6/p' "$work/latency.out"
p95=$(val latency_p95_ms "$work/latency.out")
say "$(printf '%-58s %12s' 'all dashboard queries: p95' "${p95:-?} ms") (p50 $(val latency_p50_ms "$work/latency.out") ms, max $(val latency_max_ms "$work/latency.out") ms)"
say "$(printf '%-58s %12s' 'beside: COPY into measurement' "$(val copy_rate "$work/copy_big.out")/s")"
say "goal p95 <= 100 ms: $(awk -v p="${p95:-1e9}" 'BEGIN { print (p <= 100) ? "met" : "NOT met" }')"
