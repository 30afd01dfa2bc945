#!/usr/bin/env bash
# Start, stop or check the local orchestration services for tests and the demo (no systemd here):
#   - a Prefect server (SQLite under $RUN/prefect, UI on), a process work pool and a worker polling it,
#   - an MLflow tracking server (SQLite store, artifacts proxied by the server under $RUN/mlflow/artifacts).
#   infra/services/services.sh start|stop|restart|status
# Each service runs in its own session (setsid), so stop kills its whole process group. start is idempotent
# and writes $RUN/services.env (PREFECT_API_URL, CLONECAST_TRACKING_URI, ...) for tests and demos to source.
set -euo pipefail
RUN=${CLONECAST_RUN_DIR:-/tmp/clonecast-run}
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
VENV=${CLONECAST_VENV:-$ROOT/.venv}
PREFECT_PORT=${CLONECAST_PREFECT_PORT:-4200}
MLFLOW_PORT=${CLONECAST_MLFLOW_PORT:-5000}
POOL=${CLONECAST_WORK_POOL:-clonecast-process}
TIMEOUT=${CLONECAST_SERVICES_TIMEOUT:-90}  # seconds each service may take to come up
PF=$RUN/prefect
ML=$RUN/mlflow
API=http://127.0.0.1:$PREFECT_PORT/api
TRACKING=http://127.0.0.1:$MLFLOW_PORT
ENVFILE=$RUN/services.env
mkdir -p "$PF" "$ML/artifacts"

# The Prefect processes read their settings from these (prefect/settings/models/server/*.py).
export PREFECT_HOME=$PF
export PREFECT_API_URL=$API
export PREFECT_SERVER_API_HOST=127.0.0.1
export PREFECT_SERVER_API_PORT=$PREFECT_PORT
export PREFECT_SERVER_DATABASE_CONNECTION_URL=sqlite+aiosqlite:///$PF/prefect.db
export PREFECT_SERVER_ANALYTICS_ENABLED=false
export PREFECT_SERVER_UI_ENABLED=true
export PREFECT_CLI_PROMPT=false
# mlflow server otherwise also starts a huey job-runner (GenAI scorer/optimizer jobs) beside uvicorn.
export MLFLOW_SERVER_ENABLE_JOB_EXECUTION=${MLFLOW_SERVER_ENABLE_JOB_EXECUTION:-false}

need_venv() {
  [ -x "$VENV/bin/prefect" ] && [ -x "$VENV/bin/mlflow" ] && return 0
  echo "prefect/mlflow not found in $VENV; run 'make install' first (or set CLONECAST_VENV)" >&2; return 1
}

