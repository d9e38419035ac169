"""End-to-end tier of the Kubernetes provisioner (issue 7): cnote-server -> a real
kube-apiserver (+ etcd, kube-scheduler; built from the Go module proxy by scripts/k8s/build.sh)
-> the process kubelet (tests/k8s/kubelet.py, runs each pod's command as a local process on an
address 127.x.y.z of its own) -> the real C kernel -> ZeroMQ -> the server's WebSocket.

The server authenticates with the cnote-server ServiceAccount's token, bound only to the Role of
k8s/base/role.yaml, so every test here also shows that the Role is enough.

The cluster comes from scripts/k8s/cluster.sh (started here, or reused when CNOTE_K8S_DIR names
a running one). Run: scripts/run-k8s-e2e.sh (make k8s-e2e).
"""

from __future__ import annotations

import base64
import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import uuid

import pytest
import requests

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(ROOT, "tests", "integration"))

from server_fixture import start_cnote  # noqa: E402
import wsclient  # noqa: E402

PROFILES = os.path.join(HERE, "profiles-test.yaml")
NS = "cnote"


def load_env(path: str) -> dict:
    env = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith("#"):
                k, v = line.split("=", 1)
                env[k] = v
    return env


@pytest.fixture(scope="session")
def cluster():
    given = os.environ.get("CNOTE_K8S_DIR")
    if given:
        yield load_env(os.path.join(given, "env"))
        return
    d = tempfile.mkdtemp(prefix="cnote-k8s-")
    subprocess.run([os.path.join(ROOT, "scripts", "k8s", "cluster.sh"), "start", d], check=True)
    try:
        yield load_env(os.path.join(d, "env"))
    finally:
        subprocess.run([os.path.join(ROOT, "scripts", "k8s", "cluster.sh"), "stop", d])


def kubectl(cluster, *args, check=True, kubeconfig=None) -> subprocess.CompletedProcess:
    cmd = [cluster["CNOTE_K8S_KUBECTL"], "--kubeconfig",
           kubeconfig or cluster["CNOTE_K8S_ADMIN_KUBECONFIG"], "-n", NS, *args]
    return subprocess.run(cmd, capture_output=True, text=True, check=check, timeout=60)


def pods(cluster, selector="app.kubernetes.io/managed-by=cnote") -> list[dict]:
    out = kubectl(cluster, "get", "pods", "-l", selector, "-o", "json").stdout
    return json.loads(out)["items"]


def pod_of(cluster, kernel_id: str) -> list[dict]:
    return pods(cluster, f"cnote.io/kernel-id={kernel_id}")


def wait_until(pred, timeout: float, what: str, every: float = 0.2):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(every)
    raise AssertionError(f"timed out after {timeout} s waiting for {what} (last: {last!r})")


def server_for(cluster, instance: str, data_dir: str | None = None, keep_kernels=False,
               extra=()):
    args = ["--k8s-config", PROFILES, "--kubeconfig", cluster["CNOTE_K8S_SERVER_KUBECONFIG"],
            "--instance-id", instance, *extra]
    if data_dir:
        args += ["--data-dir", data_dir]
    srv = start_cnote(None, "k8s-token", *args, keep_kernels=keep_kernels)
    return srv


@pytest.fixture(scope="module")
def srv(cluster):
    s = server_for(cluster, "e2e-main")
    yield s
    s.stop()


def start_kernel(srv, profile: str | None = None, timeout: float = 90):
    body = {"name": "cnote"}
    if profile:
        body["env"] = {"KERNEL_PROFILE": profile}
    return requests.post(srv.url + "api/kernels", json=body, headers=srv.headers(),
                         timeout=timeout)


