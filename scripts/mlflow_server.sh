#!/usr/bin/env bash
# A shared MLflow tracking server: PostgreSQL backend store (runs, metrics, model registry) and
# an artifact root served by the server itself (clients upload and download artifacts through
# HTTP, so they need no access to the artifact folder).
#
#   scripts/mlflow_server.sh start --backend-store-uri postgresql://USER:PASSWORD@HOST:5432/mlflow \
#       [--artifacts-destination DIR_OR_URI] [--host 127.0.0.1] [--port 5000] [--workers 2] [--state-dir DIR]
#   # -> prints: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000   (once /health answers)
#   scripts/mlflow_server.sh stop [--port 5000] [--state-dir DIR]
#   scripts/mlflow_server.sh run ...same options...   # in the foreground (systemd, a container)
#
# The database must exist (scripts/pg_test.sh creates one named `mlflow`); MLflow creates and
# migrates its tables on the first start. --artifacts-destination defaults to ./mlartifacts and
# may be any artifact URI MLflow supports (s3://..., gs://...; their client libraries installed).
# `start` runs the server in its own process group, detached, with its log and pid in the state
# directory (default ${TMPDIR:-/tmp}/spineoutcome-mlflow-PORT); `stop` ends that process group.
# Beyond loopback: --host 0.0.0.0 and MLflow's --allowed-hosts (pass extra `mlflow server`
# options after `--`), behind an authenticating proxy: the server itself has no access control.
# MLflow's job runner (GenAI scorers, 4 extra processes) is off unless
# MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true is set: spineoutcome does not use it.
set -euo pipefail
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

say() { echo "mlflow_server: $*" >&2; }
die() { say "$*"; exit 1; }

command="${1:-}"
[ $# -gt 0 ] && shift
BACKEND="${MLFLOW_BACKEND_STORE_URI:-}"
ARTIFACTS="./mlartifacts"
HOST=127.0.0.1
PORT=5000
WORKERS=1
STATE=""
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend-store-uri) BACKEND="$2"; shift 2 ;;
    --artifacts-destination) ARTIFACTS="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --state-dir) STATE="$2"; shift 2 ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown option $1 (see the header of $0)" ;;
  esac
done
STATE="${STATE:-${TMPDIR:-/tmp}/spineoutcome-mlflow-$PORT}"
PIDFILE="$STATE/server.pid"
LOG="$STATE/server.log"
URL="http://$HOST:$PORT"
[ "$HOST" = "0.0.0.0" ] && URL="http://127.0.0.1:$PORT"

server_args() {
  [ -n "$BACKEND" ] || die "--backend-store-uri is required (e.g. postgresql://USER:PASSWORD@127.0.0.1:54329/mlflow)"
  case "$ARTIFACTS" in
    *://*) ;;
    *) mkdir -p "$ARTIFACTS"; ARTIFACTS="$(cd "$ARTIFACTS" && pwd)" ;;
  esac
  ARGS=(server --backend-store-uri "$BACKEND" --artifacts-destination "$ARTIFACTS" --serve-artifacts
        --host "$HOST" --port "$PORT" --workers "$WORKERS" "${EXTRA[@]}")
}

healthy() {
  python - "$URL/health" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
    sys.exit(0 if answer.status == 200 else 1)
EOF
}

alive() { [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

masked() { sed -E 's#(://[^:/@]+):[^@]*@#\1:***@#g' <<<"$1"; }

case "$command" in
  run)
    server_args
    say "backend store $(masked "$BACKEND"), artifacts $ARTIFACTS, $URL"
    exec mlflow "${ARGS[@]}"
    ;;
  start)
    server_args
    if alive; then
      die "already running (pid $(cat "$PIDFILE")); stop it first: $0 stop --port $PORT"
    fi
    if healthy; then
      die "something already answers on $URL"
    fi
    mkdir -p "$STATE"
    say "backend store $(masked "$BACKEND"), artifacts $ARTIFACTS, log $LOG"
    # setsid: the server (and the uvicorn workers it spawns) get their own process group.
    setsid mlflow "${ARGS[@]}" >"$LOG" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 240); do
      if healthy; then
        say "ready on $URL (pid $(cat "$PIDFILE"))"
        echo "export MLFLOW_TRACKING_URI=$URL"
        exit 0
      fi
      alive || { tail -n 40 "$LOG" >&2; rm -f "$PIDFILE"; die "the server exited during start-up"; }
      sleep 0.5
    done
    tail -n 40 "$LOG" >&2
    die "no answer from $URL/health after 120 s (log: $LOG)"
    ;;
  stop)
    if ! alive; then
      say "not running (no live pid in $PIDFILE)"
      rm -f "$PIDFILE"
      exit 0
    fi
    pid="$(cat "$PIDFILE")"
    kill -TERM -- "-$pid" 2>/dev/null || kill -TERM "$pid"
    for _ in $(seq 1 40); do
      kill -0 "$pid" 2>/dev/null || break
      sleep 0.25
    done
    if kill -0 "$pid" 2>/dev/null; then
      kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    say "stopped (pid $pid)"
    ;;
  *)
    echo "usage: $0 start|stop|run [--backend-store-uri URI] [--artifacts-destination DIR] [--host H] [--port P] [--workers N] [--state-dir DIR] [-- extra mlflow server options]" >&2
    exit 2
    ;;
esac
