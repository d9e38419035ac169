#!/usr/bin/env bash
# A real, single-machine Kubernetes control plane for cnote's end-to-end tests (issue 7):
# etcd + kube-apiserver + kube-scheduler built by scripts/k8s/build.sh, plus the test-only
# process kubelet (tests/k8s/kubelet.py) that registers one node and runs pods as local processes.
# kube-controller-manager only with CNOTE_K8S_CONTROLLER_MANAGER=1; without it: no namespace
# finalisation, no ownerReference GC, no node-lifecycle (NotReady/evictions of a lost node).
# ServiceAccount admission is disabled (no token controller by default; pods need no SA token).
#
#   cluster.sh start DIR   start everything, state + logs in DIR; writes DIR/env
#   cluster.sh stop DIR    stop exactly the processes that `start DIR` started (PIDs in DIR/pids)
#   cluster.sh env DIR     print DIR/env (shell variables; `. DIR/env` or `eval "$(cluster.sh env DIR)"`)
#
# Everything binds 127.0.0.1 on free ports. Environment knobs:
#   CNOTE_K8S_NO_KUBELET=1   do not start the process kubelet
#   CNOTE_K8S_GPUS=N         nvidia.com/gpu on the node (default 2)
#   CNOTE_K8S_NODE=NAME      node name (default cnote-node-1)
#   CNOTE_K8S_NODES=N        run N process kubelets: NAME, then cnote-node-2..N (default 1). The
#                            node controller evicts nothing while every node is down, so node-loss
#                            tests need N >= 2 and CNOTE_K8S_CONTROLLER_MANAGER=1.
#   CNOTE_K8S_BIN=DIR        use binaries from DIR instead of running build.sh
#   CNOTE_K8S_KUBELET_ARGS   extra arguments for kubelet.py (e.g. "--pull-delay 3")
#   CNOTE_K8S_CONTROLLER_MANAGER=1  also run kube-controller-manager (node monitor grace 20 s)
#   CNOTE_K8S_EVICTION_SECONDS      default not-ready/unreachable toleration of pods (default 300)
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
NS=cnote
NODE="${CNOTE_K8S_NODE:-cnote-node-1}"

die() { echo "cluster.sh: $*" >&2; exit 1; }
log() { echo "cluster.sh: $*" >&2; }

free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# The command line of a PID must still contain what we started, so that a reused PID is never killed.
pid_is() {
    local cmd
    cmd="$( { tr '\0' ' ' < "/proc/$1/cmdline"; } 2>/dev/null)" || return 1
    [[ "$cmd" == *"$2"* ]]
}

stop_one() {  # stop_one DIR NAME MATCH
    local f="$1/pids/$2" pid i
    [ -f "$f" ] || return 0
    pid="$(cat "$f")"
    if pid_is "$pid" "$3"; then
        kill -TERM "$pid" 2>/dev/null || true
        for i in $(seq 1 100); do pid_is "$pid" "$3" || break; sleep 0.1; done
        if pid_is "$pid" "$3"; then log "$2 ($pid) ignored SIGTERM, sending SIGKILL"; kill -KILL "$pid" 2>/dev/null || true; fi
    fi
    rm -f "$f"
}

cmd_stop() {
    local dir="$1"
    [ -d "$dir/pids" ] || return 0
    local f
    for f in "$dir"/pids/kubelet*; do [ -e "$f" ] && stop_one "$dir" "$(basename "$f")" kubelet.py; done
    stop_one "$dir" kube-controller-manager kube-controller-manager
    stop_one "$dir" kube-scheduler kube-scheduler
    stop_one "$dir" kube-apiserver kube-apiserver
    stop_one "$dir" etcd etcd
    log "stopped ($dir)"
}

kubeconfig() {  # kubeconfig FILE USER TOKEN NAMESPACE
    local ca_data
    ca_data="$(base64 -w0 < "$dir/ca.crt")"
    umask 077
    cat > "$1" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: cnote-test
  cluster:
    server: $APISERVER
    certificate-authority-data: $ca_data
users:
- name: $2
  user:
    token: $3
contexts:
- name: $2@cnote-test
  context:
    cluster: cnote-test
    user: $2
    namespace: $4
current-context: $2@cnote-test
EOF
    umask 022
}

