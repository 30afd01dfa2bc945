#!/usr/bin/env bash
# A real Kubernetes control plane on this machine: etcd, kube-apiserver (token auth + RBAC, TLS from a
# local CA), kube-controller-manager (service-account tokens), kube-scheduler, and kubemark hollow nodes
# (fake kubelets that mark scheduled pods Running) across two zones, some advertising nvidia.com/gpu.
#   infra/k8s/plane.sh start|stop|status|restart-apiserver
# Writes $CLONECAST_RUN_DIR/k8s/admin.kubeconfig (cluster-admin token) for tests and the demo.
set -euo pipefail
CACHE=${CLONECAST_CACHE_DIR:-$HOME/.cache/clonecast}
BIN=$CACHE/kubernetes-v1.20.2/bin
RUN=${CLONECAST_RUN_DIR:-/tmp/clonecast-run}/k8s
HERE=$(cd "$(dirname "$0")" && pwd)
PORT=${CLONECAST_K8S_PORT:-6443}
# hollow nodes: name zone gpus gpu-type
NODES=${CLONECAST_K8S_NODES:-"node-a1 zone-a 0 none node-a2 zone-a 4 T4 node-b1 zone-b 0 none node-b2 zone-b 2 A10"}

address() { hostname -I | tr ' ' '\n' | grep -v '^127\.' | grep -v ':' | head -n 1; }
kubectl_api() { curl -sk -H "Authorization: Bearer $(cat "$RUN/admin.token")" "https://127.0.0.1:$PORT$1" "${@:2}"; }
ready() { [ "$(kubectl_api /readyz 2>/dev/null)" = "ok" ]; }

certs() {
  [ -f "$RUN/ca.crt" ] && return 0
  local ip; ip=$(address)
  openssl req -x509 -newkey rsa:2048 -nodes -days 3650 -subj "/CN=clonecast-ca" \
    -keyout "$RUN/ca.key" -out "$RUN/ca.crt" 2>/dev/null
  cat > "$RUN/server.cnf" <<CNF
[req]
distinguished_name = dn
[dn]
[ext]
subjectAltName = IP:127.0.0.1,IP:$ip,IP:10.0.0.1,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:localhost
CNF
  openssl req -newkey rsa:2048 -nodes -subj "/CN=kube-apiserver" -keyout "$RUN/server.key" -out "$RUN/server.csr" 2>/dev/null
  openssl x509 -req -in "$RUN/server.csr" -CA "$RUN/ca.crt" -CAkey "$RUN/ca.key" -CAcreateserial -days 3650 \
    -extfile "$RUN/server.cnf" -extensions ext -out "$RUN/server.crt" 2>/dev/null
  openssl genrsa -out "$RUN/sa.key" 2048 2>/dev/null
  openssl rsa -in "$RUN/sa.key" -pubout -out "$RUN/sa.pub" 2>/dev/null
  head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n' > "$RUN/admin.token"
  printf '%s,admin,admin,system:masters\n' "$(cat "$RUN/admin.token")" > "$RUN/tokens.csv"
  cat > "$RUN/admin.kubeconfig" <<KC
apiVersion: v1
kind: Config
clusters:
- name: clonecast
  cluster: {server: "https://127.0.0.1:$PORT", certificate-authority: "$RUN/ca.crt"}
users:
- name: admin
  user: {token: "$(cat "$RUN/admin.token")"}
contexts:
- name: clonecast
  context: {cluster: clonecast, user: admin}
current-context: clonecast
KC
}

