"""/api/events/subscribe, the event-bus WebSocket JupyterLab 4 opens at start-up: it is accepted
with a token (header or query), refused without one (403) and cross-origin without a token
(403), stays open
and answers pings, and does not count as a kernel connection."""

from __future__ import annotations

import os
import sys

import pytest
import websocket

sys.path.insert(0, os.path.dirname(__file__))

from server_fixture import cleanup, start_cnote  # noqa: E402


@pytest.fixture(scope="module")
def srv():
    s = start_cnote(None, "ev-token")
    yield s
    cleanup(s)


def ws_url(s, query: str = "") -> str:
    return s.url.replace("http://", "ws://", 1) + "api/events/subscribe" + query


def test_subscribe_with_token_header_stays_open(srv):
    ws = websocket.create_connection(ws_url(srv), header=["Authorization: token ev-token"],
                                     timeout=5)
    try:
        assert ws.getstatus() == 101
        ws.ping(b"are you there")
        op, data = ws.recv_data_frame(control_frame=True)[0], None
        assert op == websocket.ABNF.OPCODE_PONG
        # nothing is published without activity: a read times out, the socket stays open
        ws.settimeout(0.5)
        with pytest.raises(websocket.WebSocketTimeoutException):
            ws.recv()
        assert ws.connected
        # not a kernel connection
        assert srv.get("api/status").json()["connections"] == 0
    finally:
        ws.close()


def test_subscribe_with_token_query(srv):
    ws = websocket.create_connection(ws_url(srv, "?token=ev-token"), timeout=5)
    try:
        assert ws.getstatus() == 101
    finally:
        ws.close()


@pytest.mark.parametrize("headers", [[], ["Authorization: token wrong"]])
def test_subscribe_refused_without_a_valid_token(srv, headers):
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url(srv), header=headers, timeout=5,
                                    suppress_origin=True)
    assert e.value.status_code == 403


def test_cross_origin_refused_without_token_accepted_with_it(srv):
    # a browser on another site can only bring the login cookie: refused, as in Jupyter Server
    login = srv.get("?token=ev-token")
    cookie = "; ".join(f"{k}={v}" for k, v in login.cookies.items())
    assert cookie
    with pytest.raises(websocket.WebSocketBadStatusException) as e:
        websocket.create_connection(ws_url(srv), cookie=cookie, origin="http://evil.example",
                                    timeout=5)
    assert e.value.status_code == 403
    # the same cookie from the server's own origin is fine
    host = srv.url.split("//", 1)[1].rstrip("/")
    ws = websocket.create_connection(ws_url(srv), cookie=cookie, origin=f"http://{host}",
                                     timeout=5)
    ws.close()
    # a token proves the caller is no drive-by page: accepted whatever the Origin (Jupyter too)
    ws = websocket.create_connection(ws_url(srv), header=["Authorization: token ev-token"],
                                     origin="http://evil.example", timeout=5)
    assert ws.getstatus() == 101
    ws.close()
