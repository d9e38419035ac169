"""Start cnote-server (and, for comparisons, the real Jupyter Server) on a free loopback port
with a temporary root, and talk to it with `requests`.

The server prints its URL (with the real port when started with --port 0) on stdout; the
fixture waits for that line and for GET /api to answer, never for a fixed time.
"""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field

import requests
import urllib3

urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SERVER_BIN = os.environ.get("CNOTE_SERVER_BIN") or os.path.join(ROOT, "build", "bin", "cnote-server")
VENV_BIN = os.path.dirname(sys.executable)


@dataclass
class Server:
    proc: subprocess.Popen
    url: str            # base URL with the base_url prefix, ending in "/"
    token: str
    root: str
    log: list[str] = field(default_factory=list)
    log_path: str = ""  # the server's stdout and stderr

    def headers(self, **extra) -> dict:
        h = {"Authorization": f"token {self.token}"} if self.token else {}
        h.update(extra)
        return h

    def get(self, path: str, **kw):
        return requests.get(self.url + path, headers=self.headers(**kw.pop("headers", {})),
                            timeout=60, allow_redirects=False, **kw)

    def post(self, path: str, **kw):
        return requests.post(self.url + path, headers=self.headers(**kw.pop("headers", {})),
                             timeout=60, allow_redirects=False, **kw)

    def put(self, path: str, **kw):
        return requests.put(self.url + path, headers=self.headers(**kw.pop("headers", {})),
                            timeout=60, allow_redirects=False, **kw)

    def patch(self, path: str, **kw):
        return requests.patch(self.url + path, headers=self.headers(**kw.pop("headers", {})),
                              timeout=60, allow_redirects=False, **kw)

    def delete(self, path: str, **kw):
        return requests.delete(self.url + path, headers=self.headers(**kw.pop("headers", {})),
                               timeout=60, allow_redirects=False, **kw)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        return self.proc.returncode


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_api(url: str, proc: subprocess.Popen, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}")
        try:
            if requests.get(url + "api", timeout=2, verify=False).status_code == 200:
                return
        except requests.RequestException:
            pass
        time.sleep(0.05)
    raise TimeoutError("server did not answer GET /api")


def start_cnote(root: str | None = None, token: str = "secret-token", *args: str,
                env: dict | None = None, keep_kernels: bool = False) -> Server:
    """keep_kernels: leave kernels running when the server stops (the default of the server,
    for adoption tests); otherwise --shutdown-kernels-on-exit so no test leaks kernels."""
    root = root or tempfile.mkdtemp(prefix="cnote-root-")
    data = tempfile.mkdtemp(prefix="cnote-data-")
    e = dict(os.environ)
    e["JUPYTER_PATH"] = os.path.join(ROOT, ".venv", "share", "jupyter")
    e.update(env or {})
    cmd = [SERVER_BIN, "--port", "0", "--root", root, "--data-dir", data, "--token", token,
           *([] if keep_kernels else ["--shutdown-kernels-on-exit"]), *args]
    # output goes to files, never to pipes nobody reads: a full pipe would block the server
    # (and the kernels, which share its stdout and stderr)
    log = tempfile.NamedTemporaryFile("w+", prefix="cnote-server-", suffix=".log", delete=False)
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, text=True, env=e)
    url = None
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and url is None:
        with open(log.name) as f:
            m = re.search(r"running at:\s+(https?://[^\s?]+)", f.read())
        if m:
            url = m.group(1)
            if not url.endswith("/"):
                url += "/"
        elif proc.poll() is not None:
            break
        else:
            time.sleep(0.02)
    if not url:
        proc.kill()
        raise RuntimeError("cnote-server printed no URL: " + open(log.name).read())
    try:
        _wait_api(url, proc)
    except Exception:
        proc.kill()  # never leave a server behind
        proc.wait(10)
        raise
    return Server(proc, url, token, root, log_path=log.name)


def start_jupyter_server(root: str | None = None, token: str = "secret-token") -> Server:
    """The Python reference, from the pinned jupyter_server in the venv."""
    root = root or tempfile.mkdtemp(prefix="jupyter-root-")
    port = free_port()
    cfg = tempfile.mkdtemp(prefix="jupyter-cfg-")
    e = dict(os.environ)
    e["JUPYTER_PATH"] = os.path.join(ROOT, ".venv", "share", "jupyter")
    e["JUPYTER_CONFIG_DIR"] = cfg
    e["JUPYTER_RUNTIME_DIR"] = os.path.join(cfg, "runtime")
    cmd = [os.path.join(VENV_BIN, "jupyter-server"), "--no-browser", f"--port={port}",
           "--ip=127.0.0.1", f"--IdentityProvider.token={token}",
           f"--ServerApp.root_dir={root}", "--ServerApp.port_retries=0", "--allow-root"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=e)
    url = f"http://127.0.0.1:{port}/"
    _wait_api(url, proc, timeout=60)
    return Server(proc, url, token, root)


def cleanup(server: Server) -> None:
    server.stop()
    shutil.rmtree(server.root, ignore_errors=True)
