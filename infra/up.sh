#!/usr/bin/env bash
# Start the local infrastructure the tests and the demo use: dockerd (+ the workload image) and the
# Kubernetes control plane with hollow nodes. Idempotent; infra/down.sh stops all of it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/docker/dockerd.sh" start
"$HERE/k8s/plane.sh" start