def execute(ws: wsclient.KernelWS, code: str, timeout: float = 60) -> tuple[str, dict]:
    req = ws.request("execute_request", {"code": code, "silent": False, "store_history": True,
                                         "user_expressions": {}, "allow_stdin": False,
                                         "stop_on_error": True})
    got = ws.until_idle(req, timeout=timeout)
    out = "".join(r["content"].get("text", "") for r in got if r.msg_type == "stream")
    reply = next(r for r in got if r.msg_type == "execute_reply")
    return out, reply["content"]


def test_kernel_in_a_pod_start_execute_interrupt_restart_shutdown(cluster, srv):
    t0 = time.monotonic()
    r = start_kernel(srv)
    assert r.status_code == 201, r.text
    start_s = time.monotonic() - t0
    k = r.json()
    kid = k["id"]
    assert k["launch"]["provisioner"] == "kubernetes"
    # the POST answered once the pod ran: there is exactly one, Ready, on its own address
    (pod,) = pod_of(cluster, kid)
    assert pod["metadata"]["name"] == f"cnote-kernel-{kid}"
    labels = pod["metadata"]["labels"]
    assert labels["cnote.io/instance"] == "e2e-main"
    assert labels["app.kubernetes.io/component"] == "kernel"
    assert pod["status"]["phase"] == "Running"
    ip = pod["status"]["podIP"]
    assert ip.startswith("127.") and ip != "127.0.0.1"
    spec = pod["spec"]
    assert spec["restartPolicy"] == "Never" and spec["automountServiceAccountToken"] is False
    assert spec["securityContext"]["runAsNonRoot"] is True
    # the key travels in a Secret, never in the pod spec
    sec = json.loads(kubectl(cluster, "get", "secret", f"cnote-kernel-{kid}", "-o",
                             "json").stdout)
    conn = json.loads(base64.b64decode(sec["data"]["connection.json"]))
    assert len(conn["key"]) >= 32 and conn["key"] not in json.dumps(pod)
    assert conn["shell_port"] == 50001 and conn["ip"] == "0.0.0.0"
    env = {e["name"]: e for e in spec["containers"][0]["env"]}
    assert env["CNOTE_CONNECTION"]["valueFrom"]["secretKeyRef"]["name"] == f"cnote-kernel-{kid}"

    ws = wsclient.connect(srv.url, kid, token=srv.token)
    try:
        out, reply = execute(ws, 'int answer = 6 * 7;\nprintf("hello from a pod: %d\\n", answer);')
        assert reply["status"] == "ok", reply
        assert "hello from a pod: 42" in out

        # interrupt: a busy loop stops, by message over the control channel
        req = ws.request("execute_request", {"code": "for (volatile long i = 0;; i++) {}",
                                             "silent": False, "store_history": True,
                                             "user_expressions": {}, "allow_stdin": False,
                                             "stop_on_error": True})
        ws.wait_for(lambda m: m["channel"] == "iopub" and m.msg_type == "status" and
                    m["content"].get("execution_state") == "busy" and
                    m.parent_id == req["header"]["msg_id"], 30, "busy")
        time.sleep(0.5)
        ti = time.monotonic()
        assert srv.post(f"api/kernels/{kid}/interrupt").status_code == 204
        got = ws.until_idle(req, timeout=30)
        reply = next(m for m in got if m.msg_type == "execute_reply")
        assert reply["content"]["status"] in ("error", "aborted")
        assert time.monotonic() - ti < 15
        out, reply = execute(ws, 'printf("%d\\n", answer + 1);')
        assert "43" in out, (out, reply)
    finally:
        ws.ws.close()

    # progress: every stage the launch went through, with the kubelet's events
    pr = srv.get(f"api/kernels/{kid}/progress").json()
    stages = [e["stage"] for e in pr["events"]]
    assert pr["pod"] == f"cnote-kernel-{kid}" and pr["node"] == cluster["CNOTE_K8S_NODE"]
    for s in ("creating", "connecting"):
        assert s in stages, stages
    reasons = {e["reason"] for e in pr["events"]}
    assert "Scheduled" in reasons or "Started" in reasons, reasons
    # the pod's log through the API (pods/log)
    lg = srv.get(f"api/kernels/{kid}/log?tail=50")
    assert lg.status_code == 200, lg.text
    assert "kernel" in lg.text

    # restart: a new pod, the old one gone, state gone
    r = srv.post(f"api/kernels/{kid}/restart")
    assert r.status_code == 200, r.text
    names = [p["metadata"]["name"] for p in wait_until(
        lambda: [p for p in pod_of(cluster, kid) if not p["metadata"].get("deletionTimestamp")
                 and p["metadata"]["name"].endswith("-r1")] or None, 30, "the restarted pod")]
    assert names == [f"cnote-kernel-{kid}-r1"]
    wait_until(lambda: [p["metadata"]["name"] for p in pod_of(cluster, kid)] ==
               [f"cnote-kernel-{kid}-r1"], 30, "the old pod to go")
    ws = wsclient.connect(srv.url, kid, token=srv.token)
    try:
        out, reply = execute(ws, 'printf("after restart\\n");')
        assert "after restart" in out
        _, reply = execute(ws, 'printf("%d\\n", answer);')
        assert reply["status"] == "error"  # `answer` died with the old pod
    finally:
        ws.ws.close()

    # shutdown: pod and secret gone
    r = srv.delete(f"api/kernels/{kid}")
    assert r.status_code == 204, r.text
    wait_until(lambda: pod_of(cluster, kid) == [], 30, "the pod to be deleted")
    wait_until(lambda: kubectl(cluster, "get", "secret", f"cnote-kernel-{kid}",
                               check=False).returncode != 0, 30, "the secret to be deleted")
    assert srv.get(f"api/kernels/{kid}").status_code == 404
    print(f"kernel start through the API: {start_s:.2f} s")


