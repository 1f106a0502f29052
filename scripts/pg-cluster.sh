#!/usr/bin/env bash
# pg-cluster.sh - a throwaway PostgreSQL 15 cluster for tests, the fleet demo and benchmarks;
# never touches the system's clusters.
#
#   scripts/pg-cluster.sh start DIR PORT   initdb (once) + start; prints the libpq conninfo
#   scripts/pg-cluster.sh stop DIR         fast shutdown (no error when not running)
#   scripts/pg-cluster.sh conninfo DIR     prints the conninfo of a cluster made here
#
# The cluster lives in DIR/data, listens on no TCP address (listen_addresses = ''), only on
# the unix socket DIR/.s.PGSQL.PORT, with trust authentication for local connections (the
# socket directory is the access control: mode 0770 below). As root the server runs as user
# postgres (postgres refuses root); otherwise as the caller. wal_level=replica and
# max_wal_senders allow pg_basebackup of a streaming replica (tests/net/collector_replica.sh).
set -euo pipefail
PGBIN=${PGBIN:-/usr/lib/postgresql/15/bin}
usage() { echo "usage: $0 start DIR PORT | stop DIR | conninfo DIR" >&2; exit 2; }
[ $# -ge 2 ] || usage
cmd=$1 dir=$2
if [ "$(id -u)" -eq 0 ]; then owner=postgres; else owner=$(id -un); fi
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}
conninfo() { echo "host=$1 port=$(cat "$1/port") user=$owner dbname=postgres"; }
case $cmd in
start)
  [ $# -eq 3 ] || usage
  port=$3
  case $port in '' | *[!0-9]*) usage ;; esac
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd)
  chown "$owner" "$dir"
  chmod 0770 "$dir"
  if [ ! -f "$dir/data/PG_VERSION" ]; then
    as_owner "$PGBIN/initdb" -D "$dir/data" -U "$owner" -A trust -E UTF8 --locale=C.UTF-8 \
      --no-sync >"$dir/initdb.log" 2>&1 || { cat "$dir/initdb.log" >&2; exit 1; }
    cat >>"$dir/data/postgresql.conf" <<CONF
# pg-cluster.sh
listen_addresses = ''
unix_socket_directories = '$dir'
port = $port
max_connections = 300
shared_buffers = 256MB
work_mem = 16MB
maintenance_work_mem = 128MB
wal_level = replica
max_wal_senders = 5
hot_standby = on
jit = off
log_min_messages = warning
CONF
  fi
  echo "$port" >"$dir/port"
  if ! as_owner "$PGBIN/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 -o "-p $port" \
      start >/dev/null; then
    tail -20 "$dir/server.log" >&2
    exit 1
  fi
  conninfo "$dir"
  ;;
stop)
  [ -d "$dir/data" ] || exit 0
  as_owner "$PGBIN/pg_ctl" -D "$dir/data" -m fast -w -t 60 stop >/dev/null 2>&1 || true
  ;;
conninfo)
  [ -f "$dir/port" ] || { echo "$0: no cluster in $dir" >&2; exit 1; }
  conninfo "$(cd "$dir" && pwd)"
  ;;
*) usage ;;
esac
