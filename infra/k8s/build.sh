#!/usr/bin/env bash
# Build a real Kubernetes control plane (v1.20.2, Debian's source package with vendored dependencies) and
# kubemark, once; the binaries are cached under $CLONECAST_CACHE_DIR (default ~/.cache/clonecast).
set -euo pipefail
CACHE=${CLONECAST_CACHE_DIR:-$HOME/.cache/clonecast}
OUT=$CACHE/kubernetes-v1.20.2/bin
BINARIES="kube-apiserver kube-controller-manager kube-scheduler kubemark"
have_all() { for b in $BINARIES; do [ -x "$OUT/$b" ] || return 1; done; }
if have_all; then echo "kubernetes binaries cached in $OUT"; exit 0; fi

export DEBIAN_FRONTEND=noninteractive
if [ ! -f /etc/apt/sources.list.d/clonecast-src.sources ]; then
  cat > /etc/apt/sources.list.d/clonecast-src.sources <<'SRC'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
  apt-get update -q
fi
apt-get install -y -q golang-go etcd-server rsync dpkg-dev golang-github-modern-go-reflect2-dev >/dev/null

WORK=$CACHE/build
mkdir -p "$WORK" "$OUT"
cd "$WORK"
ls -d kubernetes-*/ >/dev/null 2>&1 || apt-get source -q kubernetes >/dev/null 2>&1
cd "$(ls -d kubernetes-*/ | head -n 1)"
# reflect2 1.0.1 (vendored) crashes the apiserver under Go 1.19; Debian's 1.0.2 does not
rm -rf vendor/github.com/modern-go/reflect2
cp -r /usr/share/gocode/src/github.com/modern-go/reflect2 vendor/github.com/modern-go/reflect2
rm -f vendor/github.com/modern-go/reflect2/go.mod
mkdir -p .go/src/k8s.io
ln -sfn ../../.. .go/src/k8s.io/kubernetes
echo "building kubernetes (about 6 minutes on 2 cores)..."
GOPATH=$PWD/.go CGO_ENABLED=0 make WHAT="cmd/kube-apiserver cmd/kube-controller-manager cmd/kube-scheduler cmd/kubemark" >build.log 2>&1 \
  || { tail -40 build.log; exit 1; }
for b in $BINARIES; do cp "_output/bin/$b" "$OUT/$b"; done
echo "kubernetes binaries in $OUT"
