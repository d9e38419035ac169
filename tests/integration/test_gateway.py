"""cnote as the kernel gateway of a real Jupyter Server (`--gateway-url`).

A Jupyter Server from the pinned jupyter_server in the venv (the "front") is started with
`--gateway-url=<cnote url>` and `--GatewayClient.auth_token=<cnote token>`, so its kernels and
kernelspecs live in cnote while its contents and sessions stay local. Everything here is done
through the front, as JupyterLab would: its REST API for kernelspecs, kernel start, interrupt,
restart and shutdown, and its kernel WebSocket (legacy JSON framing, the only one the gateway
relay speaks) for executing C cells. cnote's own REST API is only read, to check that what the
front did really happened in cnote.

What is not here: the browser (tests/browser does JupyterLab in Chromium), cnote's WebSocket
framings and limits on their own (other tests talk to cnote directly).

CNOTE_GATEWAY_BACKEND=jupyter-server puts the real Jupyter Server in cnote's place, to check the
tests themselves against the reference; the one assertion that differs is the kernel's
environment, because Jupyter Server ignores `env` in POST /api/kernels.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import time
import uuid
from datetime import datetime, timezone

import pytest
import websocket  # websocket-client, a dependency of jupyter_server

from server_fixture import ROOT, VENV_BIN, Server, _wait_api, free_port, start_cnote

BACKEND = os.environ.get("CNOTE_GATEWAY_BACKEND", "cnote")
BACKEND_TOKEN = "gateway-backend-token"
FRONT_TOKEN = "gateway-front-token"
KERNEL_USERNAME = "gw-user"          # in the front's environment, forwarded as env.KERNEL_USERNAME
KERNEL_LAUNCH_TIMEOUT = "45"         # the front always forwards it; a value the default is not
GW_ONLY_SPEC = "cnote-gw-only"       # a kernelspec only the backend can see
VENV_SHARE = os.path.join(ROOT, ".venv", "share", "jupyter")
MSG_TIMEOUT = 40                     # seconds for one cell through front, gateway and kernel


def _clean_env() -> dict:
    """The test process environment without KERNEL_* (only what the test sets may reach the
    kernels) and without JUPYTER_GATEWAY_* (no outer gateway settings leak into the servers)."""
    return {k: v for k, v in os.environ.items()
            if not k.startswith("KERNEL_") and not k.startswith("JUPYTER_GATEWAY_")}


def _jupyter_server(home: str, token: str, extra_args: list[str], extra_env: dict,
                    name: str) -> tuple[Server, str]:
    """Start the venv's jupyter-server on a free port with its root, config, runtime and data
    dirs under `home` and its output in home/<name>.log. Returns the server and the log path."""
    port = free_port()
    root = os.path.join(home, "root")
    os.makedirs(root, exist_ok=True)
    env = _clean_env()
    env.update({
        "JUPYTER_CONFIG_DIR": os.path.join(home, "config"),
        "JUPYTER_RUNTIME_DIR": os.path.join(home, "runtime"),
        "JUPYTER_DATA_DIR": os.path.join(home, "data"),
        "JUPYTER_PLATFORM_DIRS": "1",
        "IPYTHONDIR": os.path.join(home, "ipython"),
    })
    env.update(extra_env)
    for d in ("config", "runtime", "data"):
        os.makedirs(os.path.join(home, d), exist_ok=True)
    log_path = os.path.join(home, f"{name}.log")
    cmd = [os.path.join(VENV_BIN, "jupyter-server"), "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--allow-root",
           "--log-level=DEBUG", *extra_args]
    with open(log_path, "w") as log:
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_api(url, proc, timeout=60)
    except Exception:
        _stop(proc)
        raise RuntimeError(f"{name} did not start; log {log_path}:\n" + _tail(log_path))
    return Server(proc, url, token, root), log_path


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


def _tail(path: str, n: int = 4000) -> str:
    try:
        with open(path, errors="replace") as f:
            return f.read()[-n:]
    except OSError as e:
        return f"({e})"


def _log_of(server: Server) -> str:
    """start_cnote keeps no log path; its stdout is the log file."""
    try:
        return os.readlink(f"/proc/{server.proc.pid}/fd/1")
    except OSError:
        return "(unknown)"


def _gw_only_specs(d: str) -> str:
    """A kernel directory holding a copy of the cnote kernelspec under another name, put on
    the backend's JUPYTER_PATH only: if the front lists it, its kernelspecs come from the
    gateway and not from its own sys.prefix (which also has `cnote`)."""
    src = os.path.join(VENV_SHARE, "kernels", "cnote")
    dst = os.path.join(d, "kernels", GW_ONLY_SPEC)
    shutil.copytree(src, dst)
    with open(os.path.join(dst, "kernel.json")) as f:
        spec = json.load(f)
    spec["display_name"] = "C (cnote, gateway only)"
    with open(os.path.join(dst, "kernel.json"), "w") as f:
        json.dump(spec, f)
    return d


class Pair:
    """The backend (cnote, or the reference) and the front Jupyter Server using it."""

    def __init__(self, tmp: str) -> None:
        """tmp: a folder of this test run (pytest keeps the last few, logs included)."""
        specs_dir = _gw_only_specs(os.path.join(tmp, "specs"))
        backend_env = {"JUPYTER_PATH": f"{specs_dir}:{VENV_SHARE}"}
        if BACKEND == "cnote":
            os.makedirs(os.path.join(tmp, "backend-root"))
            self.backend = start_cnote(os.path.join(tmp, "backend-root"), BACKEND_TOKEN,
                                       env=backend_env)
            self.backend_log = _log_of(self.backend)
        elif BACKEND == "jupyter-server":
            self.backend, self.backend_log = _jupyter_server(
                os.path.join(tmp, "backend"), BACKEND_TOKEN, [], backend_env, "gw-backend")
        else:
            raise ValueError(f"CNOTE_GATEWAY_BACKEND={BACKEND!r}: cnote or jupyter-server")
        try:
            self.front, self.front_log = _jupyter_server(
                os.path.join(tmp, "front"), FRONT_TOKEN,
                [f"--gateway-url={self.backend.url.rstrip('/')}",
                 f"--GatewayClient.auth_token={BACKEND_TOKEN}",
                 "--GatewayClient.connect_timeout=30"],
                {"KERNEL_USERNAME": KERNEL_USERNAME,
                 "KERNEL_LAUNCH_TIMEOUT": KERNEL_LAUNCH_TIMEOUT,
                 # the front's own kernelspecs (sys.prefix) must not matter; keep it plain
                 "JUPYTER_PATH": VENV_SHARE},
                "gw-front")
        except Exception:
            self.backend.stop()
            raise
        print(f"backend ({BACKEND}) {self.backend.url} log {self.backend_log}")
        print(f"front {self.front.url} log {self.front_log}")

    def logs(self) -> str:
        return (f"\n--- front log {self.front_log}\n{_tail(self.front_log)}"
                f"\n--- backend log {self.backend_log}\n{_tail(self.backend_log)}")

    def close(self) -> None:
        _stop(self.front.proc)
        self.backend.stop()


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    p = Pair(str(tmp_path_factory.mktemp("gateway")))
    yield p
    p.close()


def wait_for(pred, timeout: float = 30, what: str = "condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def start_kernel(pair: Pair, body) -> str:
    r = pair.front.post("api/kernels", json=body)
    assert r.status_code == 201, f"POST /api/kernels {body}: {r.status_code} {r.text}{pair.logs()}"
    return r.json()["id"]


def backend_kernel(pair: Pair, kid: str) -> dict | None:
    r = pair.backend.get(f"api/kernels/{kid}")
    if r.status_code == 404:
        return None
    assert r.status_code == 200, f"backend GET /api/kernels/{kid}: {r.status_code} {r.text}"
    return r.json()


def shutdown(pair: Pair, kid: str) -> None:
    """Best-effort cleanup through the front (tests that check DELETE do it themselves)."""
    try:
        pair.front.delete(f"api/kernels/{kid}")
    except Exception:
        pass


class KernelSocket:
    """A client of the front's kernel WebSocket, legacy JSON framing (what the gateway relay
    speaks), with a deadline on every read."""

    def __init__(self, pair: Pair, kid: str) -> None:
        self.pair = pair
        self.session = uuid.uuid4().hex
        url = (pair.front.url.replace("http://", "ws://", 1)
               + f"api/kernels/{kid}/channels?session_id={self.session}")
        self.ws = websocket.create_connection(
            url, header=[f"Authorization: token {pair.front.token}"], timeout=MSG_TIMEOUT)

    def close(self) -> None:
        self.ws.close()

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    def send(self, channel: str, msg_type: str, content: dict) -> str:
        msg_id = uuid.uuid4().hex
        self.ws.send(json.dumps({
            "header": {"msg_id": msg_id, "msg_type": msg_type, "username": "test",
                       "session": self.session, "version": "5.3",
                       "date": datetime.now(timezone.utc).isoformat()},
            "parent_header": {}, "metadata": {}, "content": content,
            "channel": channel, "buffers": [],
        }))
        return msg_id

    def recv(self, deadline: float) -> dict:
        left = deadline - time.monotonic()
        if left <= 0:
            raise TimeoutError("no message before the deadline")
        self.ws.settimeout(left)
        op, data = self.ws.recv_data()
        # the gateway relay writes every frame as text; accept both in case that changes
        text = data.decode("utf-8") if isinstance(data, (bytes, bytearray)) else data
        assert op == websocket.ABNF.OPCODE_TEXT, f"non-text frame op={op}: {data[:200]!r}"
        return json.loads(text)

    def execute(self, code: str, timeout: float = MSG_TIMEOUT, on_busy=None) -> dict:
        """Send one execute_request; collect its IOPub messages until status idle and its
        execute_reply. on_busy() is called once the kernel reports busy for it."""
        msg_id = self.send("shell", "execute_request", {
            "code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True})
        deadline = time.monotonic() + timeout
        reply, idle, iopub = None, False, []
        while reply is None or not idle:
            try:
                m = self.recv(deadline)
            except (TimeoutError, websocket.WebSocketTimeoutException):
                raise AssertionError(
                    f"execute {code!r}: reply={reply is not None} idle={idle} after {timeout}s; "
                    f"iopub so far {[x['msg_type'] for x in iopub]}{self.pair.logs()}")
            if m.get("parent_header", {}).get("msg_id") != msg_id:
                continue
            if m["channel"] == "shell" and m["msg_type"] == "execute_reply":
                reply = m
            elif m["channel"] == "iopub":
                iopub.append(m)
                state = m["content"].get("execution_state") if m["msg_type"] == "status" else None
                if state == "busy" and on_busy:
                    on_busy()
                    on_busy = None
                elif state == "idle":
                    idle = True
        stdout = "".join(m["content"]["text"] for m in iopub
                         if m["msg_type"] == "stream" and m["content"]["name"] == "stdout")
        return {"reply": reply["content"], "iopub": iopub, "stdout": stdout,
                "types": [m["msg_type"] for m in iopub]}


# ---------------------------------------------------------------------------------- (a) REST


def test_kernelspecs_come_from_the_gateway(pair):
    r = pair.front.get("api/kernelspecs")
    assert r.status_code == 200, r.text
    specs = r.json()
    backend = pair.backend.get("api/kernelspecs").json()
    assert "cnote" in specs["kernelspecs"]
    # the gateway-only spec exists nowhere but on the backend's JUPYTER_PATH
    assert GW_ONLY_SPEC in specs["kernelspecs"], sorted(specs["kernelspecs"])
    assert sorted(specs["kernelspecs"]) == sorted(backend["kernelspecs"])
    # the front adopts the gateway's default once it has fetched the list (the first answer
    # still carries its own)
    assert pair.front.get("api/kernelspecs").json()["default"] == backend["default"]
    assert specs["kernelspecs"]["cnote"]["spec"]["language"] == "c"
    assert specs["kernelspecs"][GW_ONLY_SPEC]["spec"]["display_name"] == "C (cnote, gateway only)"
    # (GET /api/kernelspecs/<name> is not checked: in gateway mode jupyter_server 2.21.1 puts
    # the name after the ?user= query and then fails with a 500 of its own; JupyterLab uses
    # only the list.) The logo, which the front fetches from the gateway's /kernelspecs/...:
    logo = pair.front.get(f"kernelspecs/{GW_ONLY_SPEC}/logo-64x64.png")
    assert logo.status_code == 200, f"{logo.status_code} {logo.text[:200]}{pair.logs()}"
    with open(os.path.join(VENV_SHARE, "kernels", "cnote", "logo-64x64.png"), "rb") as f:
        assert logo.content == f.read()


def test_start_kernel_appears_in_the_gateway(pair):
    kid = start_kernel(pair, {"name": "cnote"})
    try:
        model = pair.front.get(f"api/kernels/{kid}").json()
        assert model["id"] == kid and model["name"] == "cnote"
        listed = pair.backend.get("api/kernels").json()
        assert [k["name"] for k in listed if k["id"] == kid] == ["cnote"], listed
        assert kid in [k["id"] for k in pair.front.get("api/kernels").json()]
        # the front's model is the gateway's (GatewayKernelManager.refresh_model)
        states = {"starting", "idle", "busy"}
        assert backend_kernel(pair, kid)["execution_state"] in states
        assert pair.front.get(f"api/kernels/{kid}").json()["execution_state"] in states
    finally:
        shutdown(pair, kid)


def test_session_through_the_front_starts_its_kernel_in_the_gateway(pair):
    """JupyterLab opens notebooks through sessions: local in the front, kernel in the gateway."""
    r = pair.front.post("api/sessions", json={"path": "s.ipynb", "type": "notebook",
                                              "name": "s.ipynb", "kernel": {"name": "cnote"}})
    assert r.status_code == 201, f"{r.status_code} {r.text}{pair.logs()}"
    sess = r.json()
    kid = sess["kernel"]["id"]
    try:
        assert backend_kernel(pair, kid)["name"] == "cnote"
        # sessions stay in the front: the gateway only has the kernel
        assert all(s["kernel"]["id"] != kid for s in pair.backend.get("api/sessions").json())
        assert [s["id"] for s in pair.front.get("api/sessions").json()] == [sess["id"]]
        d = pair.front.delete(f"api/sessions/{sess['id']}")
        assert d.status_code == 204, d.text
        wait_for(lambda: backend_kernel(pair, kid) is None, 30, "session kernel gone")
    finally:
        shutdown(pair, kid)


# ------------------------------------------------------------------------ (b) kernel WebSocket


def test_execute_c_cell_through_the_front_websocket(pair):
    kid = start_kernel(pair, {"name": "cnote"})
    try:
        with KernelSocket(pair, kid) as ks:
            info_id = ks.send("shell", "kernel_info_request", {})
            deadline = time.monotonic() + MSG_TIMEOUT
            while True:
                m = ks.recv(deadline)
                if m["msg_type"] == "kernel_info_reply" and \
                        m["parent_header"].get("msg_id") == info_id:
                    break
            assert m["channel"] == "shell"
            assert m["content"]["language_info"]["name"] == "c"
            r = ks.execute('printf("hello gateway\\n");')
            assert r["reply"]["status"] == "ok", r["reply"]
            assert r["stdout"] == "hello gateway\n"
            assert r["types"][0] == "status" and "execute_input" in r["types"]
            # state lives across cells, and an expression shows its value
            assert ks.execute("int gw_x = 5;")["reply"]["status"] == "ok"
            r = ks.execute("gw_x * 2")
            results = [m for m in r["iopub"] if m["msg_type"] == "execute_result"]
            assert [m["content"]["data"]["text/plain"] for m in results] == ["10"], r["types"]
    finally:
        shutdown(pair, kid)


# -------------------------------------------------------------------- (c) interrupt, restart


def test_interrupt_through_the_front(pair):
    kid = start_kernel(pair, {"name": "cnote"})
    try:
        with KernelSocket(pair, kid) as ks:
            assert ks.execute("int gw_kept = 41;")["reply"]["status"] == "ok"
            answers = []

            def interrupt():
                # let the loop really start before interrupting it
                time.sleep(0.5)
                answers.append(pair.front.post(f"api/kernels/{kid}/interrupt"))

            r = ks.execute("for (;;);", timeout=40, on_busy=interrupt)
            assert [a.status_code for a in answers] == [204], [a.text for a in answers]
            assert r["reply"]["status"] == "error", r["reply"]
            assert r["reply"]["ename"] == "KeyboardInterrupt", r["reply"]
            # the kernel goes on, with its state
            r = ks.execute('printf("%d\\n", gw_kept + 1);')
            assert r["reply"]["status"] == "ok" and r["stdout"] == "42\n", r
    finally:
        shutdown(pair, kid)


def test_restart_through_the_front(pair):
    kid = start_kernel(pair, {"name": "cnote"})
    try:
        with KernelSocket(pair, kid) as ks:
            assert ks.execute("int gw_before = 7;")["reply"]["status"] == "ok"
        r = pair.front.post(f"api/kernels/{kid}/restart")
        assert r.status_code == 200, f"{r.status_code} {r.text}{pair.logs()}"
        assert r.json()["id"] == kid
        # same kernel id in the gateway, a fresh process: the old state is gone
        assert backend_kernel(pair, kid)["name"] == "cnote"
        with KernelSocket(pair, kid) as ks:
            r = ks.execute('printf("%d\\n", gw_before);')
            assert r["reply"]["status"] == "error", r
            r = ks.execute('printf("after restart\\n");')
            assert r["reply"]["status"] == "ok" and r["stdout"] == "after restart\n", r
    finally:
        shutdown(pair, kid)


# ------------------------------------------------------------- (d) null name, KERNEL_* env


def test_null_kernel_name_starts_the_gateway_default(pair):
    """POST {"name": null} to the front becomes POST /api/kernels {"name": null, "env": {...}}
    to the gateway, which must start the kernel it advertises as `default`."""
    default = pair.backend.get("api/kernelspecs").json()["default"]
    kid = start_kernel(pair, {"name": None})
    try:
        assert backend_kernel(pair, kid)["name"] == default
    finally:
        shutdown(pair, kid)


def test_kernel_env_reaches_the_kernel(pair):
    """The front forwards its KERNEL_* variables in POST /api/kernels `env` (KERNEL_USERNAME,
    KERNEL_LAUNCH_TIMEOUT): the kernel sees them, except that cnote may replace
    KERNEL_USERNAME by its authenticated user name."""
    kid = start_kernel(pair, {"name": "cnote"})
    try:
        with KernelSocket(pair, kid) as ks:
            r = ks.execute('printf("user=[%s] timeout=[%s]\\n",\n'
                           '       getenv("KERNEL_USERNAME") ? getenv("KERNEL_USERNAME") : "(null)",\n'
                           '       getenv("KERNEL_LAUNCH_TIMEOUT") ? getenv("KERNEL_LAUNCH_TIMEOUT")'
                           ' : "(null)");')
            assert r["reply"]["status"] == "ok", r
            print("kernel environment seen through the gateway:", r["stdout"].strip())
            line = r["stdout"].strip()
            if BACKEND == "jupyter-server":
                # the reference ignores `env` in POST /api/kernels
                assert line == "user=[(null)] timeout=[(null)]"
            else:
                assert line.startswith("user=[") and line.endswith(f"] timeout=[{KERNEL_LAUNCH_TIMEOUT}]")
                user = line[len("user=["):line.index("] timeout=")]
                me = pair.backend.get("api/me").json()["identity"]["username"]
                assert user not in ("", "(null)") and user in (KERNEL_USERNAME, me), (user, me)
    finally:
        shutdown(pair, kid)


# ----------------------------------------------------------------------------- (e) shutdown


def test_delete_through_the_front_removes_the_gateway_kernel(pair):
    kid = start_kernel(pair, {"name": "cnote"})
    assert backend_kernel(pair, kid) is not None
    r = pair.front.delete(f"api/kernels/{kid}")
    assert r.status_code == 204, f"{r.status_code} {r.text}{pair.logs()}"
    wait_for(lambda: backend_kernel(pair, kid) is None, 30, "kernel gone from the gateway")
    assert kid not in [k["id"] for k in pair.backend.get("api/kernels").json()]
    assert kid not in [k["id"] for k in pair.front.get("api/kernels").json()]
    assert pair.front.get(f"api/kernels/{kid}").status_code == 404
