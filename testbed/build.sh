#!/usr/bin/env bash
# Builds the binaries of berth's local Kubernetes control plane (and the peer tools used by
# benchmarks) from the pinned Go wrapper modules in testbed/go/. Idempotent: a binary that is
# already in the cache is not built again. The cache lives outside the repository:
#   ${BERTH_LOCAL_CACHE:-$HOME/.cache/berth/local}/<component>-<version>/
# Usage: testbed/build.sh [control-plane|peers|all]   (default: control-plane)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cache=${BERTH_LOCAL_CACHE:-$HOME/.cache/berth/local}
what=${1:-control-plane}

export CGO_ENABLED=0 GOTOOLCHAIN=local GOFLAGS=-mod=mod
command -v go >/dev/null || { echo "berth: Go is required to build the local control plane (apt-get install golang, or Go >= 1.24 from go.dev)" >&2; exit 2; }

# version <wrapper dir> <module>: the version the wrapper's go.mod pins for module.
version() { awk -v m="$2" '{ if ($1 == "require") { $1 = ""; $0 = $0 } } $1 == m && $2 ~ /^v/ { print $2; exit }' "$here/go/$1/go.mod"; }

k8s=$(version k8s k8s.io/kubernetes)
etcd=$(version etcd go.etcd.io/etcd/server/v3)
kwok=$(version kwok sigs.k8s.io/kwok)

# build <dest dir> <wrapper> <ldflags> <pkg=name>...: builds each package into dest/name.
build() {
  local dest=$1 wrapper=$2 ldflags=$3; shift 3
  local missing=()
  for spec in "$@"; do [ -x "$dest/${spec#*=}" ] || missing+=("$spec"); done
  [ ${#missing[@]} -eq 0 ] && { echo "berth: $dest is up to date"; return 0; }
  mkdir -p "$dest.tmp"
  for spec in "${missing[@]}"; do
    echo "berth: building ${spec#*=} into $dest ($(date +%T))"
    (cd "$here/go/$wrapper" && go build -trimpath -tags selinux,notest -ldflags "$ldflags" -o "$dest.tmp/${spec#*=}" "${spec%=*}")
  done
  mkdir -p "$dest" && mv "$dest.tmp"/* "$dest/" && rmdir "$dest.tmp"
}

kube_ldflags() {
  local v=$1 minor; minor=$(echo "$v" | cut -d. -f2)
  local f="-s -w"
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    f="$f -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.gitCommit=berth-local -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  echo "$f"
}

control_plane() {
  build "$cache/etcd-$etcd" etcd "-s -w" go.etcd.io/etcd/server/v3=etcd
  build "$cache/kwok-$kwok" kwok "-s -w" sigs.k8s.io/kwok/cmd/kwok=kwok
  build "$cache/kubernetes-$k8s" k8s "$(kube_ldflags "$k8s")" \
    k8s.io/kubernetes/cmd/kube-apiserver=kube-apiserver \
    k8s.io/kubernetes/cmd/kube-controller-manager=kube-controller-manager \
    k8s.io/kubernetes/cmd/kube-scheduler=kube-scheduler \
    k8s.io/kubernetes/cmd/kubectl=kubectl
}

peers() {
  local helm kubeconform
  helm=$(version peers helm.sh/helm/v3); kubeconform=$(version peers github.com/yannh/kubeconform)
  build "$cache/helm-$helm" peers "-s -w" helm.sh/helm/v3/cmd/helm=helm
  build "$cache/kubeconform-$kubeconform" peers "-s -w" github.com/yannh/kubeconform/cmd/kubeconform=kubeconform
}

case $what in
  control-plane) control_plane ;;
  peers) peers ;;
  all) control_plane; peers ;;
  *) echo "usage: $0 [control-plane|peers|all]" >&2; exit 2 ;;
esac
