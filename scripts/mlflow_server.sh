#!/usr/bin/env bash
# A shared MLflow tracking server: PostgreSQL backend store (runs, metrics, model registry), an
# artifact root served by the server itself, and MLflow's built-in authentication (basic-auth app:
# users, passwords and per-experiment / per-model permissions).
#
#   export MLFLOW_BACKEND_STORE_URI=postgresql://mlflow@db-host:5432/mlflow   # password: ~/.pgpass or PGPASSWORD
#   export MLFLOW_AUTH_ADMIN_PASSWORD=...        # first start only: the admin password (12+ characters)
#   scripts/mlflow_server.sh start [--artifacts-destination DIR_OR_URI] [--host 127.0.0.1] [--port 5000]
#       [--workers 1] [--state-dir DIR] [--no-auth] [-- extra mlflow server options]
#   # -> prints the state folder and: export MLFLOW_TRACKING_URI=http://127.0.0.1:5000   (once /health answers)
#   scripts/mlflow_server.sh stop [--port 5000] [--state-dir DIR]
#   scripts/mlflow_server.sh run ...same options...   # in the foreground (systemd, a container)
#
# Secrets never go on a command line (every user of the machine can read argv in the process list):
# - the backend store URI is read from MLFLOW_BACKEND_STORE_URI (mlflow server reads that variable
#   itself); a URI with a password in it is refused on the command line;
# - the auth app keeps its users in a SQLite file in the state folder (or MLFLOW_AUTH_DATABASE_URI);
#   its config file and the Flask secret key (MLFLOW_FLASK_SERVER_SECRET_KEY, generated once if
#   unset) are written there with mode 0600. MLflow creates the admin user on the first start from
#   MLFLOW_AUTH_ADMIN_PASSWORD and refuses to start without it; clients then authenticate with
#   MLFLOW_TRACKING_USERNAME / MLFLOW_TRACKING_PASSWORD.
# - the state folder (log, pid, auth files) is created with mktemp -d (mode 0700, unpredictable
#   name) unless --state-dir names one; an existing folder is used only if it is a real directory
#   owned by this user and not accessible to others.
# --no-auth starts the plain tracking app, only on loopback (127.0.0.1 / localhost / ::1).
# Beyond loopback: --host 0.0.0.0 plus MLflow's --allowed-hosts (after `--`), and TLS in front.
# MLflow's job runner (GenAI scorers) is off unless MLFLOW_SERVER_ENABLE_JOB_EXECUTION=true.
set -euo pipefail
umask 077
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION="${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}"

say() { echo "mlflow_server: $*" >&2; }
die() { say "$*"; exit 1; }
masked() { sed -E 's#(://[^:/@]*):[^@]*@#\1:***@#g; s#([?&](password|passwd|pwd|sslpassword)=)[^&]*#\1***#Ig' <<<"$1"; }

command="${1:-}"
[ $# -gt 0 ] && shift
ARTIFACTS="./mlartifacts"
HOST=127.0.0.1
PORT=5000
WORKERS=1
STATE=""
AUTH=1
EXTRA=()
while [ $# -gt 0 ]; do
  case "$1" in
    --backend-store-uri)
      case "$2" in
        *://*:*@*|*password=*) die "--backend-store-uri with a password would be visible in the process list; export MLFLOW_BACKEND_STORE_URI (password in ~/.pgpass or PGPASSWORD) instead" ;;
      esac
      export MLFLOW_BACKEND_STORE_URI="$2"; shift 2 ;;
    --artifacts-destination) ARTIFACTS="$2"; shift 2 ;;
    --host) HOST="$2"; shift 2 ;;
    --port) PORT="$2"; shift 2 ;;
    --workers) WORKERS="$2"; shift 2 ;;
    --state-dir) STATE="$2"; shift 2 ;;
    --no-auth) AUTH=0; shift ;;
    --) shift; EXTRA=("$@"); break ;;
    *) die "unknown option $1 (see the header of $0)" ;;
  esac
done
URL="http://$HOST:$PORT"
[ "$HOST" = "0.0.0.0" ] && URL="http://127.0.0.1:$PORT"

# A folder we may keep secrets in: a real directory (no symlink), ours, closed to group and others.
check_state() {
  [ -d "$1" ] && [ ! -L "$1" ] || die "state folder $1 is not a directory (or is a symbolic link)"
  [ "$(stat -c %u "$1")" = "$(id -u)" ] || die "state folder $1 is not owned by $(id -un); refusing it"
  case "$(stat -c %a "$1")" in
    700) ;;
    *) die "state folder $1 is accessible to other users (mode $(stat -c %a "$1")); chmod 700 it" ;;
  esac
}

# The state folder of a running server on PORT: --state-dir, else our mktemp folder for that port.
find_state() {
  if [ -n "$STATE" ]; then echo "$STATE"; return; fi
  for candidate in "${TMPDIR:-/tmp}"/spineoutcome-mlflow-"$PORT".*; do
    [ -d "$candidate" ] && [ ! -L "$candidate" ] && [ "$(stat -c %u "$candidate")" = "$(id -u)" ] \
      && [ -f "$candidate/server.pid" ] && { echo "$candidate"; return; }
  done
}

prepare_state() {
  if [ -z "$STATE" ]; then
    STATE="$(mktemp -d "${TMPDIR:-/tmp}/spineoutcome-mlflow-$PORT.XXXXXXXX")"
  elif [ ! -e "$STATE" ]; then
    mkdir -m 700 -p -- "$STATE"
  fi
  check_state "$STATE"
  PIDFILE="$STATE/server.pid"
  LOG="$STATE/server.log"
}

