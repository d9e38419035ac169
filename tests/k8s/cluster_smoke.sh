#!/usr/bin/env bash
# Smoke test of the Kubernetes test cluster (scripts/k8s/cluster.sh + tests/k8s/kubelet.py):
# a pod runs as a local process and becomes Ready with its own 127.x IP, its log is readable through
# the apiserver, a missing image gives ErrImagePull/ImagePullBackOff, a 3-GPU pod on a 2-GPU node
# stays Unschedulable, deletion kills the process, the cnote-server Role allows exactly what it should,
# and `cluster.sh stop` leaves no process behind. Prints each check; exits non-zero on any failure.
set -uo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
cluster="$repo/scripts/k8s/cluster.sh"
dir="$(mktemp -d /tmp/cnote-k8s-smoke.XXXXXX)"
passed=0 failed=0
t_start=$SECONDS

ok() { echo "ok   - $*"; passed=$((passed + 1)); }
bad() { echo "FAIL - $*"; failed=$((failed + 1)); }
check() { local what="$1"; shift; if "$@"; then ok "$what"; else bad "$what"; fi; }

cleanup() {
    "$cluster" stop "$dir" >/dev/null 2>&1
    if [ "$failed" -gt 0 ]; then echo "logs kept in $dir/logs"; else rm -rf "$dir"; fi
}
trap cleanup EXIT

