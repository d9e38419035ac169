#!/usr/bin/env bash
# The Kubernetes tier (issue 7): builds the test cluster's binaries from the Go module proxy
# (scripts/k8s/build.sh; cached, instant the second time), starts a real etcd + kube-apiserver +
# kube-scheduler with the process kubelet (scripts/k8s/cluster.sh), then runs
#   - tests/k8s/test_manifests.sh with the admin kubeconfig: every kustomize overlay and the pod
#     templates through `kubectl apply --dry-run=server` (Pod Security "restricted" included),
#   - the golden kernel pods of the unit tests through the same server-side dry-run,
#   - tests/k8s/test_k8s_e2e.py: cnote-server with the Role-bound ServiceAccount token starting,
#     using, restarting and stopping C kernels in pods, launch failures, adoption, API outages,
# and stops the cluster (exactly the processes it started). Extra arguments go to pytest.
#   CNOTE_K8S_DIR   reuse a running cluster (cluster.sh start DIR) instead of starting one
set -euo pipefail

cd "$(dirname "$0")/.."
ROOT=$PWD
PY=$ROOT/.venv/bin/python
[[ -x $PY ]] || { echo "run-k8s-e2e.sh: $PY missing; run scripts/setup.sh first" >&2; exit 2; }
t0=$SECONDS
bin=$(scripts/k8s/build.sh | tail -n 1)
echo "run-k8s-e2e.sh: cluster binaries in $bin ($((SECONDS - t0)) s)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/cnote-k8s-e2e.XXXXXX")
own_cluster=0
if [[ -z ${CNOTE_K8S_DIR:-} ]]; then
    export CNOTE_K8S_DIR=$TMP/cluster
    mkdir -p "$CNOTE_K8S_DIR"
    own_cluster=1
fi
cleanup() {
    if ((own_cluster)); then scripts/k8s/cluster.sh stop "$CNOTE_K8S_DIR" || true; fi
    rm -rf "$TMP"
}
trap cleanup EXIT
if ((own_cluster)); then
    t1=$SECONDS
    scripts/k8s/cluster.sh start "$CNOTE_K8S_DIR"
    echo "run-k8s-e2e.sh: cluster up in $((SECONDS - t1)) s"
fi
# shellcheck disable=SC1091
. "$CNOTE_K8S_DIR/env"

rc=0
if ((own_cluster)); then
    # the test cluster itself (a cluster of its own): scheduling, image pulls, probes, logs,
    # deletion, RBAC of the server's token, nothing left behind
    echo "run-k8s-e2e.sh: the process kubelet and the control plane (tests/k8s/cluster_smoke.sh)"
    if tests/k8s/cluster_smoke.sh >"$TMP/smoke.log" 2>&1; then
        tail -n 1 "$TMP/smoke.log"
    else
        tail -n 40 "$TMP/smoke.log"
        rc=1
    fi
fi
echo "run-k8s-e2e.sh: manifests against the API server (dry-run=server)"
CNOTE_K8S_ADMIN_KUBECONFIG=$CNOTE_K8S_ADMIN_KUBECONFIG tests/k8s/test_manifests.sh \
    "$CNOTE_K8S_ADMIN_KUBECONFIG" || rc=1
echo "run-k8s-e2e.sh: golden kernel pods of the unit tests (dry-run=server)"
kc=("$CNOTE_K8S_KUBECTL" --kubeconfig "$CNOTE_K8S_ADMIN_KUBECONFIG")
# what the golden pods refer to: a PriorityClass and a namespace of their own
"${kc[@]}" create priorityclass gpu-interactive --value=1000 >/dev/null 2>&1 || true
"${kc[@]}" create namespace other-ns >/dev/null 2>&1 || true
for f in tests/data/k8s/pod-*.json tests/data/k8s/secret.json; do
    ns=$("$PY" -c 'import json,sys; print(json.load(open(sys.argv[1]))["metadata"].get("namespace") or "cnote")' "$f")
    if ! out=$("${kc[@]}" -n "$ns" apply --dry-run=server -f "$f" 2>&1); then
        echo "  FAIL $f: $out"
        rc=1
    else
        echo "  ok   $f: $out"
    fi
done

export JUPYTER_PATH=$ROOT/.venv/share/jupyter${JUPYTER_PATH:+:$JUPYTER_PATH}
export JUPYTER_DATA_DIR=$TMP/data JUPYTER_RUNTIME_DIR=$TMP/runtime JUPYTER_CONFIG_DIR=$TMP/config
mkdir -p "$JUPYTER_DATA_DIR" "$JUPYTER_RUNTIME_DIR" "$JUPYTER_CONFIG_DIR"
"$PY" -m pytest -q -p no:cacheprovider --timeout="${CNOTE_TEST_TIMEOUT:-240}" -s tests/k8s "$@" \
    || rc=1
timeout "${CNOTE_TEST_TIMEOUT:-240}" node --test tests/k8s/k8s-app.test.mjs || rc=1
echo "run-k8s-e2e.sh: total $((SECONDS - t0)) s"
exit $rc
