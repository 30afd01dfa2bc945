#!/usr/bin/env bash
# Stop everything infra/up.sh started.
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/services/services.sh" stop
"$HERE/k8s/plane.sh" stop
"$HERE/prometheus/prometheus.sh" stop
"$HERE/docker/dockerd.sh" stop