def test_gpu_profile_gets_a_gpu(cluster, srv):
    r = start_kernel(srv, "gpu")
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    (pod,) = pod_of(cluster, kid)
    assert pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] == "1"
    assert pod["metadata"]["labels"]["cnote.io/profile"] == "gpu"
    assert srv.delete(f"api/kernels/{kid}").status_code == 204


@pytest.mark.parametrize("profile, words, within", [
    ("gpu-3", ["no node can run this kernel now", "Insufficient nvidia.com/gpu"], 20),
    ("bad-image", ["image not found or not pullable", "registry.invalid/nope/notebook:1"], 30),
    ("never-ready", ["timed out after 3 s waiting for the kernel"], 30),
    ("no-such-profile", ["unknown profile", "cpu"], 5),
])
def test_launch_failures_fail_fast_with_the_reason(cluster, srv, profile, words, within):
    before = {p["metadata"]["name"] for p in pods(cluster)}
    t0 = time.monotonic()
    r = start_kernel(srv, profile)
    took = time.monotonic() - t0
    assert r.status_code == 500, r.text
    msg = r.json()["message"]
    for w in words:
        assert w in msg, msg
    assert took < within, took
    # nothing is left behind: no kernel, no new pod
    assert all(k["execution_state"] != "dead" for k in srv.get("api/kernels").json())
    wait_until(lambda: {p["metadata"]["name"] for p in pods(cluster)} <= before, 30,
               "the failed pod to be deleted")


def test_pod_deleted_underneath_marks_the_kernel_dead_and_tells_clients(cluster, srv):
    r = start_kernel(srv)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    ws = wsclient.connect(srv.url, kid, token=srv.token)
    try:
        execute(ws, 'printf("x\\n");')
        kubectl(cluster, "delete", "pod", f"cnote-kernel-{kid}", "--wait=false")
        ws.wait_for(lambda m: m["channel"] == "iopub" and m.msg_type == "status" and
                    m["content"].get("execution_state") == "dead", 30, "status dead")
    finally:
        ws.ws.close()
    model = srv.get(f"api/kernels/{kid}").json()
    assert model["execution_state"] == "dead"
    assert "deleted" in model.get("reason", ""), model
    assert srv.delete(f"api/kernels/{kid}").status_code == 204


