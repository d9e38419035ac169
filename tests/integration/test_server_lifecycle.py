"""cnote-server over time: kill -9 and restart adopting kernels with their sessions, SIGTERM
leaving kernels for the next start, idle culling, slow and half-open connections, truncated
uploads that must not touch a file, chunked uploads, notebooks written by nbformat itself
round-tripping byte for byte through GET and PUT, X-Forwarded-* behind a trusted proxy, and TLS.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import tempfile
import time

import nbformat
import pytest
import requests

from server_fixture import SERVER_BIN, cleanup, start_cnote

TOKEN = "life-token"


def wait_for(pred, timeout=30, what="condition"):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = pred()
        if v:
            return v
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def kernel_idle(s, kid):
    r = s.get(f"api/kernels/{kid}")
    return r.status_code == 200 and r.json()["execution_state"] == "idle"


def test_kill_9_then_restart_adopts_kernels_and_sessions(tmp_path):
    data = tmp_path / "data"
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data), keep_kernels=True)
    try:
        sess = s.post("api/sessions", json={"path": "n.ipynb", "type": "notebook",
                                            "kernel": {"name": "cnote"}}).json()
        kid = sess["kernel"]["id"]
        wait_for(lambda: kernel_idle(s, kid), what="kernel idle")
        s.proc.send_signal(signal.SIGKILL)
        s.proc.wait(timeout=10)
        s2 = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data))
        try:
            wait_for(lambda: kernel_idle(s2, kid), what="adopted kernel idle")
            sessions = s2.get("api/sessions").json()
            assert [x["id"] for x in sessions] == [sess["id"]]
            assert sessions[0]["kernel"]["id"] == kid and sessions[0]["path"] == "n.ipynb"
            # the adopted kernel is fully usable: restart and shutdown work
            assert s2.post(f"api/kernels/{kid}/restart").status_code == 200
            assert s2.delete(f"api/sessions/{sess['id']}").status_code == 204
            wait_for(lambda: s2.get(f"api/kernels/{kid}").status_code == 404,
                     what="kernel gone")
        finally:
            s2.stop()
    finally:
        s.stop()


def test_sigterm_leaves_kernels_for_the_next_start(tmp_path):
    data = tmp_path / "data"
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data), keep_kernels=True)
    kid = s.post("api/kernels", json={"name": "cnote"}).json()["id"]
    wait_for(lambda: kernel_idle(s, kid), what="kernel idle")
    assert s.stop() == 0
    s2 = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data))
    try:
        wait_for(lambda: kernel_idle(s2, kid), what="kernel adopted after SIGTERM")
        s2.delete(f"api/kernels/{kid}")
    finally:
        s2.stop()


def test_shutdown_kernels_on_exit(tmp_path):
    data = tmp_path / "data"
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data), "--shutdown-kernels-on-exit",
                    keep_kernels=True)
    kid = s.post("api/kernels", json={"name": "cnote"}).json()["id"]
    wait_for(lambda: kernel_idle(s, kid), what="kernel idle")
    s.stop()
    s2 = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(data))
    try:
        assert s2.get("api/kernels").json() == []
    finally:
        s2.stop()


def test_idle_kernels_are_culled(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--cull-idle-timeout", "1", "--cull-interval", "1",
                    "--data-dir", str(tmp_path / "d"))
    try:
        kid = s.post("api/kernels", json={"name": "cnote"}).json()["id"]
        wait_for(lambda: s.get(f"api/kernels/{kid}").status_code == 404, timeout=30,
                 what="culling")
    finally:
        s.stop()


def test_half_open_and_slow_connections_time_out(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--request-timeout", "2",
                    "--data-dir", str(tmp_path / "d"))
    try:
        host, port = s.url.split("//")[1].split("/")[0].split(":")
        slow = socket.create_connection((host, int(port)), timeout=10)
        slow.sendall(b"GET /api/status HTTP/1.1\r\nHost: localhost\r\n")  # never finished
        t0 = time.monotonic()
        assert slow.recv(1) == b""  # the server closes it
        assert time.monotonic() - t0 < 9
        slow.close()
        assert s.get("api/status").status_code == 200  # and serves others meanwhile
    finally:
        s.stop()


def test_truncated_upload_leaves_the_file_untouched(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--request-timeout", "2",
                    "--data-dir", str(tmp_path / "d"))
    try:
        s.put("api/contents/keep.txt", json={"type": "file", "format": "text",
                                             "content": "original\n"})
        host, port = s.url.split("//")[1].split("/")[0].split(":")
        body = json.dumps({"type": "file", "format": "text", "content": "x" * 100000}).encode()
        c = socket.create_connection((host, int(port)), timeout=10)
        c.sendall(b"PUT /api/contents/keep.txt HTTP/1.1\r\nHost: localhost\r\n"
                  b"Authorization: token " + TOKEN.encode() + b"\r\n"
                  b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % len(body))
        c.sendall(body[:50000])
        c.close()  # the client dies half way
        assert s.get("api/status").status_code == 200
        assert (tmp_path / "keep.txt").read_text() == "original\n"
        assert [p for p in os.listdir(tmp_path) if "tmp" in p.lower()] == []
    finally:
        s.stop()


def test_chunked_upload_as_jupyterlab_sends_it(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(tmp_path / "d"))
    try:
        import base64
        parts = [os.urandom(700), os.urandom(700), os.urandom(100)]
        for i, p in enumerate(parts):
            chunk = -1 if i == len(parts) - 1 else i + 1
            r = s.put("api/contents/up.bin", json={"type": "file", "format": "base64",
                                                   "chunk": chunk,
                                                   "content": base64.b64encode(p).decode()})
            assert r.status_code in (200, 201)
        assert (tmp_path / "up.bin").read_bytes() == b"".join(parts)
    finally:
        s.stop()


def make_notebook() -> nbformat.NotebookNode:
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "cnote", "display_name": "C (cnote)", "language": "c"}
    nb.metadata["custom"] = {"pi": 3.141592653589793, "tiny": 1e-05, "big": 1e16, "two": 2.0,
                             "neg": -0.0, "s": "é ✓ \u2028 \x01 \"q\" \\ /"}
    nb.cells.append(nbformat.v4.new_markdown_cell("# Title\n\nSome *text* — ünïcødé\n"))
    code = nbformat.v4.new_code_cell("int x = 1;\nx + 1", execution_count=3)
    code.outputs.append(nbformat.v4.new_output("execute_result", {"text/plain": "2"},
                                               execution_count=3))
    code.outputs.append(nbformat.v4.new_output("stream", name="stdout", text="a\nb\n"))
    nb.cells.append(code)
    nb.cells.append(nbformat.v4.new_raw_cell(""))
    return nb


def test_notebook_written_by_nbformat_round_trips_byte_for_byte(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(tmp_path / "d"))
    try:
        path = tmp_path / "round.ipynb"
        nbformat.write(make_notebook(), str(path))
        before = path.read_bytes()
        model = s.get("api/contents/round.ipynb").json()
        assert model["type"] == "notebook" and model["format"] == "json"
        put = s.put("api/contents/round.ipynb", json={"type": "notebook", "format": "json",
                                                      "content": model["content"]})
        assert put.status_code == 200
        assert path.read_bytes() == before
        # a checkpoint was created by the first save, and it restores
        cps = s.get("api/contents/round.ipynb/checkpoints").json()
        assert len(cps) == 1
        path.write_text("{}")
        assert s.post(f"api/contents/round.ipynb/checkpoints/{cps[0]['id']}").status_code == 204
        assert path.read_bytes() == before
    finally:
        s.stop()


def test_trusted_proxy_headers(tmp_path):
    s = start_cnote(str(tmp_path), TOKEN, "--trust-proxy", "--data-dir", str(tmp_path / "d"))
    try:
        # behind a proxy the Host seen is the proxy's public name
        r = s.get("api/status", headers={"Host": "notebooks.example.org",
                                         "X-Forwarded-Host": "notebooks.example.org",
                                         "X-Forwarded-Proto": "https"})
        assert r.status_code == 200
    finally:
        s.stop()
    s = start_cnote(str(tmp_path), TOKEN, "--data-dir", str(tmp_path / "d2"))
    try:
        # without --trust-proxy the same request is a DNS-rebinding suspect
        r = s.get("api/status", headers={"Host": "notebooks.example.org",
                                         "X-Forwarded-Host": "notebooks.example.org"})
        assert r.status_code == 403
    finally:
        s.stop()


def test_tls(tmp_path):
    cert, key = tmp_path / "c.pem", tmp_path / "k.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
                    "-subj", "/CN=localhost", "-addext", "subjectAltName=IP:127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True, timeout=60)
    s = start_cnote(str(tmp_path), TOKEN, "--certfile", str(cert), "--keyfile", str(key),
                    "--data-dir", str(tmp_path / "d"))
    try:
        assert s.url.startswith("https://")
        r = requests.get(s.url + "api/status", headers=s.headers(), verify=str(cert),
                         timeout=10)
        assert r.status_code == 200
    finally:
        s.stop()
