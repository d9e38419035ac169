#!/usr/bin/env bash
# Build the binaries of the test Kubernetes cluster (issue 7) from the Go module proxy:
#   kube-apiserver, kube-scheduler, kube-controller-manager
#                                   (k8s.io/kubernetes, wrapper module scripts/k8s/gomod)
#   etcd                            (go.etcd.io/etcd/server/v3, wrapper module scripts/k8s/etcdmod)
#   kubectl                         (only when none is on PATH, or CNOTE_K8S_BUILD_KUBECTL=1)
# into ${CNOTE_K8S_CACHE:-$HOME/.cache/cnote-k8s}/bin-<versions>. A second run finds them and
# returns at once. Prints the bin directory on stdout (last line); progress goes to stderr.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
modver() {  # modver <go.mod> <module>: the version the go.mod requires
    awk -v m="$2" '$1=="require" && $2==m {print $3; exit} $1==m && $2 ~ /^v/ {print $2; exit}' "$1"
}
K8S_VERSION="$(modver "$here/gomod/go.mod" k8s.io/kubernetes)"
ETCD_VERSION="$(modver "$here/etcdmod/go.mod" go.etcd.io/etcd/server/v3)"
[ -n "$K8S_VERSION" ] && [ -n "$ETCD_VERSION" ] || { echo "build.sh: cannot read versions from go.mod" >&2; exit 2; }
cache="${CNOTE_K8S_CACHE:-$HOME/.cache/cnote-k8s}"
bin="$cache/bin-k8s-${K8S_VERSION}-etcd-${ETCD_VERSION}"

log() { echo "build.sh: $*" >&2; }

command -v go >/dev/null 2>&1 || { log "go is not installed (needed to build the test cluster)"; exit 2; }

need_kubectl=0
if [ "${CNOTE_K8S_BUILD_KUBECTL:-0}" = 1 ] || ! command -v kubectl >/dev/null 2>&1; then
    need_kubectl=1
fi

mkdir -p "$bin"
export GOTOOLCHAIN="${GOTOOLCHAIN:-local}"
export GOFLAGS="${GOFLAGS:+$GOFLAGS }-mod=mod"
export CGO_ENABLED=0
ldflags="-s -w"

build() {  # build <module dir> <packages...>: into $bin/
    local dir="$1"; shift
    local t0=$SECONDS
    (cd "$here/$dir" && go build -trimpath -ldflags "$ldflags" -o "$bin/" "$@")
    log "built $* in $((SECONDS - t0)) s"
}

k8s_pkgs=()
[ -x "$bin/kube-apiserver" ] || k8s_pkgs+=(k8s.io/kubernetes/cmd/kube-apiserver)
[ -x "$bin/kube-scheduler" ] || k8s_pkgs+=(k8s.io/kubernetes/cmd/kube-scheduler)
# kube-controller-manager only when asked (node-loss experiments; ~5 min more cold)
if [ "${CNOTE_K8S_CONTROLLER_MANAGER:-0}" = 1 ] || [ "${CNOTE_K8S_BUILD_KCM:-0}" = 1 ]; then
    [ -x "$bin/kube-controller-manager" ] || k8s_pkgs+=(k8s.io/kubernetes/cmd/kube-controller-manager)
fi
if [ "$need_kubectl" = 1 ] && [ ! -x "$bin/kubectl" ]; then
    k8s_pkgs+=(k8s.io/kubernetes/cmd/kubectl)
fi
if [ "${#k8s_pkgs[@]}" -gt 0 ]; then
    log "building ${k8s_pkgs[*]} ($K8S_VERSION) into $bin (cold: ~15 min on 2 cores)"
    # The version stamp kube-apiserver reports in /version (otherwise v0.0.0-master).
    vpkg=k8s.io/component-base/version
    ldflags="-s -w -X $vpkg.gitVersion=$K8S_VERSION -X $vpkg.gitMajor=1 -X $vpkg.gitMinor=$(echo "$K8S_VERSION" | cut -d. -f2) -X $vpkg.gitTreeState=clean"
    build gomod "${k8s_pkgs[@]}"
    ldflags="-s -w"
fi
if [ ! -x "$bin/etcd" ]; then
    log "building etcd $ETCD_VERSION into $bin"
    t0=$SECONDS
    (cd "$here/etcdmod" && go build -trimpath -ldflags "$ldflags" -o "$bin/etcd" go.etcd.io/etcd/server/v3)
    log "built etcd in $((SECONDS - t0)) s"
fi
echo "$bin"
