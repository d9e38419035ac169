"""The kernel WebSocket /api/kernels/<id>/channels at the protocol level, and under faults.

Each check that describes Jupyter behaviour runs against cnote-server and against the real
Jupyter Server from the venv (parameter `cnote` / `jupyter`), so the test itself is checked
against the reference. Where cnote is deliberately different the test says so:
- a malformed frame: Jupyter Server (Tornado) drops the TCP connection without a close frame
  when its handler raises; cnote must either ignore the frame or close with a close frame;
  a v1 frame claiming 2**63 offsets hangs Jupyter Server 2.21.1 for good, so that one case
  runs against cnote only;
- iopub rate limits are off by default in cnote (on in Jupyter Server);
- per-client send queue limit (--ws-queue-limit) with dropped output: cnote only (Jupyter
  Server queues without bound).

The client is wsclient.py (websocket-client underneath); every wait there and here has a
deadline. Each server is started by this module on a free loopback port and stopped by it.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import tempfile
import threading
import time
import uuid

import pytest
import requests

import wsclient
from server_fixture import (ROOT, VENV_BIN, Server, _wait_api, cleanup, free_port,
                            start_cnote, start_jupyter_server)
from wsclient import LEGACY_BINARY, TEXT, V1, V1_BINARY, Closed, HandshakeError, connect

TOKEN = "ws-test-token"
KINDS = ["cnote", "jupyter"]
FRAMINGS = ["v1", "legacy"]
C = "cnote"          # kernelspec of the C kernel
PY = "python3"       # ipykernel, for comms with binary buffers


# ---- servers and kernels ---------------------------------------------------------------------

def start_jupyter_with(config: dict) -> Server:
    """The reference Jupyter Server with extra config (written as a JSON config file)."""
    if not config:
        return start_jupyter_server(None, TOKEN)
    root = tempfile.mkdtemp(prefix="jupyter-root-")
    cfg = tempfile.mkdtemp(prefix="jupyter-cfg-")
    with open(os.path.join(cfg, "jupyter_server_config.json"), "w") as f:
        json.dump(config, f)
    port = free_port()
    e = dict(os.environ)
    e["JUPYTER_PATH"] = os.path.join(ROOT, ".venv", "share", "jupyter")
    e["JUPYTER_CONFIG_DIR"] = cfg
    e["JUPYTER_RUNTIME_DIR"] = os.path.join(cfg, "runtime")
    cmd = [os.path.join(VENV_BIN, "jupyter-server"), "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--IdentityProvider.token={TOKEN}",
           f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--allow-root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    url = f"http://127.0.0.1:{port}/"
    try:
        _wait_api(url, proc, timeout=60)
    except Exception:
        proc.kill()
        proc.wait(timeout=10)
        raise
    return Server(proc, url, TOKEN, root)


def server_children(s: Server) -> list[tuple[int, bytes]]:
    """(pid, cmdline) of the server's child processes: its kernels."""
    out = []
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            with open(f"/proc/{d}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
            if ppid != s.proc.pid:
                continue
            with open(f"/proc/{d}/cmdline", "rb") as f:
                out.append((int(d), f.read()))
        except (OSError, ValueError, IndexError):
            continue
    return out


def stop_server(s: Server) -> None:
    kids = server_children(s)
    with contextlib.suppress(Exception):
        if s.proc.poll() is None:
            for k in s.get("api/kernels").json():
                s.delete(f"api/kernels/{k['id']}")
    cleanup(s)
    # a server that had to be killed leaves its kernels behind: end those (and their
    # process groups, which they lead) by pid, if they are still the same processes
    for pid, cmdline in kids:
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                if f.read() != cmdline:
                    continue
            if os.getpgid(pid) == pid:
                os.killpg(pid, signal.SIGKILL)
            else:
                os.kill(pid, signal.SIGKILL)
        except (OSError, ProcessLookupError):
            continue


@contextlib.contextmanager
def running(kind: str, cnote_args: tuple = (), jupyter_config: dict | None = None):
    s = start_cnote(None, TOKEN, *cnote_args) if kind == "cnote" \
        else start_jupyter_with(jupyter_config or {})
    try:
        yield s
    finally:
        stop_server(s)


def new_kernel(s: Server, name: str = C) -> str:
    r = s.post("api/kernels", json={"name": name})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def wait_until(fn, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = fn()
        if last:
            return last
        time.sleep(0.1)
    raise AssertionError(f"{what}: not true within {timeout} s (last value {last!r})")


def open_ws(s: Server, kid: str, framing: str = "v1", **kw) -> wsclient.KernelWS:
    offer = (V1,) if framing == "v1" else ()
    return connect(s.url, kid, token=s.token, offer=kw.pop("offer", offer), **kw)


def round_trip(ws: wsclient.KernelWS, timeout: float = 30) -> wsclient.Received:
    """kernel_info on shell; returns the reply after its idle status has come too."""
    req = ws.request("kernel_info_request")
    got = ws.until_idle(req, timeout)
    (reply,) = [r for r in got if r["channel"] == "shell"]
    assert reply.msg_type == "kernel_info_reply"
    return reply


def execute(ws: wsclient.KernelWS, code: str, timeout: float = 60, **content):
    body = {"code": code, "silent": False, "store_history": True, "user_expressions": {},
            "allow_stdin": False, "stop_on_error": True}
    body.update(content)
    req = ws.request("execute_request", body)
    return req, ws.until_idle(req, timeout)


def stream_text(msgs, name: str = "stdout") -> str:
    return "".join(r["content"]["text"] for r in msgs
                   if r["channel"] == "iopub" and r.msg_type == "stream"
                   and r["content"]["name"] == name)


def the_reply(msgs) -> wsclient.Received:
    replies = [r for r in msgs if r["channel"] == "shell"]
    assert len(replies) == 1, [(r["channel"], r.msg_type) for r in msgs]
    return replies[0]


def kernel_pid(s: Server, kid: str) -> int:
    """The kernel process: a child of the server whose command line names the kernel's
    connection file (kernel-<id>.json, both servers)."""
    for pid, cmdline in server_children(s):
        if f"kernel-{kid}.json".encode() in cmdline:
            return pid
    raise AssertionError(f"no child process of the server for kernel {kid}")


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


@pytest.fixture(scope="module", params=KINDS)
def srv(request):
    with running(request.param) as s:
        s.kind = request.param
        yield s


@pytest.fixture(scope="module")
def ck(srv):
    """A C kernel shared by the tests that leave it as they found it."""
    return new_kernel(srv, C)


# ---- negotiation -------------------------------------------------------------------------------

def test_v1_offered_is_selected(srv, ck):
    ws = open_ws(srv, ck, "v1")
    try:
        assert ws.subprotocol == V1
        assert ws.response_headers.get("sec-websocket-protocol") == V1
        reply = round_trip(ws)
        assert reply.framing == V1_BINARY
        assert all(r.framing == V1_BINARY for r in ws.drain(0.2))
    finally:
        ws.close()


def test_no_subprotocol_offered_gives_legacy_json_text(srv, ck):
    ws = open_ws(srv, ck, offer=())
    try:
        assert ws.subprotocol is None
        assert "sec-websocket-protocol" not in ws.response_headers
        reply = round_trip(ws)
        assert reply.framing == TEXT
        # the legacy JSON carries copies of msg_id and msg_type at the top level (2.2)
        assert reply["msg_id"] == reply["header"]["msg_id"]
        assert reply["msg_type"] == "kernel_info_reply"
        assert reply["channel"] == "shell"
    finally:
        ws.close()


def test_only_unknown_subprotocols_offered(srv, ck):
    """Jupyter Server falls back to the legacy framing; cnote deliberately answers 400 naming
    the subprotocols it speaks, because libwebsockets 4.1 cannot accept an upgrade without
    selecting one of the offered subprotocols (docs/architecture.md). Same for Jupyter's
    kernel_ws_protocol="" (legacy even when v1 is offered), which cnote does not have."""
    if srv.kind == "jupyter":
        ws = open_ws(srv, ck, offer=("x.unknown.example",))
        try:
            assert ws.subprotocol is None
            assert round_trip(ws).framing == TEXT
        finally:
            ws.close()
        return
    with pytest.raises(HandshakeError) as e:
        open_ws(srv, ck, offer=("x.unknown.example",))
    assert e.value.status == 400
    assert V1 in str(e.value)
    assert srv.get("api/status").status_code == 200


# ---- auth ----------------------------------------------------------------------------------------

def test_auth_token_header_query_and_refusals(srv, ck):
    # no token: Jupyter Server answers 403 (ws_authenticated), cnote the same
    with pytest.raises(HandshakeError) as e:
        connect(srv.url, ck, token=None, offer=(V1,))
    assert e.value.status == 403
    with pytest.raises(HandshakeError) as e:
        connect(srv.url, ck, token="wrong-token", token_via="header")
    assert e.value.status == 403
    with pytest.raises(HandshakeError) as e:
        connect(srv.url, ck, token="wrong-token", token_via="query")
    assert e.value.status == 403

    for via in ("header", "query"):
        ws = connect(srv.url, ck, token=TOKEN, token_via=via)
        try:
            assert round_trip(ws)["content"]["status"] == "ok"
        finally:
            ws.close()

    with pytest.raises(HandshakeError) as e:
        connect(srv.url, str(uuid.uuid4()), token=TOKEN)
    assert e.value.status == 404


def test_cross_origin_refused_with_403(srv, ck):
    # a browser authenticated by its cookie is held to same-origin
    sess = requests.Session()
    assert sess.get(srv.url + "api/kernels", params={"token": TOKEN}, timeout=10).status_code == 200
    cookie = "; ".join(f"{c.name}={c.value}" for c in sess.cookies)
    assert cookie, "a ?token= request should set the login cookie"
    ws = connect(srv.url, ck, token=None, extra_headers=[f"Cookie: {cookie}"])
    try:
        assert round_trip(ws)["content"]["status"] == "ok"
    finally:
        ws.close()
    with pytest.raises(HandshakeError) as e:
        connect(srv.url, ck, token=None, extra_headers=[f"Cookie: {cookie}"],
                origin="http://evil.example")
    assert e.value.status == 403


def test_cross_origin_with_the_token_accepted(srv, ck):
    # Jupyter Server skips the Origin check for token-authenticated requests (REST and
    # WebSocket alike); clients such as editor webviews connect this way.
    ws = connect(srv.url, ck, token=TOKEN, origin="http://evil.example")
    try:
        assert round_trip(ws)["content"]["status"] == "ok"
    finally:
        ws.close()


# ---- round trips ----------------------------------------------------------------------------

@pytest.mark.parametrize("framing", FRAMINGS)
def test_kernel_info_round_trip(srv, ck, framing):
    ws = open_ws(srv, ck, framing)
    try:
        req = ws.request("kernel_info_request")
        got = ws.until_idle(req)
        reply = the_reply(got)
        assert reply.framing == (V1_BINARY if framing == "v1" else TEXT)
        assert reply["parent_header"]["msg_id"] == req["header"]["msg_id"]
        assert reply["parent_header"]["session"] == ws.session
        c = reply["content"]
        assert c["status"] == "ok"
        assert c["protocol_version"].startswith("5.")
        assert c["language_info"]["name"] == "c"
        states = [r["content"]["execution_state"] for r in got
                  if r["channel"] == "iopub" and r.msg_type == "status"]
        assert states == ["busy", "idle"]
    finally:
        ws.close()


@pytest.mark.parametrize("framing", FRAMINGS)
def test_execute_stream_and_reply(srv, ck, framing):
    ws = open_ws(srv, ck, framing)
    try:
        req, got = execute(ws, f'printf("hello %s\\n", "{framing}");')
        iopub = [r for r in got if r["channel"] == "iopub"]
        assert iopub[0].msg_type == "status" and iopub[0]["content"]["execution_state"] == "busy"
        assert iopub[-1].msg_type == "status" and iopub[-1]["content"]["execution_state"] == "idle"
        inputs = [r for r in iopub if r.msg_type == "execute_input"]
        assert len(inputs) == 1 and inputs[0]["content"]["code"] == req["content"]["code"]
        assert stream_text(got) == f"hello {framing}\n"
        reply = the_reply(got)
        assert reply.msg_type == "execute_reply"
        assert reply["content"]["status"] == "ok"
        assert isinstance(reply["content"]["execution_count"], int)
        want = V1_BINARY if framing == "v1" else TEXT
        assert all(r.framing == want for r in got)
    finally:
        ws.close()


ECHO_TARGET = """
import comm as _comm_pkg
def _ws_test_echo(comm, open_msg):
    def _on_msg(msg):
        comm.send({"echo": msg["content"]["data"], "n": len(msg["buffers"])},
                  buffers=[bytes(b) for b in msg["buffers"]])
    comm.on_msg(_on_msg)
_comm_pkg.get_comm_manager().register_target("ws_test_echo", _ws_test_echo)
"""


@pytest.fixture(scope="module")
def pyk(srv):
    """An ipykernel with a comm target that echoes data and buffers back."""
    kid = new_kernel(srv, PY)
    ws = open_ws(srv, kid, "v1")
    try:
        _, got = execute(ws, ECHO_TARGET)
        assert the_reply(got)["content"]["status"] == "ok", stream_text(got, "stderr")
    finally:
        ws.close()
    return kid


@pytest.mark.parametrize("framing", FRAMINGS)
def test_client_binary_buffers_reach_the_kernel_and_come_back(srv, pyk, framing):
    ws = open_ws(srv, pyk, framing)
    try:
        comm_id = uuid.uuid4().hex
        opened = ws.request("comm_open", {"comm_id": comm_id, "target_name": "ws_test_echo",
                                          "data": {}})
        ws.until_idle(opened, expect_reply=False)
        bufs = [bytes(range(256)) * 3, b"\x00tail\xff", os.urandom(70000)]
        ws.request("comm_msg", {"comm_id": comm_id, "data": {"k": framing}}, buffers=bufs)
        # comm_msg has no reply: the echo on iopub is the answer
        echo = ws.wait_for(lambda r: r["channel"] == "iopub" and r.msg_type == "comm_msg"
                           and r["content"].get("comm_id") == comm_id, 30, "the comm echo")
        assert echo["content"]["data"] == {"echo": {"k": framing}, "n": 3}
        assert [bytes(b) for b in echo["buffers"]] == bufs
        assert echo.framing == (V1_BINARY if framing == "v1" else LEGACY_BINARY)
        ws.request("comm_close", {"comm_id": comm_id, "data": {}})
    finally:
        ws.close()


# ---- several clients ----------------------------------------------------------------------

def connections(s: Server, kid: str) -> int:
    r = s.get(f"api/kernels/{kid}")
    assert r.status_code == 200
    return r.json()["connections"]


def test_two_clients_replies_private_iopub_shared(srv):
    kid = new_kernel(srv, C)
    a = open_ws(srv, kid, "v1")
    b = open_ws(srv, kid, "legacy")
    try:
        round_trip(a)
        round_trip(b)
        wait_until(lambda: connections(srv, kid) == 2, 10, "connections == 2")

        req, got_a = execute(a, 'printf("for both\\n");')
        assert the_reply(got_a)["content"]["status"] == "ok"
        assert stream_text(got_a) == "for both\n"
        # b sees the iopub side of a's request, never its reply
        mid = req["header"]["msg_id"]
        idle_b = b.wait_for(lambda r: r["channel"] == "iopub" and r.parent_id == mid
                            and r.msg_type == "status"
                            and r["content"]["execution_state"] == "idle", 30, "idle on b")
        seen_b = [idle_b] + [r for r in b.drain(0.5) if r.parent_id == mid]
        assert stream_text(seen_b) == "for both\n"
        assert [r for r in seen_b if r["channel"] != "iopub"] == []
        assert {r.msg_type for r in seen_b} >= {"status", "execute_input", "stream"}

        # and the other way round
        req_b = b.request("kernel_info_request")
        assert the_reply(b.until_idle(req_b))["content"]["status"] == "ok"
        mid_b = req_b["header"]["msg_id"]
        a.wait_for(lambda r: r.parent_id == mid_b and r.msg_type == "status"
                   and r["content"]["execution_state"] == "idle", 30, "b's idle on a")
        assert [r for r in a.drain(0.5)
                if r.parent_id == mid_b and r["channel"] != "iopub"] == []

        b.close()
        wait_until(lambda: connections(srv, kid) == 1, 10, "connections == 1 after a close")
    finally:
        a.close()
        b.close()
    wait_until(lambda: connections(srv, kid) == 0, 10, "connections == 0")
    srv.delete(f"api/kernels/{kid}")


def test_same_session_replaces_the_stale_socket(srv, ck):
    session = uuid.uuid4().hex
    old = open_ws(srv, ck, "v1", session=session)
    new = None
    try:
        round_trip(old)
        new = open_ws(srv, ck, "v1", session=session)
        with pytest.raises(Closed):
            old.drain(0)  # the backlog
            old.wait_for(lambda r: False, 15, "the close of the stale socket")
        assert round_trip(new)["content"]["status"] == "ok"
        wait_until(lambda: connections(srv, ck) == 1, 10, "one connection left")
    finally:
        old.close()
        if new:
            new.close()


# ---- offline buffering ------------------------------------------------------------------------

LATE_CELL = '#include <unistd.h>\nsleep(2); printf("late\\n");'


def run_then_leave(s: Server, kid: str, session: str) -> dict:
    """Start the late-printing cell, close the socket before its output, wait until it ran."""
    ws = open_ws(s, kid, "v1", session=session)
    try:
        round_trip(ws)
        req = ws.request("execute_request", {"code": LATE_CELL, "silent": False,
                                             "store_history": True, "user_expressions": {},
                                             "allow_stdin": False, "stop_on_error": True})
        mid = req["header"]["msg_id"]
        sent = time.monotonic()
        ws.wait_for(lambda r: r.parent_id == mid and r.msg_type == "execute_input", 30,
                    "execute_input")
        early = [r for r in ws.drain(0) if r.parent_id == mid]
        assert stream_text(early) == "", "the output came before the socket closed"
    finally:
        ws.close()
    wait_until(lambda: connections(s, kid) == 0, 10, "no connection left")
    time.sleep(max(0.0, sent + 2.2 - time.monotonic()))  # the sleep(2) is over
    # the server's own view of the kernel: busy, then idle once the cell has printed
    wait_until(lambda: s.get(f"api/kernels/{kid}").json()["execution_state"] == "idle",
               30, "kernel idle again")
    return req


def test_offline_output_replayed_to_the_same_session(srv):
    kid = new_kernel(srv, C)
    try:
        session = uuid.uuid4().hex
        req = run_then_leave(srv, kid, session)
        mid = req["header"]["msg_id"]
        ws = open_ws(srv, kid, "v1", session=session)
        try:
            # the stream, the execute_reply and the idle status were kept for this session
            mine = ws.until_idle(req, 15)
            reply = the_reply(mine)
            assert reply.msg_type == "execute_reply"
            assert reply["content"]["status"] == "ok"
            assert stream_text(mine) == "late\n"
            assert round_trip(ws)["content"]["status"] == "ok"
        finally:
            ws.close()
    finally:
        srv.delete(f"api/kernels/{kid}")


def test_offline_output_not_given_to_another_session(srv):
    kid = new_kernel(srv, C)
    try:
        req = run_then_leave(srv, kid, uuid.uuid4().hex)
        mid = req["header"]["msg_id"]
        ws = open_ws(srv, kid, "v1", session=uuid.uuid4().hex)
        try:
            round_trip(ws)
            assert [r for r in ws.drain(1.5) if r.parent_id == mid] == []
        finally:
            ws.close()
    finally:
        srv.delete(f"api/kernels/{kid}")


# ---- malformed input ------------------------------------------------------------------------

def _v1_bad_offsets() -> bytes:
    good = wsclient.encode_v1(wsclient.make_msg("kernel_info_request", session="x"))
    # offsets running past the end of the frame
    return good[:8] + (10 ** 6).to_bytes(8, "little") * 6 + good[56:]


def _v1_decreasing() -> bytes:
    good = bytearray(wsclient.encode_v1(wsclient.make_msg("kernel_info_request", session="x")))
    good[16:24] = (40).to_bytes(8, "little")  # before the start of the data, below offset[0]
    return bytes(good)


def _unknown_channel(framing: str):
    m = wsclient.make_msg("kernel_info_request", session="x", channel="nope")
    return wsclient.encode_v1(m) if framing == "v1" else wsclient.encode_text(m)


MALFORMED = [
    ("legacy", "text", "this is not json {"),
    ("legacy", "text", '{"channel": "shell", "content": {}}'),
    ("legacy", "text", "[1, 2, 3]"),
    ("legacy", "text", '{"channel": "shell", "header": "not an object", "content": {}}'),
    ("legacy", "bytes", b"\x00\x00\x00\x05garbage"),
    ("legacy", "text", _unknown_channel("legacy")),
    ("v1", "bytes", _v1_bad_offsets()),
    ("v1", "bytes", _v1_decreasing()),
    ("v1", "bytes", (1000).to_bytes(8, "little") + b"\x00" * 16),
    ("v1", "bytes", b"\x01\x02\x03"),
    ("v1", "text", "a text frame on a v1 socket"),
    ("v1", "bytes", _unknown_channel("v1")),
]


@pytest.mark.parametrize("framing, kind, frame", MALFORMED,
                         ids=[f"{i}-{f}" for i, (f, _, _) in enumerate(MALFORMED)])
def test_malformed_input_does_not_hurt_the_server(srv, ck, framing, kind, frame):
    ws = open_ws(srv, ck, framing)
    try:
        if kind == "text":
            ws.send_raw_text(frame)
        else:
            ws.send_raw_bytes(frame)
        try:
            assert round_trip(ws, 15)["content"]["status"] == "ok"
        except Closed as e:
            # cnote must ignore the frame or close with a close frame (1002, 1003, 1007,
            # 1008 or 1011);
            # Jupyter Server drops the TCP connection when its handler raises (no code)
            if srv.kind == "cnote":
                assert e.code in (1002, 1003, 1007, 1008, 1011), e
    finally:
        ws.close()
    assert srv.get("api/status").status_code == 200
    again = open_ws(srv, ck, framing)
    try:
        assert round_trip(again)["content"]["status"] == "ok"
    finally:
        again.close()


def test_v1_huge_offset_count_cnote():
    """cnote only, deliberately: Jupyter Server 2.21.1 never recovers from this frame (its v1
    decoder builds a list of 2**63 offsets, so its event loop spins and every later request
    hangs); cnote must refuse it and stay responsive."""
    with running("cnote") as s:
        kid = new_kernel(s, C)
        ws = open_ws(s, kid, "v1")
        try:
            ws.send_raw_bytes((2 ** 63).to_bytes(8, "little") + b"\x00" * 16)
            try:
                assert round_trip(ws, 15)["content"]["status"] == "ok"
            except Closed as e:
                assert e.code in (1002, 1003, 1007, 1008, 1011), e
        finally:
            ws.close()
        assert s.get("api/status").status_code == 200
        again = open_ws(s, kid, "v1")
        try:
            assert round_trip(again)["content"]["status"] == "ok"
        finally:
            again.close()


# ---- faults -----------------------------------------------------------------------------------

def test_kernel_killed_mid_cell_restarting_then_usable(srv):
    kid = new_kernel(srv, C)
    session_a = uuid.uuid4().hex
    a = open_ws(srv, kid, "v1", session=session_a)
    b = open_ws(srv, kid, "legacy")
    try:
        round_trip(a)
        round_trip(b)
        req = a.request("execute_request", {"code": '#include <unistd.h>\nsleep(10);',
                                            "silent": False, "store_history": True,
                                            "user_expressions": {}, "allow_stdin": False,
                                            "stop_on_error": True})
        mid = req["header"]["msg_id"]
        a.wait_for(lambda r: r.parent_id == mid and r.msg_type == "execute_input", 30,
                   "execute_input")
        os.kill(kernel_pid(srv, kid), signal.SIGKILL)
        for ws in (a, b):
            st = ws.wait_for(lambda r: r["channel"] == "iopub" and r.msg_type == "status"
                             and r["content"]["execution_state"] == "restarting", 30,
                             "status restarting")
            assert st["parent_header"] == {}
        b.close()
        a.close()
        # Like JupyterLab: reconnect with the same session id, ask kernel_info until it is
        # answered, then go on. (Jupyter Server sends `restarting` before the new kernel is
        # up and then often needs a second connection; each try is bounded.)
        deadline = time.monotonic() + 60
        while True:
            a = open_ws(srv, kid, "v1", session=session_a)
            try:
                round_trip(a, 5)
                break
            except TimeoutError:
                a.close()
                if time.monotonic() > deadline:
                    raise
        _, got = execute(a, 'printf("after restart\\n");', timeout=60)
        assert the_reply(got)["content"]["status"] == "ok", the_reply(got)["content"]
        assert stream_text(got) == "after restart\n"
    finally:
        a.close()
        b.close()
        srv.delete(f"api/kernels/{kid}")


BLOCK = 65536


def big_output_cell(blocks: int, pause_us: int = 0) -> str:
    """Print `blocks` lines of BLOCK bytes, each starting with #<8-digit index>#, pausing
    pause_us microseconds before each block (0: as fast as the kernel goes)."""
    return (
        "#include <stdio.h>\n#include <string.h>\n#include <unistd.h>\n"
        "{\n"
        f"    static char blk[{BLOCK}];\n"
        "    memset(blk, 'x', sizeof blk);\n"
        "    blk[sizeof blk - 1] = '\\n';\n"
        f"    for (int i = 0; i < {blocks}; i++) {{\n"
        "        int n = snprintf(blk, 16, \"#%08d#\", i);\n"
        "        blk[n] = 'x';\n"
        f"        if ({pause_us}) {{ fflush(stdout); usleep({pause_us}); }}\n"
        "        fwrite(blk, 1, sizeof blk, stdout);\n"
        "    }\n"
        "    fflush(stdout);\n"
        "}\n"
    )


def check_blocks(text: str, blocks: int) -> None:
    assert len(text) == blocks * BLOCK, f"got {len(text)} bytes of {blocks * BLOCK}"
    for i in range(blocks):
        at = i * BLOCK
        assert text[at:at + 10] == f"#{i:08d}#", f"block {i} out of order or damaged"
        assert text[at + BLOCK - 1] == "\n"


class RssWatch(threading.Thread):
    """Peak VmRSS (KiB) of one process, sampled every 20 ms while running."""

    def __init__(self, pid: int):
        super().__init__(daemon=True)
        self.pid = pid
        self.peak = 0
        self.halt = threading.Event()

    def run(self):
        while not self.halt.is_set():
            with contextlib.suppress(OSError):
                self.peak = max(self.peak, rss_kib(self.pid))
            self.halt.wait(0.02)

    def stop(self) -> int:
        self.halt.set()
        self.join(5)
        return self.peak


def test_slow_client_output_dropped_not_replies_cnote():
    """cnote only: Jupyter Server has no per-client queue limit (it buffers without bound).

    Client A sends a cell printing 100 MiB and reads nothing until it has finished; client B
    reads everything. The cell paces itself to at most 32 MB/s so that B (Python, about
    45 MB/s on two cores shared with the kernel and the server) keeps up; A's queue hits the
    16 MiB limit after half a second. An unbounded queue for A would put ~100 MB more into the
    server's RSS, far above the bound asserted."""
    blocks = 1600                      # 100 MiB
    limit = 16 << 20
    with running("cnote", ("--ws-queue-limit", str(limit))) as s:
        kid = new_kernel(s, C)
        a = open_ws(s, kid, "v1")
        b = open_ws(s, kid, "v1")
        watch = RssWatch(s.proc.pid)
        try:
            round_trip(a)
            round_trip(b)
            watch.start()
            # a sends the request and then reads nothing until b has seen everything
            base = rss_kib(s.proc.pid)
            req = a.request("execute_request", {"code": big_output_cell(blocks, 2000),
                                                "silent": False, "store_history": True,
                                                "user_expressions": {}, "allow_stdin": False,
                                                "stop_on_error": True})
            mid = req["header"]["msg_id"]
            parts = []
            deadline = time.monotonic() + 90
            while True:
                r = b.recv(max(deadline - time.monotonic(), 0.001))
                if r.parent_id != mid or r["channel"] != "iopub":
                    continue
                if r.msg_type == "stream":
                    assert r["content"]["name"] == "stdout", r["content"]["text"][:200]
                    parts.append(r["content"]["text"])
                if r.msg_type == "status" and r["content"]["execution_state"] == "idle":
                    break
            check_blocks("".join(parts), blocks)
            del parts
            got = a.until_idle(req, 60)
            peak = watch.stop()
            assert the_reply(got)["content"]["status"] == "ok"
            notices = stream_text(got, "stderr")
            assert "cnote: output dropped" in notices
            assert notices.count("cnote: output dropped") == 1
            assert len(stream_text(got)) < blocks * BLOCK
            # A's queue (limit) + B's in flight (at most the limit too) + a margin
            assert peak < base + 2 * limit // 1024 + 32 * 1024, \
                f"server RSS peaked at {peak} KiB (at start {base} KiB)"
        finally:
            watch.stop()
            a.close()
            b.close()


def exec_request(ws: wsclient.KernelWS, code: str) -> dict:
    return ws.request("execute_request", {"code": code, "silent": False, "store_history": True,
                                          "user_expressions": {}, "allow_stdin": False,
                                          "stop_on_error": True})


def test_lone_slow_client_slows_the_kernel_and_loses_nothing_cnote():
    """cnote only (Jupyter Server buffers without bound). The only client of a kernel reads
    slower than the kernel prints (Python, ~45 MB/s, against ~300 MB/s) and stops reading
    three times for 0.6 s while a cell prints 60 MiB. Its queue would pass the 16 MiB limit
    within a second; instead the server stops reading the kernel's IOPub while the client is
    behind, so the output waits in the kernel, and all of it arrives in order, with no drop
    notice."""
    blocks = 960                       # 60 MiB
    with running("cnote", ("--ws-queue-limit", str(16 << 20))) as s:
        kid = new_kernel(s, C)
        a = open_ws(s, kid, "v1")
        try:
            round_trip(a)
            req = exec_request(a, big_output_cell(blocks))
            mid = req["header"]["msg_id"]
            parts, errs, n, reply = [], [], 0, None
            deadline = time.monotonic() + 120
            while True:
                r = a.recv(max(deadline - time.monotonic(), 0.001))
                if r.parent_id != mid:
                    continue
                if r["channel"] == "shell":
                    reply = r
                elif r.msg_type == "stream":
                    (parts if r["content"]["name"] == "stdout" else errs).append(
                        r["content"]["text"])
                    n += 1
                    if n in (2, 40, 120):
                        time.sleep(0.6)    # not reading
                elif r.msg_type == "status" and r["content"]["execution_state"] == "idle":
                    break
            assert "".join(errs) == "", "".join(errs)[:300]
            check_blocks("".join(parts), blocks)
            if reply is None:
                reply = a.reply_to(req, 30)
            assert reply["content"]["status"] == "ok"
            with open(s.log_path) as f:
                log = f.read()
            assert "client too slow" not in log
            held = [ln for ln in s.get("metrics").text.splitlines()
                    if ln.startswith("cnote_iopub_holds_total ")]
            assert held and float(held[0].split()[1]) >= 1, held
        finally:
            a.close()


def test_lone_client_that_stops_reading_cannot_stop_the_kernel_cnote():
    """cnote only. The only client sends a cell printing 100 MiB and reads nothing for 3 s.
    The server holds the kernel's IOPub for at most a second (KMGR_HOLD_MAX_MS), then reads it
    again and the client's queue limit applies: the output beyond it is dropped with one
    notice, the cell finishes, and the server's RSS stays bounded."""
    blocks = 1600                      # 100 MiB
    limit = 16 << 20
    with running("cnote", ("--ws-queue-limit", str(limit))) as s:
        kid = new_kernel(s, C)
        a = open_ws(s, kid, "v1")
        watch = RssWatch(s.proc.pid)
        try:
            round_trip(a)
            base = rss_kib(s.proc.pid)
            watch.start()
            req = exec_request(a, big_output_cell(blocks))
            time.sleep(3)
            got = a.until_idle(req, 90)
            peak = watch.stop()
            assert the_reply(got)["content"]["status"] == "ok"
            notices = stream_text(got, "stderr")
            assert notices.count("cnote: output dropped") == 1, notices[:300]
            assert len(stream_text(got)) < blocks * BLOCK
            with open(s.log_path) as f:
                log = f.read()
            assert "IOPub read again after 1000 ms held for slow clients" in log
            assert peak < base + 2 * limit // 1024 + 32 * 1024, \
                f"server RSS peaked at {peak} KiB (at start {base} KiB)"
            # and the kernel is fine afterwards
            _, got = execute(a, 'printf("still here\\n");')
            assert stream_text(got) == "still here\n"
        finally:
            watch.stop()
            a.close()


def test_iopub_rate_limit_off_by_default_cnote():
    """cnote only: Jupyter Server limits iopub rates by default (limit_rate=True)."""
    with running("cnote") as s:
        kid = new_kernel(s, C)
        ws = open_ws(s, kid, "v1")
        try:
            _, got = execute(ws, big_output_cell(96))    # 6 MiB in well under a second
            assert the_reply(got)["content"]["status"] == "ok"
            check_blocks(stream_text(got), 96)
            assert "IOPub data rate exceeded" not in stream_text(got, "stderr")
        finally:
            ws.close()


@pytest.mark.parametrize("kind", KINDS)
def test_iopub_data_rate_limit_cuts_big_output(kind):
    with running(kind, ("--limit-rate", "--iopub-data-rate-limit", "100000"),
                 {"ZMQChannelsWebsocketConnection": {"limit_rate": True,
                                                     "iopub_data_rate_limit": 100000}}) as s:
        kid = new_kernel(s, C)
        ws = open_ws(s, kid, "v1")
        try:
            _, got = execute(ws, big_output_cell(32))    # 2 MiB
            assert the_reply(got)["content"]["status"] == "ok"
            assert "IOPub data rate exceeded" in stream_text(got, "stderr")
            assert len(stream_text(got)) < 32 * BLOCK
            # after the idle the counters are reset: a small output passes whole
            _, got = execute(ws, 'printf("small\\n");')
            assert stream_text(got) == "small\n"
        finally:
            ws.close()