make_certs() {
    local d="$dir/pki"
    mkdir -p "$d"
    openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=cnote-test-ca" \
        -keyout "$d/ca.key" -out "$dir/ca.crt" 2>/dev/null
    cert() {  # cert NAME CN SAN
        openssl req -newkey rsa:2048 -nodes -subj "/CN=$2" -keyout "$d/$1.key" -out "$d/$1.csr" 2>/dev/null
        printf 'subjectAltName=%s\nextendedKeyUsage=serverAuth,clientAuth\n' "$3" > "$d/$1.ext"
        openssl x509 -req -in "$d/$1.csr" -CA "$dir/ca.crt" -CAkey "$d/ca.key" -CAcreateserial \
            -days 30 -extfile "$d/$1.ext" -out "$d/$1.crt" 2>/dev/null
    }
    cert apiserver kube-apiserver "IP:127.0.0.1,DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,IP:10.0.0.1"
    cert kubelet "system:node:$NODE" "IP:127.0.0.1,DNS:localhost,DNS:$NODE"
    cert apiserver-kubelet-client kube-apiserver-kubelet-client "DNS:localhost"
    openssl genrsa -out "$d/sa.key" 2048 2>/dev/null
    openssl rsa -in "$d/sa.key" -pubout -out "$d/sa.pub" 2>/dev/null
}

wait_for() {  # wait_for SECONDS DESCRIPTION COMMAND...
    local t="$1" what="$2" i; shift 2
    for i in $(seq 1 $((t * 10))); do
        if "$@" >/dev/null 2>&1; then return 0; fi
        sleep 0.1
    done
    die "timed out after ${t}s waiting for $what (logs in $dir/logs)"
}

spawn() {  # spawn NAME COMMAND...: background, detached from our stdio, PID recorded
    local name="$1"; shift
    nohup "$@" </dev/null >"$dir/logs/$name.log" 2>&1 &
    echo $! > "$dir/pids/$name"
}

alive() { pid_is "$(cat "$dir/pids/$1")" "$2" || die "$1 exited; see $dir/logs/$1.log: $(tail -5 "$dir/logs/$1.log")"; }

# The bootstrap objects: k8s/base/<name>.yaml where it exists (the deployment's own manifests are
# the source of truth), else the built-in copy below.
bootstrap_yaml() {
    if [ -f "$repo/k8s/base/$1.yaml" ]; then cat "$repo/k8s/base/$1.yaml"; return; fi
    case "$1" in
    namespace) printf 'apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cnote\n' ;;
    serviceaccount) printf 'apiVersion: v1\nkind: ServiceAccount\nmetadata:\n  name: cnote-server\n' ;;
    role) cat <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata:
  name: cnote-server
rules:
- apiGroups: [""]
  resources: [pods]
  verbs: [get, list, watch, create, delete]
- apiGroups: [""]
  resources: [pods/log]
  verbs: [get]
- apiGroups: [""]
  resources: [events]
  verbs: [get, list, watch]
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, create, delete]
- apiGroups: [""]
  resources: [persistentvolumeclaims]
  verbs: [get, list, create]
EOF
    ;;
    rolebinding) cat <<'EOF'
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata:
  name: cnote-server
roleRef:
  apiGroup: rbac.authorization.k8s.io
  kind: Role
  name: cnote-server
subjects:
- kind: ServiceAccount
  name: cnote-server
  namespace: cnote
EOF
    ;;
    esac
}

