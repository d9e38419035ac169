"""Where cnote-server listens and puts connection files: --ip 127.0.0.1 must listen on the
loopback address only (libwebsockets 4.1 with IPv6 support silently listened on every interface
when given an IPv4 address), and JUPYTER_RUNTIME_DIR is honoured as Jupyter Server does."""

from __future__ import annotations

import glob
import os
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(__file__))

from server_fixture import cleanup, start_cnote  # noqa: E402


def listening(port: int) -> set[str]:
    """Local addresses (hex, as in /proc/net/tcp*) of sockets listening on `port`."""
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            f = line.split()
            addr, hexport = f[1].rsplit(":", 1)
            if int(hexport, 16) == port and f[3] == "0A":  # TCP_LISTEN
                found.add(addr)
    return found


def test_ipv4_loopback_listens_on_loopback_only():
    s = start_cnote(None, "t", "--ip", "127.0.0.1")
    try:
        port = int(s.url.rsplit(":", 1)[1].split("/")[0])
        assert listening(port) == {"0100007F"}  # 127.0.0.1, nothing else (no 0.0.0.0, no ::)
        assert s.get("api/status").status_code == 200
    finally:
        cleanup(s)


def test_jupyter_runtime_dir_holds_the_connection_files():
    rt = tempfile.mkdtemp(prefix="cnote-rt-")
    s = start_cnote(None, "t", env={"JUPYTER_RUNTIME_DIR": rt})
    try:
        r = s.post("api/kernels", json={"name": "cnote"})
        assert r.status_code == 201
        kid = r.json()["id"]
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and not glob.glob(f"{rt}/kernel-{kid}.json"):
            time.sleep(0.05)
        assert os.path.exists(f"{rt}/kernel-{kid}.json")
        assert s.delete(f"api/kernels/{kid}").status_code == 204
        assert not os.path.exists(f"{rt}/kernel-{kid}.json")
    finally:
        cleanup(s)