server_args() {
  [ -n "${MLFLOW_BACKEND_STORE_URI:-}" ] \
    || die "set MLFLOW_BACKEND_STORE_URI (e.g. postgresql://mlflow@127.0.0.1:54329/mlflow, password in ~/.pgpass)"
  case "$ARTIFACTS" in
    *://*) ;;
    *) mkdir -p "$ARTIFACTS"; ARTIFACTS="$(cd "$ARTIFACTS" && pwd)" ;;
  esac
  ARGS=(server --artifacts-destination "$ARTIFACTS" --serve-artifacts --host "$HOST" --port "$PORT"
        --workers "$WORKERS")
  if [ "$AUTH" = 1 ]; then
    python -c "import flask_wtf" 2>/dev/null \
      || die "MLflow's authentication needs Flask-WTF: pip install 'spineoutcome[scale]' (or mlflow[auth])"
    if [ ! -f "$STATE/secret_key" ]; then
      if [ -n "${MLFLOW_FLASK_SERVER_SECRET_KEY:-}" ]; then
        printf '%s' "$MLFLOW_FLASK_SERVER_SECRET_KEY" >"$STATE/secret_key"
      else
        python -c "import secrets; print(secrets.token_hex(32), end='')" >"$STATE/secret_key"
      fi
    fi
    MLFLOW_FLASK_SERVER_SECRET_KEY="$(cat "$STATE/secret_key")"
    export MLFLOW_FLASK_SERVER_SECRET_KEY
    if [ ! -f "$STATE/basic_auth.ini" ]; then
      cat >"$STATE/basic_auth.ini" <<EOF
[mlflow]
default_permission = READ
database_uri = ${MLFLOW_AUTH_DATABASE_URI:-sqlite:///$STATE/basic_auth.db}
admin_username = ${MLFLOW_AUTH_ADMIN_USERNAME:-admin}
authorization_function = mlflow.server.auth:authenticate_request_basic_auth
grant_default_workspace_access = false
# Each request's password is checked with PBKDF2 (about a second on a busy machine; logging a model
# makes hundreds of requests); a successful check is cached for 30 s per worker, so a changed or
# revoked password stops working within 30 s.
auth_cache_ttl_seconds = 30
auth_cache_max_size = 1000
EOF
    fi
    export MLFLOW_AUTH_CONFIG_PATH="$STATE/basic_auth.ini"
    ARGS+=(--app-name basic-auth)
  else
    case "$HOST" in
      127.0.0.1|localhost|::1) ;;
      *) die "--no-auth only on loopback: a server reachable from the network must authenticate its users" ;;
    esac
  fi
  ARGS+=("${EXTRA[@]}")
}

healthy() {
  python - "$URL/health" <<'EOF' >/dev/null 2>&1
import sys, urllib.request
with urllib.request.urlopen(sys.argv[1], timeout=2) as answer:
    sys.exit(0 if answer.status == 200 else 1)
EOF
}

alive() { [ -n "${PIDFILE:-}" ] && [ -f "$PIDFILE" ] && kill -0 "$(cat "$PIDFILE")" 2>/dev/null; }

describe() {
  local auth="off (loopback only)"
  [ "$AUTH" = 1 ] && auth="basic-auth, users in $(masked "${MLFLOW_AUTH_DATABASE_URI:-sqlite:///$STATE/basic_auth.db}")"
  say "backend store $(masked "$MLFLOW_BACKEND_STORE_URI"), artifacts $ARTIFACTS, authentication $auth, state $STATE"
}

case "$command" in
  run)
    prepare_state
    server_args
    describe
    exec mlflow "${ARGS[@]}"
    ;;
  start)
    prepare_state
    server_args
    if alive; then
      die "already running (pid $(cat "$PIDFILE")); stop it first: $0 stop --port $PORT --state-dir $STATE"
    fi
    if healthy; then
      die "something already answers on $URL"
    fi
    describe
    # setsid: the server (and the uvicorn workers it spawns) get their own process group.
    setsid mlflow "${ARGS[@]}" >"$LOG" 2>&1 < /dev/null &
    echo $! >"$PIDFILE"
    for _ in $(seq 1 240); do
      if healthy; then
        say "ready on $URL (pid $(cat "$PIDFILE"), state $STATE)"
        echo "export MLFLOW_TRACKING_URI=$URL"
        exit 0
      fi
      alive || { tail -n 40 "$LOG" | masked "$(cat)" >&2; rm -f "$PIDFILE"; die "the server exited during start-up"; }
      sleep 0.5
    done
    tail -n 40 "$LOG" >&2
    die "no answer from $URL/health after 120 s (log: $LOG)"
    ;;
  stop)
    STATE="$(find_state)"
    [ -n "$STATE" ] || { say "not running (no state folder for port $PORT)"; exit 0; }
    check_state "$STATE"
    PIDFILE="$STATE/server.pid"
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
    say "stopped (pid $pid; state $STATE kept: log and auth database)"
    ;;
  *)
    echo "usage: $0 start|stop|run [--artifacts-destination DIR] [--host H] [--port P] [--workers N] [--state-dir DIR] [--no-auth] [-- extra mlflow server options]" >&2
    exit 2
    ;;
esac
