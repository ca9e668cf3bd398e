#!/usr/bin/env bash
# Start or stop a throw-away PostgreSQL on 127.0.0.1 for tests and benchmarks.
#   eval "$(scripts/postgres.sh start)"   # exports TEST_PG_DSN
#   scripts/postgres.sh stop
# Runs as root (CI) or as a user who can run initdb. Trust auth, loopback only,
# fsync off: for tests, never for data you care about.
set -euo pipefail
PGVER="${PGVER:-15}"
PGPORT="${PGPORT:-55432}"
PGROOT="${PGROOT:-/tmp/portico-pg}"
BIN="/usr/lib/postgresql/$PGVER/bin"

as_pg() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

case "${1:-start}" in
start)
  if [ ! -x "$BIN/initdb" ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq >&2
    apt-get install -y -qq --no-install-recommends "postgresql-$PGVER" >&2
  fi
  if [ -f "$PGROOT/data/postmaster.pid" ]; then
    as_pg "$BIN/pg_ctl" -D "$PGROOT/data" stop -m immediate >&2 || true
  fi
  rm -rf "$PGROOT"
  if [ "$(id -u)" = 0 ]; then install -d -o postgres -g postgres "$PGROOT"; else mkdir -p "$PGROOT"; fi
  as_pg "$BIN/initdb" -D "$PGROOT/data" -U postgres -A trust -E UTF8 --locale=C.UTF-8 --no-sync >/dev/null
  as_pg "$BIN/pg_ctl" -D "$PGROOT/data" -l "$PGROOT/server.log" -w -t 60 \
    -o "-c listen_addresses=127.0.0.1 -p $PGPORT -k $PGROOT -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=300" \
    start >&2
  psql -h 127.0.0.1 -p "$PGPORT" -U postgres -v ON_ERROR_STOP=1 -qc "CREATE DATABASE portico_test" >&2
  echo "export TEST_PG_DSN='postgres://postgres@127.0.0.1:$PGPORT/portico_test?sslmode=disable'"
  ;;
stop)
  as_pg "$BIN/pg_ctl" -D "$PGROOT/data" stop -m fast >&2 || true
  ;;
restart)
  as_pg "$BIN/pg_ctl" -D "$PGROOT/data" restart -m fast -w >&2
  ;;
*)
  echo "usage: $0 start|stop|restart" >&2
  exit 2
  ;;
esac