def test_server_restart_adopts_its_pods_and_deletes_orphans(cluster):
    data = tempfile.mkdtemp(prefix="cnote-k8s-data-")
    s1 = server_for(cluster, "e2e-adopt", data, keep_kernels=True)
    try:
        r = start_kernel(s1)
        assert r.status_code == 201, r.text
        kid = r.json()["id"]
        ws = wsclient.connect(s1.url, kid, token=s1.token)
        execute(ws, "int kept = 41;")
        ws.ws.close()
    finally:
        s1.stop()
    # a pod labelled as this instance's that no kernel claims (left by a crash, say)
    orphan = str(uuid.uuid4())
    manifest = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": f"cnote-kernel-{orphan}", "labels": {
            "app.kubernetes.io/managed-by": "cnote", "cnote.io/instance": "e2e-adopt",
            "cnote.io/kernel-id": orphan, "app.kubernetes.io/component": "kernel"}},
        "spec": {"restartPolicy": "Never",
                 "securityContext": {"runAsNonRoot": True, "runAsUser": 1000,
                                     "seccompProfile": {"type": "RuntimeDefault"}},
                 "containers": [{
                     "name": "kernel", "image": "localhost/cnote/cnote-kernel:dev",
                     "command": ["sleep", "600"],
                     "securityContext": {"allowPrivilegeEscalation": False,
                                         "capabilities": {"drop": ["ALL"]}}}]},
    }
    subprocess.run([cluster["CNOTE_K8S_KUBECTL"], "--kubeconfig",
                    cluster["CNOTE_K8S_ADMIN_KUBECONFIG"], "-n", NS, "apply", "-f", "-"],
                   input=json.dumps(manifest), text=True, check=True)
    assert pod_of(cluster, kid), "the kernel pod must outlive the server"
    s2 = server_for(cluster, "e2e-adopt", data)
    try:
        ks = wait_until(lambda: [k for k in s2.get("api/kernels").json() if k["id"] == kid and
                                 k["execution_state"] in ("idle", "busy")] or None, 60,
                        "the adopted kernel")
        assert ks
        ws = wsclient.connect(s2.url, kid, token=s2.token)
        try:
            out, reply = execute(ws, 'printf("%d\\n", kept + 1);')
            assert "42" in out, (out, reply)
        finally:
            ws.ws.close()
        wait_until(lambda: pod_of(cluster, orphan) == [], 30, "the orphan pod to be deleted")
        assert s2.delete(f"api/kernels/{kid}").status_code == 204
        wait_until(lambda: pod_of(cluster, kid) == [], 30, "the adopted pod to be deleted")
    finally:
        s2.stop()


def test_api_server_briefly_unavailable(cluster, srv):
    pid = int(cluster["CNOTE_K8S_KUBE_APISERVER_PID"])
    r = start_kernel(srv)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    ws = wsclient.connect(srv.url, kid, token=srv.token)
    os.kill(pid, signal.SIGSTOP)
    try:
        # kernels keep working: the server talks to the pod directly
        out, _ = execute(ws, 'printf("api down, kernel up\\n");')
        assert "api down, kernel up" in out
        # a start during the outage waits, and succeeds once the API is back
        holder = {}

        def later():
            holder["r"] = start_kernel(srv, timeout=120)
        import threading
        th = threading.Thread(target=later)
        th.start()
        time.sleep(4)
    finally:
        os.kill(pid, signal.SIGCONT)
    th.join(120)
    assert holder["r"].status_code == 201, holder["r"].text
    k2 = holder["r"].json()["id"]
    # the watch recovered: a pod deleted now is noticed
    kubectl(cluster, "delete", "pod", f"cnote-kernel-{kid}", "--wait=false")
    ws.wait_for(lambda m: m["channel"] == "iopub" and m.msg_type == "status" and
                m["content"].get("execution_state") == "dead", 60, "status dead")
    ws.ws.close()
    for k in (kid, k2):
        assert srv.delete(f"api/kernels/{k}").status_code == 204


