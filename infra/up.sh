#!/usr/bin/env bash
# Start the local infrastructure the tests and the demo use: dockerd (+ the workload image), the
# Kubernetes control plane with hollow nodes, Prometheus (the live loop's metrics), and the orchestration services
# (Prefect server + worker, MLflow server). Idempotent; infra/down.sh stops all of it.
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
"$HERE/docker/dockerd.sh" start
"$HERE/prometheus/prometheus.sh" start
"$HERE/k8s/plane.sh" start
"$HERE/services/services.sh" start