launch() {  # name, command...
  local name=$1; shift
  "$@" >"$RUN/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}

supervise() {  # name, command...: restart the command when it dies (kubemark's fakes race under load)
  local name=$1; shift
  setsid bash -c 'while :; do "$@"; echo "--- restarted $(date -u +%T)"; sleep 1; done' _ "$@" >"$RUN/$name.log" 2>&1 &
  echo $! > "$RUN/$name.pid"
}

apiserver() {
  launch apiserver "$BIN/kube-apiserver" --etcd-servers=http://127.0.0.1:2379 --advertise-address="$(address)" \
    --bind-address=0.0.0.0 --secure-port="$PORT" --tls-cert-file="$RUN/server.crt" --tls-private-key-file="$RUN/server.key" \
    --client-ca-file="$RUN/ca.crt" --token-auth-file="$RUN/tokens.csv" --authorization-mode=RBAC \
    --service-cluster-ip-range=10.0.0.0/24 --service-account-key-file="$RUN/sa.pub" \
    --service-account-signing-key-file="$RUN/sa.key" --service-account-issuer=https://kubernetes.default.svc \
    --allow-privileged=true --enable-admission-plugins=ServiceAccount --insecure-port=0
  for _ in $(seq 1 120); do ready && break; sleep 0.5; done
  ready || { echo "kube-apiserver did not become ready; see $RUN/apiserver.log" >&2; tail -20 "$RUN/apiserver.log" >&2; return 1; }
}

restart_apiserver() {
  kill "$(cat "$RUN/apiserver.pid")" 2>/dev/null || true
  for _ in $(seq 1 60); do kill -0 "$(cat "$RUN/apiserver.pid")" 2>/dev/null || break; sleep 0.2; done
  apiserver
  echo "kube-apiserver restarted"
}

node_schedulable() {  # node, gpus: the kubelet reports Ready, no node.kubernetes.io taint is left, the GPUs are offered
  kubectl_api "/api/v1/nodes/$1" | python3 -c '
import json, sys
node = json.load(sys.stdin)
ready = any(c["type"] == "Ready" and c["status"] == "True" for c in node["status"].get("conditions") or [])
tainted = any(t["key"].startswith("node.kubernetes.io/") for t in node["spec"].get("taints") or [])
offered = node["status"].get("allocatable", {}).get("nvidia.com/gpu", "0")
sys.exit(0 if ready and not tainted and offered == sys.argv[1] else 1)' "$2" 2>/dev/null
}

healthz() { [ "$(curl -s -m 3 "http://127.0.0.1:$1/healthz" 2>/dev/null)" = "ok" ]; }

serving() {  # wait until the plane can run a pod: scheduler and controllers healthy, the default service
  # account made (pods are refused without one), every hollow node schedulable
  local t0=$SECONDS timeout=${CLONECAST_K8S_TIMEOUT:-300} waiting
  while (( SECONDS - t0 < timeout )); do
    waiting=""
    healthz 10251 || waiting+=" kube-scheduler"
    healthz 10252 || waiting+=" kube-controller-manager"
    kubectl_api /api/v1/namespaces/default/serviceaccounts/default | grep -q '"kind": "ServiceAccount"' \
      || waiting+=" default-service-account"
    set -- $NODES
    while [ $# -ge 4 ]; do
      node_schedulable "$1" "$3" || waiting+=" node-$1"
      shift 4
    done
    [ -z "$waiting" ] && { echo "kubernetes plane serving in $((SECONDS - t0)) s"; return 0; }
    sleep 1
  done
  echo "kubernetes plane not serving after $timeout s; waiting for:$waiting (logs in $RUN)" >&2
  return 1
}

start() {
  "$HERE/build.sh"
  mkdir -p "$RUN"
  if [ -f "$RUN/apiserver.pid" ] && kill -0 "$(cat "$RUN/apiserver.pid")" 2>/dev/null && ready; then
    echo "kubernetes plane already running"; serving; return
  fi
  certs
  launch etcd etcd --data-dir "$RUN/etcd" --listen-client-urls http://127.0.0.1:2379 \
    --advertise-client-urls http://127.0.0.1:2379 --listen-peer-urls http://127.0.0.1:2380
  apiserver
  launch controller-manager "$BIN/kube-controller-manager" --kubeconfig="$RUN/admin.kubeconfig" \
    --service-account-private-key-file="$RUN/sa.key" --root-ca-file="$RUN/ca.crt" --leader-elect=false \
    --use-service-account-credentials=false
  launch scheduler "$BIN/kube-scheduler" --kubeconfig="$RUN/admin.kubeconfig" --leader-elect=false
  set -- $NODES
  local port=20250
  while [ $# -ge 4 ]; do
    local node=$1 zone=$2 kind=$4; shift 4
    GOMAXPROCS=1 supervise "node-$node" "$BIN/kubemark" --morph=kubelet --name="$node" --kubeconfig="$RUN/admin.kubeconfig" \
      --kubelet-port=$port --kubelet-read-only-port=$((port + 1)) \
      --node-labels="topology.kubernetes.io/zone=$zone,clonecast.io/gpu-type=$kind"
    port=$((port + 2))
  done
  set -- $NODES
  while [ $# -ge 4 ]; do
    local node=$1 gpus=$3; shift 4
    for _ in $(seq 1 360); do kubectl_api "/api/v1/nodes/$node" | grep '"kind": "Node"' >/dev/null && break; sleep 0.5; done
    kubectl_api "/api/v1/nodes/$node" | grep '"kind": "Node"' >/dev/null \
      || { echo "hollow node $node did not register; see $RUN/node-$node.log" >&2; return 1; }
    if [ "$gpus" != "0" ]; then
      kubectl_api "/api/v1/nodes/$node/status" -X PATCH -H 'Content-Type: application/json-patch+json' \
        -d "[{\"op\":\"add\",\"path\":\"/status/capacity/nvidia.com~1gpu\",\"value\":\"$gpus\"},{\"op\":\"add\",\"path\":\"/status/allocatable/nvidia.com~1gpu\",\"value\":\"$gpus\"}]" >/dev/null
    fi
  done
  serving || return 1
  echo "kubernetes plane up: https://127.0.0.1:$PORT (kubeconfig $RUN/admin.kubeconfig), nodes: $(echo "$NODES" | awk '{for(i=1;i<=NF;i+=4) printf "%s ", $i}')"
}

stop() {
  for pidfile in "$RUN"/node-*.pid; do  # supervised: stop the whole process group
    [ -f "$pidfile" ] || continue
    kill -- "-$(cat "$pidfile")" 2>/dev/null || kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  for pidfile in "$RUN"/scheduler.pid "$RUN"/controller-manager.pid "$RUN"/apiserver.pid "$RUN"/etcd.pid; do
    [ -f "$pidfile" ] || continue
    kill "$(cat "$pidfile")" 2>/dev/null || true
    rm -f "$pidfile"
  done
  sleep 1
  rm -rf "$RUN/etcd"
  echo "kubernetes plane stopped"
}

case "${1:-}" in
  start) start ;;
  stop) stop ;;
  status) ready && echo running || { echo stopped; exit 1; } ;;
  restart-apiserver) restart_apiserver ;;
  *) echo "usage: $0 start|stop|status|restart-apiserver" >&2; exit 2 ;;
esac