def test_the_role_is_all_the_server_has(cluster):
    kc = cluster["CNOTE_K8S_SERVER_KUBECONFIG"]
    yes = ["create pods", "delete pods", "watch pods", "patch pods", "get pods --subresource=log",
           "create secrets", "watch events"]
    no = ["create deployments", "list secrets", "create pods --subresource=exec", "delete nodes",
          "create rolebindings", "patch nodes", "update pods"]
    for verb in yes:
        r = kubectl(cluster, "auth", "can-i", *verb.split(), kubeconfig=kc, check=False)
        assert r.stdout.strip() == "yes", (verb, r.stdout, r.stderr)
    for verb in no:
        r = kubectl(cluster, "auth", "can-i", *verb.split(), kubeconfig=kc, check=False)
        assert r.stdout.strip() == "no", (verb, r.stdout, r.stderr)
    r = kubectl(cluster, "auth", "can-i", "create", "pods", "--namespace", "default",
                kubeconfig=kc, check=False)
    assert r.stdout.strip() == "no"


def test_culling_deletes_idle_kernel_pods(cluster):
    s = server_for(cluster, "e2e-cull", extra=("--cull-idle-timeout", "2", "--cull-interval", "1"))
    try:
        r = start_kernel(s)
        assert r.status_code == 201, r.text
        kid = r.json()["id"]
        assert pod_of(cluster, kid)
        wait_until(lambda: s.get(f"api/kernels/{kid}").status_code == 404, 30,
                   "the idle kernel to be culled")
        wait_until(lambda: pod_of(cluster, kid) == [], 30, "the culled kernel's pod to go")
    finally:
        s.stop()


def test_rotated_token_is_read_again(cluster, tmp_path):
    """A bound ServiceAccount token that stops working (its Secret is deleted, as when the
    kubelet rotates a projected token) is replaced by what the token file holds now: the server
    re-reads the file after a 401 and goes on."""
    kc = lambda *a, **kw: kubectl(cluster, *a, **kw)  # noqa: E731
    tok = tmp_path / "token"

    def bound_token(secret: str) -> str:
        kc("create", "secret", "generic", secret, "--from-literal=x=y")
        return kc("create", "token", "cnote-server", "--bound-object-kind", "Secret",
                  "--bound-object-name", secret, "--duration", "1h").stdout.strip()

    tok.write_text(bound_token("rot-1"))
    admin = json.loads(kc("config", "view", "--raw", "-o", "json").stdout)
    cfg = {
        "apiVersion": "v1", "kind": "Config", "current-context": "c",
        "clusters": [{"name": "k", "cluster": admin["clusters"][0]["cluster"]}],
        "users": [{"name": "u", "user": {"tokenFile": str(tok)}}],
        "contexts": [{"name": "c", "context": {"cluster": "k", "user": "u", "namespace": NS}}],
    }
    (tmp_path / "kubeconfig").write_text(json.dumps(cfg))
    args = ["--k8s-config", PROFILES, "--kubeconfig", str(tmp_path / "kubeconfig"),
            "--instance-id", "e2e-rotate"]
    s = start_cnote(None, "k8s-token", *args)
    try:
        r = start_kernel(s)
        assert r.status_code == 201, r.text
        k1 = r.json()["id"]
        reads0 = s.get("api/cnote/k8s").json()["http"]["token_reads"]
        old = tok.read_text().strip()
        tok.write_text(bound_token("rot-2"))
        kc("delete", "secret", "rot-1")  # the first token is refused from now on (401)

        def status_with(token):
            return requests.get(cluster["CNOTE_K8S_APISERVER"] + "/api/v1/namespaces/cnote/pods",
                                headers={"Authorization": "Bearer " + token},
                                verify=cluster["CNOTE_K8S_CA"], timeout=10).status_code
        # the API server caches token reviews for a few seconds
        wait_until(lambda: status_with(old) == 401, 60, "the old token to be refused", 0.5)
        assert status_with(tok.read_text().strip()) == 200
        r = start_kernel(s)
        assert r.status_code == 201, r.text
        k2 = r.json()["id"]
        assert s.get("api/cnote/k8s").json()["http"]["token_reads"] > reads0
        for k in (k1, k2):
            assert s.delete(f"api/kernels/{k}").status_code == 204
    finally:
        s.stop()
        kc("delete", "secret", "rot-2", check=False)


