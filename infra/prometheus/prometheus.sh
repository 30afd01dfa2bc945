#!/usr/bin/env bash
# Start, stop or check the local Prometheus that the live loop reads demand from (no systemd here): it scrapes
# the front door, the live controller and the tests' exporters every second (infra/prometheus/prometheus.yml).
#   infra/prometheus/prometheus.sh start|stop|restart|status
# Installs Debian's prometheus package when the binary is missing (with its init script kept from starting a
# second Prometheus), runs it in its own session on 127.0.0.1:$CLONECAST_PROMETHEUS_PORT (default 9090) with its
# TSDB, log and pid file under $RUN/prometheus, and returns once /-/ready answers. start is idempotent and writes
# $RUN/prometheus.env (CLONECAST_PROMETHEUS_URL) for tests and demos to source.
set -euo pipefail
RUN=${CLONECAST_RUN_DIR:-/tmp/clonecast-run}
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${CLONECAST_PROMETHEUS_PORT:-9090}
TIMEOUT=${CLONECAST_SERVICES_TIMEOUT:-90}  # seconds Prometheus may take to come up (and to exit)
CONFIG=$HERE/prometheus.yml
DIR=$RUN/prometheus
PID=$DIR/prometheus.pid
LOG=$DIR/prometheus.log
URL=http://127.0.0.1:$PORT
ENVFILE=$RUN/prometheus.env
mkdir -p "$DIR/data"

install() {
  command -v prometheus >/dev/null && return 0
  echo "installing prometheus"
  # The package's postinst starts its own daemon through invoke-rc.d (:9090, /etc/prometheus); a policy-rc.d
  # that answers 101 keeps it from doing so. Docker-built images ship one; add it only for the install.
  local policy=/usr/sbin/policy-rc.d added=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$policy" && chmod +x "$policy" && added=1
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends -o DPkg::Lock::Timeout=120 \
    prometheus >"$RUN/prometheus-install.log" 2>&1 || {
    [ -n "$added" ] && rm -f "$policy"
    tail -20 "$RUN/prometheus-install.log" >&2; return 1
  }
  [ -n "$added" ] && rm -f "$policy"
  if [ -x /etc/init.d/prometheus ] && [ -s /run/prometheus/prometheus.pid ]; then  # started all the same: not ours
    /etc/init.d/prometheus stop >/dev/null 2>&1 || true
  fi
}

alive() { local pid; pid=$(cat "$PID" 2>/dev/null) && [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; }
ready() { curl -sf -m 3 "$URL/-/ready" >/dev/null 2>&1; }
# Ours when its config file is this directory's: another Prometheus on the port would not scrape our jobs.
ours() { curl -sf -m 3 "$URL/api/v1/status/flags" 2>/dev/null | grep -qF "\"config.file\":\"$CONFIG\""; }

write_env() {
  echo "CLONECAST_PROMETHEUS_URL=$URL" >"$ENVFILE"
}

start() {
  install
  if ready; then
    if ours; then
      alive && echo "prometheus already running ($URL)" \
        || echo "prometheus already answering at $URL with $CONFIG (not started by this script)"
      write_env; return 0
    fi
    echo "another Prometheus answers at $URL (not with $CONFIG): stop it or set CLONECAST_PROMETHEUS_PORT" >&2
    return 1
  fi
  if ! alive; then
    # its own session: outlives the caller, and stop can signal it alone
    setsid prometheus --config.file="$CONFIG" --storage.tsdb.path="$DIR/data" \
      --web.listen-address="127.0.0.1:$PORT" --storage.tsdb.retention.time=1d \
      </dev/null >"$LOG" 2>&1 &
    echo $! >"$PID"
  fi
  local t0=$SECONDS
  printf 'waiting for prometheus (%s) ' "$URL"
  while (( SECONDS - t0 < TIMEOUT )); do
    if ready; then echo " up in $((SECONDS - t0)) s"; write_env; return 0; fi
    if ! alive; then
      echo; echo "prometheus exited while starting; see $LOG" >&2; tail -20 "$LOG" >&2; rm -f "$PID"; return 1
    fi
    printf .; sleep 0.5
  done
  echo; echo "prometheus did not come up in $TIMEOUT s; see $LOG" >&2; tail -20 "$LOG" >&2; return 1
}

stop() {
  local pid
  pid=$(cat "$PID" 2>/dev/null || true)
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"  # TERM: it closes the TSDB head cleanly
    for _ in $(seq 1 $((TIMEOUT * 4))); do kill -0 "$pid" 2>/dev/null || break; sleep 0.25; done
    kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; sleep 0.5; }
    echo "prometheus stopped"
  else
    echo "prometheus not running"
  fi
  rm -f "$PID" "$ENVFILE"
}

status() {
  if alive && ready; then echo "prometheus: running (pid $(cat "$PID"), $URL)"
  elif ready; then echo "prometheus: up ($URL) but not started by this script"
  else echo "prometheus: stopped"; return 1; fi
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  restart) stop; start ;;
  status) status ;;
  *) echo "usage: $0 start|stop|restart|status" >&2; exit 2 ;;
esac