t0=$SECONDS
if ! "$cluster" start "$dir"; then
    bad "cluster start"; tail -20 "$dir"/logs/*.log; exit 1
fi
ok "cluster started in $((SECONDS - t0)) s"
# shellcheck disable=SC1091
. "$dir/env"
k() { "$CNOTE_K8S_KUBECTL" --kubeconfig "$CNOTE_K8S_ADMIN_KUBECONFIG" -n cnote "$@"; }
ks() { "$CNOTE_K8S_KUBECTL" --kubeconfig "$CNOTE_K8S_SERVER_KUBECONFIG" "$@"; }

# wait_until SECONDS COMMAND...: poll every 0.2 s
wait_until() {
    local t="$1" i; shift
    for i in $(seq 1 $((t * 5))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.2; done
    return 1
}
jp() { k get pod "$1" -o jsonpath="$2" 2>/dev/null; }

# The cnote namespace may enforce Pod Security "restricted" (k8s/base/namespace.yaml): every pod
# here carries the same security settings as cnote's kernel pods.
SEC_POD='securityContext: {runAsNonRoot: true, runAsUser: 1000, runAsGroup: 100, seccompProfile: {type: RuntimeDefault}}'
SEC_CTR='securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}'
# simple_pod NAME IMAGE GPUS COMMAND...: a restartPolicy Never pod with one container
simple_pod() {
    local name="$1" image="$2" gpus="$3" cmd="" a; shift 3
    for a in "$@"; do cmd="$cmd\"$a\", "; done
    k apply -f - >/dev/null <<EOF
apiVersion: v1
kind: Pod
metadata: {name: $name, namespace: cnote}
spec:
  restartPolicy: Never
  terminationGracePeriodSeconds: 5
  $SEC_POD
  containers:
  - name: main
    image: $image
    command: [${cmd%, }]
    $SEC_CTR
    resources: {limits: {nvidia.com/gpu: "$gpus"}}
EOF
}

check "node $CNOTE_K8S_NODE Ready with 2 nvidia.com/gpu" \
    test "$(k get node "$CNOTE_K8S_NODE" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}/{.status.allocatable.nvidia\.com/gpu}')" = "True/2"

# --- a running, ready pod (created with the restricted server credentials)
k create secret generic smoke-secret --from-literal=word=swordfish >/dev/null
cat > "$dir/ok.yaml" <<EOF
apiVersion: v1
kind: Pod
metadata: {name: smoke-ok, namespace: cnote}
spec:
  restartPolicy: Never
  automountServiceAccountToken: false
  terminationGracePeriodSeconds: 5
  $SEC_POD
  containers:
  - name: kernel
    $SEC_CTR
    image: registry.example/x/cnote-kernel:dev
    command: [sh, -c]
    args: ['echo hi; echo "secret=\$WORD name=\$NAME"; exec python3 -m http.server 8080 --bind "\$POD_IP"']
    env:
    - {name: WORD, valueFrom: {secretKeyRef: {name: smoke-secret, key: word}}}
    - {name: POD_IP, valueFrom: {fieldRef: {fieldPath: status.podIP}}}
    - {name: NAME, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
    readinessProbe:
      tcpSocket: {port: 8080}
      periodSeconds: 1
    resources:
      limits: {nvidia.com/gpu: "1"}
EOF
check "server SA creates a pod" ks create -f "$dir/ok.yaml"
t0=$SECONDS
check "pod smoke-ok Ready" k wait --for=condition=Ready pod/smoke-ok --timeout=40s
echo "     (scheduled + started + ready in $((SECONDS - t0)) s)"
ip="$(jp smoke-ok '{.status.podIP}')"
check "podIP $ip is 127.x and not 127.0.0.1" bash -c "[[ '$ip' =~ ^127\.[0-9]+\.[0-9]+\.[0-9]+$ && '$ip' != 127.0.0.1 ]]"
check "phase Running, container running" test "$(jp smoke-ok '{.status.phase}/{.status.containerStatuses[0].ready}')" = "Running/true"
check "process answers on $ip:8080" curl -sf -o /dev/null "http://$ip:8080/"
check "kubectl logs (server SA) shows output + secret env" \
    bash -c "'$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_SERVER_KUBECONFIG' logs smoke-ok | grep -q 'secret=swordfish name=smoke-ok'"
check "events Pulled/Created/Started" bash -c "'$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get events --field-selector involvedObject.name=smoke-ok -o jsonpath='{.items[*].reason}' | grep -q 'Started'"

# --- image pull failure
simple_pod smoke-badimage nope:1 0 sleep 100
check "bad image -> ErrImagePull" wait_until 20 bash -c "[[ \$('$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-badimage -o jsonpath='{.status.containerStatuses[0].state.waiting.reason}') =~ ErrImagePull|ImagePullBackOff ]]"
check "bad image -> ImagePullBackOff, still Pending" wait_until 20 bash -c "test \"\$('$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-badimage -o jsonpath='{.status.phase}/{.status.containerStatuses[0].state.waiting.reason}')\" = Pending/ImagePullBackOff"
check "event 'Failed to pull image \"nope:1\"'" bash -c "'$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get events --field-selector involvedObject.name=smoke-badimage -o jsonpath='{.items[*].message}' | grep -q 'Failed to pull image \"nope:1\"'"

# --- unschedulable GPU request (the real kube-scheduler decides)
simple_pod smoke-gpu3 cnote-kernel:dev 3 sleep 100
check "3-GPU pod Unschedulable: Insufficient nvidia.com/gpu" wait_until 20 bash -c "'$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-gpu3 -o jsonpath='{.status.conditions[?(@.type==\"PodScheduled\")].status}/{.status.conditions[?(@.type==\"PodScheduled\")].reason}/{.status.conditions[?(@.type==\"PodScheduled\")].message}' | grep -q 'False/Unschedulable/.*Insufficient nvidia.com/gpu'"
echo "     ($(jp smoke-gpu3 '{.status.conditions[?(@.type=="PodScheduled")].message}'))"

# --- exit codes
simple_pod smoke-exit0 cnote-kernel 0 sh -c 'exit 0'
simple_pod smoke-exit3 cnote-kernel 0 sh -c 'exit 3'
check "exit 0 -> Succeeded/Completed" wait_until 20 bash -c "test \"\$('$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-exit0 -o jsonpath='{.status.phase}/{.status.containerStatuses[0].state.terminated.reason}')\" = Succeeded/Completed"
check "exit 3 -> Failed/Error/3" wait_until 20 bash -c "test \"\$('$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-exit3 -o jsonpath='{.status.phase}/{.status.containerStatuses[0].state.terminated.reason}/{.status.containerStatuses[0].state.terminated.exitCode}')\" = Failed/Error/3"

# --- graceful deletion
t0=$SECONDS
check "server SA deletes smoke-ok (waits until gone)" ks -n cnote delete pod smoke-ok --timeout=30s
echo "     (deleted in $((SECONDS - t0)) s)"
check "pod object gone" bash -c "! '$CNOTE_K8S_KUBECTL' --kubeconfig '$CNOTE_K8S_ADMIN_KUBECONFIG' -n cnote get pod smoke-ok >/dev/null 2>&1"
check "its process is dead" bash -c "! pgrep -f 'http.server 8080 --bind $ip\$' >/dev/null"
check "delete of an ImagePullBackOff pod" k delete pod smoke-badimage --timeout=20s

# --- RBAC of the server ServiceAccount
can() { ks auth can-i "$@" 2>/dev/null; }
check "can-i create pods (cnote): yes" test "$(can create pods -n cnote)" = yes
check "can-i get pods/log (cnote): yes" test "$(can get pods --subresource=log -n cnote)" = yes
check "can-i create secrets (cnote): yes" test "$(can create secrets -n cnote)" = yes
check "can-i create deployments (cnote): no" test "$(can create deployments.apps -n cnote)" = no
check "can-i list secrets (default): no" test "$(can list secrets -n default)" = no
check "can-i create pods (default): no" test "$(can create pods -n default)" = no
check "can-i list nodes: no" test "$(can list nodes)" = no

# --- stop leaves nothing behind
pids="$(sed -n 's/^CNOTE_K8S_.*_PID=//p' "$dir/env" | tr '\n' ' ')"
simple_pod smoke-sleeper cnote-kernel 0 sleep 4242
wait_until 20 pgrep -f '^sleep 4242$' >/dev/null
t0=$SECONDS
"$cluster" stop "$dir" 2>/dev/null
echo "     (stopped in $((SECONDS - t0)) s)"
alive=""
for p in $pids; do  # a zombie waiting for init to reap it counts as gone
    st="$(awk '{print $3}' "/proc/$p/stat" 2>/dev/null)"
    [ -n "$st" ] && [ "$st" != Z ] && alive="$alive $p"
done
check "no cluster process left (pids$pids)" test -z "$alive"
check "no pod process left" bash -c "! pgrep -f '^sleep 4242$' >/dev/null"

echo "$passed passed, $failed failed (smoke took $((SECONDS - t_start)) s)"
[ "$failed" -eq 0 ]