def kernel_processes(kernel_id: str) -> list[int]:
    """PIDs of processes (started by the process kubelet) whose environment names the kernel."""
    found = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/environ", "rb") as f:
                if f"CNOTE_KERNEL_ID={kernel_id}".encode() in f.read().split(b"\0"):
                    found.append(int(d))
        except OSError:
            pass
    return found


def test_a_kernel_that_stops_answering_is_dead_and_its_pod_deleted(cluster, srv):
    """A node lost or a hung kernel: no pod event comes, the heartbeats stop. The kernel is
    declared dead with that reason, clients are told, and the pod is deleted (no GPU held by a
    kernel nobody can use)."""
    r = start_kernel(srv)
    assert r.status_code == 201, r.text
    kid = r.json()["id"]
    ws = wsclient.connect(srv.url, kid, token=srv.token)
    pids = kernel_processes(kid)
    assert pids, "the kernel's process was not found"
    try:
        execute(ws, 'printf("x\\n");')
        for p in kernel_processes(kid):
            try:
                os.kill(p, signal.SIGSTOP)
                pids.append(p)
            except ProcessLookupError:
                pass  # a compiler run that just ended
        ws.wait_for(lambda m: m["channel"] == "iopub" and m.msg_type == "status" and
                    m["content"].get("execution_state") == "dead", 60, "status dead")
        model = srv.get(f"api/kernels/{kid}").json()
        assert "heartbeat" in model.get("reason", ""), model
        wait_until(lambda: pod_of(cluster, kid) == [], 60, "the hung kernel's pod to be deleted")
    finally:
        ws.ws.close()
        for p in pids:
            try:
                os.kill(p, signal.SIGKILL)
            except ProcessLookupError:
                pass
    assert srv.delete(f"api/kernels/{kid}").status_code == 204