alive() { local pid; pid=$(cat "$1" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
# Up means answering a request that reads the service's store, not only a listening socket.
prefect_healthy() { curl -sf -m 3 "$API/ready" 2>/dev/null | grep -q '"OK"'; }
mlflow_healthy() {
  curl -sf -m 3 "$TRACKING/api/2.0/mlflow/experiments/get-by-name?experiment_name=Default" 2>/dev/null \
    | grep -q '"experiment"'
}
pool_status() { curl -s -m 3 "$API/work_pools/$POOL" 2>/dev/null | sed -n 's/.*"status":"\([A-Z_]*\)".*/\1/p'; }
pool_ready() { [ "$(pool_status)" = "READY" ]; }
WORKER=clonecast-worker
worker_beat() {  # the last heartbeat of our worker (UTC, ISO 8601), empty when none
  curl -s -m 3 -X POST -H 'Content-Type: application/json' -d '{}' "$API/work_pools/$POOL/workers/filter" 2>/dev/null \
    | tr '{' '\n' | grep "\"name\":\"$WORKER\"" | sed -n 's/.*"last_heartbeat_time":"\([^"]*\)".*/\1/p'
}
worker_polling() {  # the pool is READY with a heartbeat from the worker launched at $WORKER_T0 or later
  local beat; beat=$(worker_beat)
  pool_ready && [ -n "$beat" ] && [[ ! "$beat" < "${WORKER_T0:-}" ]]
}

launch() {  # pidfile, log, command...: in a new session, so that stop can kill the whole group
  local pidfile=$1 log=$2; shift 2
  setsid "$@" </dev/null >"$log" 2>&1 &
  echo $! >"$pidfile"
}

wait_for() {  # what, check-function, pidfile, log
  local what=$1 check=$2 pidfile=$3 log=$4 t0=$SECONDS
  printf 'waiting for %s ' "$what"
  while (( SECONDS - t0 < TIMEOUT )); do
    if "$check"; then echo " up in $((SECONDS - t0)) s"; return 0; fi
    if ! alive "$pidfile"; then
      echo; echo "$what exited while starting; see $log" >&2; tail -20 "$log" >&2; rm -f "$pidfile"; return 1
    fi
    printf .; sleep 1
  done
  echo; echo "$what did not come up in $TIMEOUT s; see $log" >&2; tail -20 "$log" >&2; return 1
}

start_prefect() {
  local pidfile=$PF/prefect-server.pid log=$PF/server.log
  if prefect_healthy; then
    alive "$pidfile" && echo "prefect server already running ($API)" \
      || echo "prefect server already answering at $API (not started by this script)"
    return 0
  fi
  if ! alive "$pidfile"; then
    launch "$pidfile" "$log" "$VENV/bin/prefect" server start --host 127.0.0.1 --port "$PREFECT_PORT" --ui --analytics-off
  fi
  wait_for "prefect server ($API)" prefect_healthy "$pidfile" "$log"
}

start_worker() {
  local pidfile=$PF/worker.pid log=$PF/worker.log code
  code=$(curl -s -m 5 -o /dev/null -w '%{http_code}' "$API/work_pools/$POOL")
  if [ "$code" = 404 ]; then
    "$VENV/bin/prefect" work-pool create "$POOL" --type process >"$PF/work-pool.log" 2>&1 \
      || { echo "could not create work pool $POOL; see $PF/work-pool.log" >&2; tail -20 "$PF/work-pool.log" >&2; return 1; }
    echo "work pool $POOL created"
  elif [ "$code" != 200 ]; then
    echo "work pool lookup at $API/work_pools/$POOL answered HTTP $code" >&2; return 1
  fi
  if alive "$pidfile"; then
    pool_ready && { echo "prefect worker already running (pool $POOL)"; return 0; }
    WORKER_T0=  # running but not READY yet: any heartbeat will do
  else
    WORKER_T0=$(date -u +%Y-%m-%dT%H:%M:%S)  # a heartbeat left by an earlier worker does not count
    launch "$pidfile" "$log" "$VENV/bin/prefect" worker start --pool "$POOL" --type process \
      --name "$WORKER" --install-policy never
  fi
  wait_for "prefect worker (pool $POOL READY)" worker_polling "$pidfile" "$log"
}

start_mlflow() {
  local pidfile=$ML/mlflow-server.pid log=$ML/server.log
  if mlflow_healthy; then
    alive "$pidfile" && echo "mlflow server already running ($TRACKING)" \
      || echo "mlflow server already answering at $TRACKING (not started by this script)"
    return 0
  fi
  if ! alive "$pidfile"; then
    launch "$pidfile" "$log" "$VENV/bin/mlflow" server --backend-store-uri "sqlite:///$ML/mlflow.db" \
      --artifacts-destination "$ML/artifacts" --serve-artifacts --host 127.0.0.1 --port "$MLFLOW_PORT" --workers 1
  fi
  wait_for "mlflow server ($TRACKING)" mlflow_healthy "$pidfile" "$log"
}

write_env() {
  cat >"$ENVFILE" <<ENV
PREFECT_API_URL=$API
CLONECAST_WORK_POOL=$POOL
CLONECAST_TRACKING_URI=$TRACKING
ENV
  echo "wrote $ENVFILE"
}

tree() {  # pid and all its descendants
  local pid=$1 child
  echo "$pid"
  for child in $(ps -o pid= --ppid "$pid" 2>/dev/null); do tree "$child"; done
}

signal_all() {  # signal, pgid, pids...: the process group and any descendant that left it
  local sig=$1 pgid=$2; shift 2
  kill "-$sig" -- "-$pgid" 2>/dev/null || true
  kill "-$sig" "$@" 2>/dev/null || true
}

gone() {  # pgid, pids...
  local pgid=$1; shift
  ! kill -0 -- "-$pgid" 2>/dev/null && ! kill -0 "$@" 2>/dev/null
}

stop_one() {  # name, pidfile: TERM; then INT (a Prefect worker treats its first signal as a request to
  # shut down gracefully, which can wait forever, and a second one as "now"); then KILL
  local name=$1 pidfile=$2 pid pids sig
  pid=$(cat "$pidfile" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    pids=$(tree "$pid")
    for sig in TERM INT KILL; do
      # shellcheck disable=SC2086
      signal_all "$sig" "$pid" $pids
      for _ in $(seq 1 20); do
        # shellcheck disable=SC2086
        gone "$pid" $pids && break 2
        sleep 0.25
      done
    done
    echo "$name stopped"
  else
    echo "$name not running"
  fi
  rm -f "$pidfile"
}

stop() {
  stop_one "prefect worker" "$PF/worker.pid"
  stop_one "prefect server" "$PF/prefect-server.pid"
  stop_one "mlflow server" "$ML/mlflow-server.pid"
  rm -f "$ENVFILE"
}

status() {
  local down=0 rss
  report() {  # name, pidfile, healthy?, url
    if alive "$2" && "$3"; then
      rss=$(ps -o rss= -g "$(cat "$2")" 2>/dev/null | awk '{s += $1} END {printf "%d", s / 1024}')
      echo "$1: running (pid $(cat "$2"), $4, ${rss} MB RSS)"
    elif "$3"; then echo "$1: up ($4) but not started by this script"
    else echo "$1: stopped"; down=1; fi
  }
  report "prefect server" "$PF/prefect-server.pid" prefect_healthy "$API"
  report "prefect worker" "$PF/worker.pid" pool_ready "pool $POOL $(pool_status)"
  report "mlflow server " "$ML/mlflow-server.pid" mlflow_healthy "$TRACKING"
  return $down
}

need_chromium() {  # headless Chromium checks the two UIs in the tests
  command -v chromium >/dev/null && return 0
  echo "installing chromium (headless UI checks)"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium >"$RUN/chromium-install.log" 2>&1 \
    || { tail -5 "$RUN/chromium-install.log" >&2; return 1; }
}

case "${1:-}" in
  start) need_venv; need_chromium; start_prefect; start_worker; start_mlflow; write_env ;;
  stop) stop ;;
  restart) stop; need_venv; start_prefect; start_worker; start_mlflow; write_env ;;
  status) status ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
