#!/usr/bin/env bash
# Register the deployments of prefect.yaml (schedules, the drift automation) on the local Prefect server.
# Flow runs work in this checkout, keep state in $CLONECAST_STATE_DIR, log to $CLONECAST_TRACKING_URI and drive
# the cluster of $CLONECAST_KUBECONFIG.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
RUN=${CLONECAST_RUN_DIR:-/tmp/clonecast-run}
[ -f "$RUN/services.env" ] || { echo "no $RUN/services.env: start the services first (make up)" >&2; exit 1; }
set -a; . "$RUN/services.env"; set +a
export CLONECAST_HOME=$ROOT
export CLONECAST_STATE_DIR=${CLONECAST_STATE_DIR:-$ROOT/.clonecast}
export CLONECAST_TRACKING_URI=${CLONECAST_TRACKING_URI:-sqlite:///$CLONECAST_STATE_DIR/mlflow.db}
export CLONECAST_REGISTERED_MODEL=${CLONECAST_REGISTERED_MODEL:-clonecast-demand}
# deploy-clones with the kubernetes actuator drives this cluster (default: the local plane of make up)
export CLONECAST_KUBECONFIG=${CLONECAST_KUBECONFIG:-${KUBECONFIG:-$RUN/k8s/admin.kubeconfig}}
cd "$ROOT"
"$ROOT/.venv/bin/prefect" --no-prompt deploy --all >"$RUN/deploy.log" 2>&1 || { tail -30 "$RUN/deploy.log" >&2; exit 1; }
echo "deployments registered on $PREFECT_API_URL (state $CLONECAST_STATE_DIR, MLflow $CLONECAST_TRACKING_URI, kubeconfig $CLONECAST_KUBECONFIG)"