def multi_user_server(cluster, tmp_path, instance, profiles=PROFILES, users=("dana", "eli")):
    data = str(tmp_path / "data")
    os.makedirs(data, exist_ok=True)
    bin_ = os.path.join(ROOT, "build", "bin", "cnote-server")
    tok = {}
    for name in users:
        r = subprocess.run([bin_, "user", "add", name, "--data-dir", data], capture_output=True,
                           text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        tok[name] = subprocess.run([bin_, "user", "token", name, "--data-dir", data],
                                   capture_output=True, text=True, timeout=60).stdout.strip()
    s = start_cnote(None, "unused", "--data-dir", data, "--k8s-config", profiles, "--kubeconfig",
                    cluster["CNOTE_K8S_SERVER_KUBECONFIG"], "--instance-id", instance)
    return s, {n: {"Authorization": f"token {t}"} for n, t in tok.items()}


def test_multi_user_gpu_quota_counts_running_pods(cluster, tmp_path):
    """The default quota lets a user hold 1 GPU: a second GPU kernel is refused with the limit
    named, a CPU kernel is not; the pods carry their user."""
    s, hdr = multi_user_server(cluster, tmp_path, "e2e-quota")
    kids = []
    try:
        def start(who, profile):
            r = requests.post(s.url + "api/kernels", headers=hdr[who], timeout=120,
                              json={"name": "cnote", "env": {"KERNEL_PROFILE": profile}})
            if r.status_code == 201:
                kids.append((who, r.json()["id"]))
            return r
        r = start("dana", "gpu")
        assert r.status_code == 201, r.text
        (pod,) = pod_of(cluster, r.json()["id"])
        assert pod["metadata"]["labels"]["cnote.io/user"] == "dana"
        assert pod["metadata"]["annotations"]["cnote.io/user"] == "dana"
        r = start("dana", "gpu")
        assert r.status_code == 403, r.text
        assert "at most 1 GPU" in r.json()["message"], r.text
        assert start("dana", "cpu").status_code == 201
        # eli has his own GPU allowance (the node has 2)
        assert start("eli", "gpu").status_code == 201
        # the admin view: dana holds 1 GPU
    finally:
        for who, k in kids:
            requests.delete(s.url + f"api/kernels/{k}", headers=hdr[who], timeout=60)
        s.stop()


def test_multi_user_pods_mount_only_their_users_subpath(cluster, tmp_path):
    """With per-user storage: a PersistentVolume and its claim made bound by hand (the test
    cluster has no PV controller), then each user's kernel pod mounts the claim at its own
    subPath, as its working directory."""
    pv = {"apiVersion": "v1", "kind": "PersistentVolume",
          "metadata": {"name": "cnote-notebooks-e2e"},
          "spec": {"capacity": {"storage": "1Gi"}, "accessModes": ["ReadWriteMany"],
                   "hostPath": {"path": str(tmp_path / "pv")},
                   "claimRef": {"namespace": NS, "name": "cnote-notebooks"},
                   "persistentVolumeReclaimPolicy": "Retain"}}
    pvc = {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
           "metadata": {"name": "cnote-notebooks", "namespace": NS,
                        "annotations": {"pv.kubernetes.io/bind-completed": "yes"}},
           "spec": {"accessModes": ["ReadWriteMany"], "volumeName": "cnote-notebooks-e2e",
                    "storageClassName": "", "resources": {"requests": {"storage": "1Gi"}}}}
    for obj in (pv, pvc):
        subprocess.run([cluster["CNOTE_K8S_KUBECTL"], "--kubeconfig",
                        cluster["CNOTE_K8S_ADMIN_KUBECONFIG"], "apply", "-f", "-"],
                       input=json.dumps(obj), text=True, check=True, capture_output=True)
    for kind, name, ns in (("persistentvolume", "cnote-notebooks-e2e", None),
                           ("persistentvolumeclaim", "cnote-notebooks", NS)):
        cmd = [cluster["CNOTE_K8S_KUBECTL"], "--kubeconfig", cluster["CNOTE_K8S_ADMIN_KUBECONFIG"],
               "patch", kind, name, "--subresource=status", "--type=merge",
               "-p", json.dumps({"status": {"phase": "Bound"}})]
        if ns:
            cmd[3:3] = ["-n", ns]
        subprocess.run(cmd, check=True, capture_output=True, text=True)
    profiles = tmp_path / "profiles.yaml"
    profiles.write_text(open(PROFILES).read().replace("storage: null\n", ""))
    s, hdr = multi_user_server(cluster, tmp_path, "e2e-storage", str(profiles))
    try:
        for who in ("dana", "eli"):
            r = requests.post(s.url + "api/kernels", headers=hdr[who], timeout=120,
                              json={"name": "cnote"})
            assert r.status_code == 201, r.text
            (pod,) = pod_of(cluster, r.json()["id"])
            c = pod["spec"]["containers"][0]
            (m,) = c["volumeMounts"]
            assert m["subPath"] == who and m["mountPath"] == "/home/cnote/work"
            assert c["workingDir"] == "/home/cnote/work"
            assert pod["spec"]["volumes"][0]["persistentVolumeClaim"]["claimName"] == \
                "cnote-notebooks"
            assert requests.delete(s.url + f"api/kernels/{r.json()['id']}", headers=hdr[who],
                                   timeout=60).status_code == 204
    finally:
        s.stop()
        for kind, name in (("persistentvolumeclaim", "cnote-notebooks"),
                           ("persistentvolume", "cnote-notebooks-e2e")):
            subprocess.run([cluster["CNOTE_K8S_KUBECTL"], "--kubeconfig",
                            cluster["CNOTE_K8S_ADMIN_KUBECONFIG"], "-n", NS, "delete", kind,
                            name, "--wait=false"], capture_output=True)


def test_warm_pool_claim_is_fast_and_refills(cluster, tmp_path):
    """A profile with warm_pool: 2 keeps two pods running; a kernel of that profile claims one
    (relabelled, its own key) and answers well under a second; the pool refills. Warm pods hold
    GPUs too: warm_pool_max_gpus 1 lets only one GPU warm pod exist."""
    profiles = tmp_path / "warm.yaml"
    profiles.write_text(open(PROFILES).read() + """  - slug: warm
    display_name: CPU, from a warm pool
    override: {warm_pool: 2}
  - slug: warm-gpu
    display_name: 1 GPU, from a warm pool
    override:
      warm_pool: 2
      resources: {limits: {nvidia.com/gpu: 1}}
warm_pool_max_gpus: 1
""")
    s = start_cnote(None, "k8s-token", "--k8s-config", str(profiles), "--kubeconfig",
                    cluster["CNOTE_K8S_SERVER_KUBECONFIG"], "--instance-id", "e2e-warm")

    def warm(profile):
        return [p for p in pods(cluster, f"cnote.io/instance=e2e-warm,cnote.io/warm=true,"
                                         f"cnote.io/profile={profile}")
                if p["status"].get("phase") == "Running" and
                not p["metadata"].get("deletionTimestamp")]
    try:
        wait_until(lambda: len(warm("warm")) == 2, 60, "two warm pods")
        wait_until(lambda: len(warm("warm-gpu")) == 1, 60, "one GPU warm pod")
        time.sleep(2)
        assert len(warm("warm-gpu")) == 1  # the pool's GPU limit holds
        before = {p["metadata"]["name"] for p in warm("warm")}
        t0 = time.monotonic()
        r = start_kernel(s, "warm")
        took = time.monotonic() - t0
        assert r.status_code == 201, r.text
        kid = r.json()["id"]
        assert took < 1.0, took
        (pod,) = pod_of(cluster, kid)
        assert pod["metadata"]["name"] in before  # a claimed warm pod, not a new one
        assert "cnote.io/warm" not in pod["metadata"]["labels"]
        ws = wsclient.connect(s.url, kid, token=s.token)
        try:
            out, reply = execute(ws, 'printf("from the pool\\n");')
            assert "from the pool" in out, (out, reply)
        finally:
            ws.ws.close()
        wait_until(lambda: len(warm("warm")) == 2, 60, "the pool to refill")
        assert s.get("api/cnote/k8s").json()["warm_claimed"] == 1
        assert s.delete(f"api/kernels/{kid}").status_code == 204
        wait_until(lambda: pod_of(cluster, kid) == [], 30, "the claimed pod to go")
    finally:
        s.stop()
    # a later server deletes the warm pods the last one left (they are nobody's kernels)
    s2 = start_cnote(None, "k8s-token", "--k8s-config", PROFILES, "--kubeconfig",
                     cluster["CNOTE_K8S_SERVER_KUBECONFIG"], "--instance-id", "e2e-warm")
    try:
        wait_until(lambda: pods(cluster, "cnote.io/instance=e2e-warm,cnote.io/warm=true") == [],
                   60, "leftover warm pods to be deleted")
    finally:
        s2.stop()
