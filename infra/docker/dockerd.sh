#!/usr/bin/env bash
# Start, stop or restart the local Docker Engine for tests and the demo (no systemd on these machines),
# and build the clone workload image FROM scratch with busybox-static.
#   infra/docker/dockerd.sh start|stop|restart|status|image
set -euo pipefail
RUN=${CLONECAST_RUN_DIR:-/tmp/clonecast-run}
SOCK=${CLONECAST_DOCKER_SOCK:-/var/run/docker.sock}
PID=$RUN/dockerd.pid
HERE=$(cd "$(dirname "$0")" && pwd)
mkdir -p "$RUN"

install() {
  command -v dockerd >/dev/null && [ -x /bin/busybox ] && return 0
  echo "installing docker.io and busybox-static"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q docker.io busybox-static >/dev/null
}

running() { [ -S "$SOCK" ] && docker -H "unix://$SOCK" info >/dev/null 2>&1; }

start() {
  install
  if running; then echo "dockerd already running"; return 0; fi
  setsid dockerd --host "unix://$SOCK" --pidfile "$PID" >"$RUN/dockerd.log" 2>&1 &  # its own session: outlives the caller
  for _ in $(seq 1 60); do running && { echo "dockerd up ($SOCK)"; return 0; }; sleep 0.5; done
  echo "dockerd did not come up; see $RUN/dockerd.log" >&2; tail -20 "$RUN/dockerd.log" >&2; return 1
}

stop() {
  local pid
  pid=$(cat "$PID" 2>/dev/null || true)  # dockerd removes its pid file as it exits
  if [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null; then
    kill "$pid"
    for _ in $(seq 1 60); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
  fi
  rm -f "$PID"
  echo "dockerd stopped"
}

image() {
  local context=$RUN/workload
  rm -rf "$context"; cp -r "$HERE/workload" "$context"; cp /bin/busybox "$context/busybox"
  docker -H "unix://$SOCK" build -q -t clonecast/workload:latest "$context" >/dev/null 2>"$RUN/build.log" \
    || { cat "$RUN/build.log" >&2; return 1; }
  echo "image clonecast/workload:latest built"
}

case "${1:-}" in
  start) start; image ;;
  stop) stop ;;
  restart) stop; start ;;
  status) running && echo running || { echo stopped; exit 1; } ;;
  image) image ;;
  *) echo "usage: $0 start|stop|restart|status|image" >&2; exit 2 ;;
esac
