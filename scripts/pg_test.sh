#!/usr/bin/env bash
# A throwaway PostgreSQL server on loopback: for the integration tests (.ci/run) and for trying
# distributed tuning and a shared MLflow tracking server on one machine. NOT a production
# database: durability is switched off (fsync, synchronous_commit, full_page_writes) for speed.
#
#   eval "$(scripts/pg_test.sh start)"   # start (or reuse) it; prints the export line below
#   echo "$SPINEOUTCOME_TEST_PG_URL"     # postgresql://spineoutcome:spineoutcome@127.0.0.1:54329/spineoutcome
#   scripts/pg_test.sh url               # print the URL of a running server
#   scripts/pg_test.sh status            # exit 0 when it is running
#   scripts/pg_test.sh stop              # stop it and delete its data directory
#
# Databases: `spineoutcome` (Optuna studies) and `mlflow` (an MLflow backend store), both owned by
# the user `spineoutcome` (password `spineoutcome`, scram-sha-256 over TCP on 127.0.0.1 only).
# Settings (environment): SPINEOUTCOME_PG_DIR (data directory, default ${TMPDIR:-/tmp}/spineoutcome-pg),
# SPINEOUTCOME_PG_PORT (default 54329), SPINEOUTCOME_PG_BIN (folder of initdb/pg_ctl; default: PATH,
# then the newest /usr/lib/postgresql/*/bin). Needs the PostgreSQL server binaries (Debian:
# `apt-get install postgresql`). PostgreSQL refuses to run as root: as root the server runs as the
# `postgres` system user that the Debian package creates.
set -euo pipefail

DIR="${SPINEOUTCOME_PG_DIR:-${TMPDIR:-/tmp}/spineoutcome-pg}"
PORT="${SPINEOUTCOME_PG_PORT:-54329}"
ROLE=spineoutcome
PASSWORD=spineoutcome
DATABASES=(spineoutcome mlflow)
URL="postgresql://${ROLE}:${PASSWORD}@127.0.0.1:${PORT}/spineoutcome"

say() { echo "pg_test: $*" >&2; }
die() { say "$*"; exit 1; }

bindir() {
  if [ -n "${SPINEOUTCOME_PG_BIN:-}" ]; then
    echo "$SPINEOUTCOME_PG_BIN"
  elif command -v pg_ctl >/dev/null 2>&1 && command -v initdb >/dev/null 2>&1; then
    dirname "$(readlink -f "$(command -v pg_ctl)")"
  else
    local found
    found="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
    [ -n "$found" ] || die "no PostgreSQL server binaries (initdb, pg_ctl) found; install them (Debian: apt-get install postgresql) or set SPINEOUTCOME_PG_BIN"
    echo "$found"
  fi
}

# Run a command as the user that owns the cluster: `postgres` when we are root, else ourselves.
as_owner() {
  if [ "$(id -u)" -eq 0 ]; then
    id postgres >/dev/null 2>&1 || die "running as root needs the 'postgres' system user (created by Debian's postgresql package)"
    runuser -u postgres -- "$@"
  else
    "$@"
  fi
}

running() {
  local bin; bin="$(bindir)"
  [ -f "$DIR/PG_VERSION" ] && as_owner "$bin/pg_ctl" -D "$DIR" status >/dev/null 2>&1
}

start() {
  local bin; bin="$(bindir)"
  if running; then
    say "already running in $DIR"
  else
    if [ ! -f "$DIR/PG_VERSION" ]; then
      mkdir -p "$DIR"
      chmod 700 "$DIR"
      [ "$(id -u)" -eq 0 ] && chown postgres: "$DIR"
      local pwfile; pwfile="$DIR.pw"
      (umask 077; echo "$PASSWORD" >"$pwfile")
      [ "$(id -u)" -eq 0 ] && chown postgres: "$pwfile"
      say "initdb in $DIR ($("$bin/postgres" --version))"
      as_owner "$bin/initdb" -D "$DIR" -U "$ROLE" --pwfile="$pwfile" -E UTF8 --locale=C \
        --auth-local=trust --auth-host=scram-sha-256 >"$DIR.initdb.log" 2>&1 \
        || { rm -f "$pwfile"; cat "$DIR.initdb.log" >&2; die "initdb failed"; }
      rm -f "$pwfile" "$DIR.initdb.log"
    fi
    say "starting on 127.0.0.1:$PORT"
    as_owner "$bin/pg_ctl" -D "$DIR" -l "$DIR/server.log" -w -t 60 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$DIR -c max_connections=200 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
      start >/dev/null || { tail -n 30 "$DIR/server.log" >&2 || true; die "the server did not start (is port $PORT taken? set SPINEOUTCOME_PG_PORT)"; }
  fi
  local db
  for db in "${DATABASES[@]}"; do
    if ! as_owner "$bin/psql" -h "$DIR" -p "$PORT" -U "$ROLE" -d postgres -Atqc \
        "SELECT 1 FROM pg_database WHERE datname = '$db'" | grep -q 1; then
      as_owner "$bin/createdb" -h "$DIR" -p "$PORT" -U "$ROLE" "$db"
    fi
  done
  echo "export SPINEOUTCOME_TEST_PG_URL=$URL"
}

stop() {
  local bin; bin="$(bindir)"
  if running; then
    as_owner "$bin/pg_ctl" -D "$DIR" -m fast -w -t 60 stop >/dev/null
    say "stopped"
  else
    say "not running"
  fi
  if [ -f "$DIR/PG_VERSION" ]; then
    rm -rf "$DIR"
    say "removed $DIR"
  fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) running && say "running in $DIR on 127.0.0.1:$PORT" || { say "not running"; exit 1; } ;;
  url) running || die "not running (scripts/pg_test.sh start)"; echo "$URL" ;;
  *) echo "usage: $0 start|stop|status|url" >&2; exit 2 ;;
esac