cmd_start() {
    local t0=$SECONDS bin kubectl
    started=0
    mkdir -p "$dir/logs" "$dir/pids"
    dir="$(cd "$dir" && pwd)"
    if [ -n "$(ls -A "$dir/pids")" ]; then die "$dir already has a running cluster (cluster.sh stop $dir)"; fi
    bin="${CNOTE_K8S_BIN:-$("$here/build.sh")}"
    for b in etcd kube-apiserver kube-scheduler; do [ -x "$bin/$b" ] || die "missing $bin/$b"; done
    kubectl="$(command -v kubectl || true)"
    [ -n "$kubectl" ] || kubectl="$bin/kubectl"
    [ -x "$kubectl" ] || die "no kubectl (run CNOTE_K8S_BUILD_KUBECTL=1 scripts/k8s/build.sh)"

    [ -f "$dir/ca.crt" ] || make_certs
    local pki="$dir/pki" admin_token sched_token kcm_token etcd_port peer_port api_port sched_port
    admin_token="$(openssl rand -hex 24)"
    sched_token="$(openssl rand -hex 24)"
    kcm_token="$(openssl rand -hex 24)"
    umask 077
    {
        printf '%s,cnote-admin,cnote-admin,"system:masters"\n' "$admin_token"
        printf '%s,system:kube-scheduler,system:kube-scheduler,"system:masters"\n' "$sched_token"
        printf '%s,system:kube-controller-manager,system:kube-controller-manager,"system:masters"\n' "$kcm_token"
    } > "$pki/tokens.csv"
    umask 022
    etcd_port="$(free_port)"; peer_port="$(free_port)"; api_port="$(free_port)"; sched_port="$(free_port)"
    APISERVER="https://127.0.0.1:$api_port"

    # Anything failing from here on (set -e or die) stops what was already started.
    trap '[ "$started" = 1 ] || cmd_stop "$dir"' EXIT
    spawn etcd "$bin/etcd" --name cnote-test --data-dir "$dir/etcd" \
        --listen-client-urls "http://127.0.0.1:$etcd_port" --advertise-client-urls "http://127.0.0.1:$etcd_port" \
        --listen-peer-urls "http://127.0.0.1:$peer_port" --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
        --initial-cluster "cnote-test=http://127.0.0.1:$peer_port" --unsafe-no-fsync --log-level warn
    wait_for 15 etcd curl -sf "http://127.0.0.1:$etcd_port/health"

    spawn kube-apiserver "$bin/kube-apiserver" \
        --etcd-servers "http://127.0.0.1:$etcd_port" \
        --bind-address 127.0.0.1 --advertise-address 127.0.0.1 --secure-port "$api_port" \
        --tls-cert-file "$pki/apiserver.crt" --tls-private-key-file "$pki/apiserver.key" \
        --client-ca-file "$dir/ca.crt" --token-auth-file "$pki/tokens.csv" \
        --authorization-mode Node,RBAC \
        --service-account-issuer https://kubernetes.default.svc.cluster.local \
        --service-account-key-file "$pki/sa.pub" --service-account-signing-key-file "$pki/sa.key" \
        --service-cluster-ip-range 10.0.0.0/24 --allow-privileged=true \
        --disable-admission-plugins ServiceAccount \
        --kubelet-certificate-authority "$dir/ca.crt" \
        --kubelet-client-certificate "$pki/apiserver-kubelet-client.crt" \
        --kubelet-client-key "$pki/apiserver-kubelet-client.key" \
        --kubelet-preferred-address-types InternalIP \
        --default-not-ready-toleration-seconds "${CNOTE_K8S_EVICTION_SECONDS:-300}" \
        --default-unreachable-toleration-seconds "${CNOTE_K8S_EVICTION_SECONDS:-300}" \
        --endpoint-reconciler-type none --profiling=false
    wait_for 60 "kube-apiserver /readyz" curl -sf --cacert "$dir/ca.crt" -H "Authorization: Bearer $admin_token" "$APISERVER/readyz"
    alive kube-apiserver kube-apiserver

    kubeconfig "$dir/admin.kubeconfig" cnote-admin "$admin_token" "$NS"
    kubeconfig "$pki/scheduler.kubeconfig" system:kube-scheduler "$sched_token" kube-system
    spawn kube-scheduler "$bin/kube-scheduler" --kubeconfig "$pki/scheduler.kubeconfig" \
        --leader-elect=false --bind-address 127.0.0.1 --secure-port "$sched_port"
    if [ "${CNOTE_K8S_CONTROLLER_MANAGER:-0}" = 1 ]; then
        [ -x "$bin/kube-controller-manager" ] || die "missing $bin/kube-controller-manager"
        kubeconfig "$pki/kcm.kubeconfig" system:kube-controller-manager "$kcm_token" kube-system
        spawn kube-controller-manager "$bin/kube-controller-manager" --kubeconfig "$pki/kcm.kubeconfig" \
            --leader-elect=false --bind-address 127.0.0.1 --secure-port "$(free_port)" \
            --service-account-private-key-file "$pki/sa.key" --root-ca-file "$dir/ca.crt" \
            --use-service-account-credentials=false \
            --node-monitor-period 2s --node-monitor-grace-period 20s
    fi

    local k=("$kubectl" --kubeconfig "$dir/admin.kubeconfig")
    bootstrap_yaml namespace | "${k[@]}" apply -f - >/dev/null
    local obj
    for obj in serviceaccount role rolebinding; do
        bootstrap_yaml $obj | "${k[@]}" -n "$NS" apply -f - >/dev/null
    done
    "${k[@]}" -n "$NS" create serviceaccount default --dry-run=client -o yaml | "${k[@]}" apply -f - >/dev/null
    umask 077
    "${k[@]}" -n "$NS" create token cnote-server --duration=24h > "$dir/server.token"
    umask 022
    kubeconfig "$dir/server.kubeconfig" cnote-server "$(cat "$dir/server.token")" "$NS"

    if [ "${CNOTE_K8S_NO_KUBELET:-0}" != 1 ]; then
        local n name pidname octet
        # pod addresses 127.<octet>.x.y: a random range per cluster, so that two clusters on one
        # machine (parallel test runs) never hand out the same address with the same ports
        octet=$(( 20 + RANDOM % 200 ))
        for n in $(seq 1 "${CNOTE_K8S_NODES:-1}"); do
            name="$NODE"; pidname=kubelet
            [ "$n" = 1 ] || { name="cnote-node-$n"; pidname="kubelet-$n"; }
            # shellcheck disable=SC2086
            spawn "$pidname" python3 "$repo/tests/k8s/kubelet.py" --kubeconfig "$dir/admin.kubeconfig" \
                --node "$name" --gpus "${CNOTE_K8S_GPUS:-2}" --repo "$repo" --state-dir "$dir/$pidname" \
                --tls-cert "$pki/kubelet.crt" --tls-key "$pki/kubelet.key" \
                --ip-octet $(( (octet + n - 1) % 250 + 1 )) ${CNOTE_K8S_KUBELET_ARGS:-}
        done
        for n in $(seq 1 "${CNOTE_K8S_NODES:-1}"); do
            name="$NODE"; [ "$n" = 1 ] || name="cnote-node-$n"
            wait_for 20 "node $name Ready" sh -c "'$kubectl' --kubeconfig '$dir/admin.kubeconfig' get node '$name' -o jsonpath='{.status.conditions[?(@.type==\"Ready\")].status}' | grep -qx True"
        done
    fi
    alive kube-scheduler kube-scheduler
    [ ! -f "$dir/pids/kube-controller-manager" ] || alive kube-controller-manager kube-controller-manager
    started=1

    local pids=""
    for f in "$dir"/pids/*; do pids="$pids $(basename "$f" | tr a-z- A-Z_)_PID=$(cat "$f")"; done
    cat > "$dir/env" <<EOF
CNOTE_K8S_DIR=$dir
CNOTE_K8S_APISERVER=$APISERVER
CNOTE_K8S_CA=$dir/ca.crt
CNOTE_K8S_NAMESPACE=$NS
CNOTE_K8S_NODE=$NODE
CNOTE_K8S_SERVER_TOKEN_FILE=$dir/server.token
CNOTE_K8S_ADMIN_KUBECONFIG=$dir/admin.kubeconfig
CNOTE_K8S_SERVER_KUBECONFIG=$dir/server.kubeconfig
CNOTE_K8S_KUBECTL=$kubectl
CNOTE_K8S_BIN=$bin
$(for p in $pids; do echo "CNOTE_K8S_$p"; done)
EOF
    log "ready in $((SECONDS - t0)) s: $APISERVER (env in $dir/env)"
}

[ $# -eq 2 ] || die "usage: cluster.sh start|stop|env DIR"
dir="$2"
case "$1" in
    start) cmd_start ;;
    stop) cmd_stop "$dir" ;;
    env) cat "$dir/env" ;;
    *) die "usage: cluster.sh start|stop|env DIR" ;;
esac
