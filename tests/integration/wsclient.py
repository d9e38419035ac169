"""A small synchronous client for the kernel WebSocket `/api/kernels/<id>/channels`, for tests.

It speaks the three framings of section 2 of the protocol reference
(/work/shared/reference/jupyter-protocol.md), each coded here on its own so a test can also
build frames by hand (bad offsets, wrong channel):

- legacy JSON text (2.2): one text frame holding the whole message, `buffers` included (empty);
- legacy binary (2.3): used when a legacy message carries buffers; u32 big-endian part count and
  part offsets, no end offset;
- `v1.kernel.websocket.jupyter.org` (2.4): u64 little-endian offset count and offsets, channel,
  header, parent_header, metadata, content, buffers, with a trailing end offset.

The transport is websocket-client (pinned in scripts/requirements-test.txt). The subprotocol is
offered through a raw `Sec-WebSocket-Protocol` request header, not websocket-client's own
`subprotocols` option, because that one refuses a 101 that selects no subprotocol, which is
exactly what a legacy-only server answers and what the negotiation tests look at.

Every wait has a deadline; nothing here blocks without one. It does not own any server.
"""

from __future__ import annotations

import datetime
import json
import struct
import time
import uuid
from dataclasses import dataclass, field
from typing import Callable, Iterable

import websocket

V1 = "v1.kernel.websocket.jupyter.org"

TEXT = "text"            # legacy JSON text frame
LEGACY_BINARY = "legacy-binary"
V1_BINARY = "v1"


class HandshakeError(Exception):
    """The server refused the upgrade; `status` is the HTTP status code (0: it closed the
    connection without answering)."""

    def __init__(self, status: int, body: str = ""):
        super().__init__(f"WebSocket upgrade refused with HTTP {status}: {body[:200]}")
        self.status = status


class Closed(Exception):
    """The server closed the WebSocket; `code` is its close code (None if it sent none)."""

    def __init__(self, code: int | None, reason: str = ""):
        super().__init__(f"WebSocket closed by the server (code {code}, reason {reason!r})")
        self.code = code
        self.reason = reason


# ---- messages --------------------------------------------------------------------------------

def now_iso() -> str:
    return datetime.datetime.now(datetime.timezone.utc).isoformat().replace("+00:00", "Z")


def make_msg(msg_type: str, content: dict | None = None, *, session: str, channel: str = "shell",
             parent: dict | None = None, metadata: dict | None = None,
             buffers: Iterable[bytes] = (), username: str = "ws-test") -> dict:
    """A client message as a dict: channel, header (msg_id, session, msg_type, version 5.3,
    date, username), parent_header, metadata, content, buffers (bytes)."""
    return {
        "channel": channel,
        "header": {
            "msg_id": uuid.uuid4().hex,
            "session": session,
            "msg_type": msg_type,
            "version": "5.3",
            "date": now_iso(),
            "username": username,
        },
        "parent_header": dict(parent or {}),
        "metadata": dict(metadata or {}),
        "content": dict(content or {}),
        "buffers": [bytes(b) for b in buffers],
    }


def _dumps(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), ensure_ascii=False).encode()


# ---- framing: legacy JSON text (2.2) -------------------------------------------------------------

def encode_text(msg: dict) -> str:
    if msg.get("buffers"):
        raise ValueError("a message with buffers cannot go in a text frame")
    body = {k: msg[k] for k in ("channel", "header", "parent_header", "metadata", "content")}
    body["buffers"] = []
    return json.dumps(body)


def decode_text(data: str | bytes) -> dict:
    msg = json.loads(data)
    msg.setdefault("buffers", [])
    return msg


# ---- framing: legacy binary (2.3), u32 big-endian, no end offset ---------------------------------

def encode_legacy_binary(msg: dict) -> bytes:
    buffers = [bytes(b) for b in msg.get("buffers", [])]
    body = {k: msg[k] for k in ("channel", "header", "parent_header", "metadata", "content")}
    parts = [_dumps(body)] + buffers
    n = len(parts)
    offsets = []
    pos = 4 * (n + 1)
    for p in parts:
        offsets.append(pos)
        pos += len(p)
    return struct.pack(f">{n + 1}I", n, *offsets) + b"".join(parts)


def decode_legacy_binary(data: bytes) -> dict:
    (n,) = struct.unpack_from(">I", data, 0)
    if n < 1 or 4 * (n + 1) > len(data):
        raise ValueError(f"legacy binary frame: bad part count {n}")
    offsets = list(struct.unpack_from(f">{n}I", data, 4)) + [len(data)]
    if offsets[0] != 4 * (n + 1) or any(a > b for a, b in zip(offsets, offsets[1:])):
        raise ValueError(f"legacy binary frame: bad offsets {offsets}")
    msg = json.loads(data[offsets[0]:offsets[1]])
    msg["buffers"] = [data[offsets[i]:offsets[i + 1]] for i in range(1, n)]
    return msg


# ---- framing: v1.kernel.websocket.jupyter.org (2.4), u64 little-endian, trailing end ----------

def encode_v1(msg: dict) -> bytes:
    buffers = [bytes(b) for b in msg.get("buffers", [])]
    parts = [msg["channel"].encode(), _dumps(msg["header"]), _dumps(msg["parent_header"]),
             _dumps(msg["metadata"]), _dumps(msg["content"])] + buffers
    count = len(parts) + 1          # = 6 + number of buffers
    offsets = []
    pos = 8 * (count + 1)
    for p in parts:
        offsets.append(pos)
        pos += len(p)
    offsets.append(pos)             # the end offset: the frame length
    return struct.pack(f"<{count + 1}Q", count, *offsets) + b"".join(parts)


def decode_v1(data: bytes) -> dict:
    (count,) = struct.unpack_from("<Q", data, 0)
    if count < 6 or 8 * (count + 1) > len(data):
        raise ValueError(f"v1 frame: bad offset count {count}")
    offsets = list(struct.unpack_from(f"<{count}Q", data, 8))
    if offsets[0] != 8 * (count + 1) or offsets[-1] != len(data) or \
            any(a > b for a, b in zip(offsets, offsets[1:])):
        raise ValueError(f"v1 frame: bad offsets {offsets} for length {len(data)}")
    part = [data[offsets[i]:offsets[i + 1]] for i in range(count - 1)]
    return {
        "channel": part[0].decode(),
        "header": json.loads(part[1]),
        "parent_header": json.loads(part[2]),
        "metadata": json.loads(part[3]),
        "content": json.loads(part[4]),
        "buffers": part[5:],
    }


# ---- the connection ------------------------------------------------------------------------

def ws_url(http_url: str) -> str:
    if http_url.startswith("https://"):
        return "wss://" + http_url[len("https://"):]
    return "ws://" + http_url[len("http://"):]


@dataclass
class Received:
    """One message as received, with the framing it came in."""
    msg: dict
    framing: str
    size: int          # bytes of the frame

    def __getitem__(self, key):
        return self.msg[key]

    @property
    def msg_type(self) -> str:
        return self.msg["header"].get("msg_type", "")

    @property
    def parent_id(self) -> str | None:
        return (self.msg.get("parent_header") or {}).get("msg_id")


@dataclass
class KernelWS:
    ws: websocket.WebSocket
    session: str
    subprotocol: str | None          # what the server selected (None: legacy framing)
    response_headers: dict
    backlog: list = field(default_factory=list)   # received, not yet taken by a wait

    # -- sending --

    def send_msg(self, msg: dict, framing: str | None = None) -> dict:
        """Send in the framing the connection uses (v1; legacy text, or legacy binary when
        the message has buffers), or in the one given."""
        if framing is None:
            if self.subprotocol == V1:
                framing = V1_BINARY
            else:
                framing = LEGACY_BINARY if msg.get("buffers") else TEXT
        if framing == V1_BINARY:
            self._send(encode_v1(msg))
        elif framing == LEGACY_BINARY:
            self._send(encode_legacy_binary(msg))
        else:
            self._send(encode_text(msg))
        return msg

    def _send(self, data: str | bytes) -> None:
        try:
            if isinstance(data, str):
                self.ws.send_text(data)
            else:
                self.ws.send_bytes(data)
        except (websocket.WebSocketConnectionClosedException, ConnectionError) as e:
            raise Closed(None, f"connection dropped without a close frame ({e!r})") from e

    def request(self, msg_type: str, content: dict | None = None, channel: str = "shell",
                buffers: Iterable[bytes] = (), framing: str | None = None, **kw) -> dict:
        return self.send_msg(make_msg(msg_type, content, session=self.session,
                                      channel=channel, buffers=buffers, **kw), framing)

    def send_raw_text(self, text: str) -> None:
        self._send(text)

    def send_raw_bytes(self, data: bytes) -> None:
        self._send(bytes(data))

    # -- receiving --

    def recv(self, timeout: float) -> Received:
        """The next message, within `timeout` seconds; TimeoutError otherwise, Closed if the
        server closed the socket. Pings are answered by websocket-client."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise TimeoutError(f"no message within {timeout} s")
            self.ws.settimeout(left)
            try:
                opcode, frame = self.ws.recv_data_frame(control_frame=True)
            except websocket.WebSocketTimeoutException as e:
                raise TimeoutError(f"no message within {timeout} s") from e
            except (websocket.WebSocketConnectionClosedException, ConnectionError) as e:
                raise Closed(None, f"connection dropped without a close frame ({e!r})") from e
            if opcode == websocket.ABNF.OPCODE_CLOSE:
                data = frame.data or b""
                code = struct.unpack(">H", data[:2])[0] if len(data) >= 2 else None
                raise Closed(code, data[2:].decode(errors="replace"))
            if opcode == websocket.ABNF.OPCODE_TEXT:
                data = frame.data
                return Received(decode_text(data), TEXT, len(data))
            if opcode == websocket.ABNF.OPCODE_BINARY:
                data = bytes(frame.data)
                if self.subprotocol == V1:
                    return Received(decode_v1(data), V1_BINARY, len(data))
                return Received(decode_legacy_binary(data), LEGACY_BINARY, len(data))
            # ping/pong: keep waiting

    def wait_for(self, pred: Callable[[Received], bool], timeout: float,
                 what: str = "a matching message") -> Received:
        """First message (backlog first) for which pred is true; the others go to the backlog."""
        for i, r in enumerate(self.backlog):
            if pred(r):
                return self.backlog.pop(i)
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                r = self.recv(left)
            except TimeoutError:
                last = [(x["channel"], x.msg_type) for x in self.backlog[-20:]]
                raise TimeoutError(f"{what} did not arrive within {timeout} s; "
                                   f"the last messages: {last}") from None
            if pred(r):
                return r
            self.backlog.append(r)

    def reply_to(self, request: dict, timeout: float = 30) -> Received:
        mid = request["header"]["msg_id"]
        return self.wait_for(lambda r: r["channel"] in ("shell", "control")
                             and r.parent_id == mid, timeout, f"the reply to {mid}")

    def until_idle(self, request: dict, timeout: float = 30,
                   expect_reply: bool = True) -> list[Received]:
        """Every message parented to `request` up to and including its iopub idle status, and
        (waiting for it if it comes later) its shell/control reply unless expect_reply is
        false (comm messages have none). In arrival order."""
        mid = request["header"]["msg_id"]
        got: list[Received] = []
        idle = replied = False

        def take(r: Received) -> None:
            nonlocal idle, replied
            got.append(r)
            if r["channel"] in ("shell", "control"):
                replied = True
            elif r["channel"] == "iopub" and r.msg_type == "status" and \
                    r["content"].get("execution_state") == "idle":
                idle = True

        keep = []
        for r in self.backlog:
            if r.parent_id == mid:
                take(r)
            else:
                keep.append(r)
        self.backlog = keep
        deadline = time.monotonic() + timeout
        while not (idle and (replied or not expect_reply)):
            left = deadline - time.monotonic()
            try:
                if left <= 0:
                    raise TimeoutError
                r = self.recv(left)
            except TimeoutError:
                raise TimeoutError(
                    f"request {request['header']['msg_type']} did not finish within {timeout} s;"
                    f" got {len(got)} messages, the last "
                    f"{[(x['channel'], x.msg_type) for x in got[-20:]]}") from None
            if r.parent_id == mid:
                take(r)
            else:
                self.backlog.append(r)
        return got

    def drain(self, seconds: float) -> list[Received]:
        """Everything that arrives in the next `seconds` (plus the backlog)."""
        got, self.backlog = self.backlog, []
        deadline = time.monotonic() + seconds
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return got
            try:
                got.append(self.recv(left))
            except TimeoutError:
                return got

    def close(self) -> None:
        try:
            self.ws.close(timeout=2)
        except Exception:
            pass  # already gone: nothing to release but the socket, which close() dropped
        try:
            self.ws.shutdown()
        except Exception:
            pass


def connect(http_url: str, kernel_id: str, *, token: str | None, token_via: str = "header",
            session: str | None = None, offer: Iterable[str] | None = (V1,),
            origin: str | None = None, timeout: float = 60,
            extra_headers: Iterable[str] = ()) -> KernelWS:
    """Open /api/kernels/<id>/channels on the server at http_url (ending in "/").

    token_via: "header" (Authorization: token T), "query" (?token=T) or None (no token).
    offer: subprotocols to offer (empty or None: none). origin: an Origin header to send
    (websocket-client otherwise sends one equal to the host, i.e. same-origin).
    Raises HandshakeError with the HTTP status when the server refuses the upgrade."""
    session = session or uuid.uuid4().hex
    url = ws_url(http_url) + f"api/kernels/{kernel_id}/channels?session_id={session}"
    headers = list(extra_headers)
    if token and token_via == "header":
        headers.append(f"Authorization: token {token}")
    elif token and token_via == "query":
        url += f"&token={token}"
    offered = list(offer or ())
    if offered:
        headers.append("Sec-WebSocket-Protocol: " + ", ".join(offered))
    opts = {}
    if origin is not None:
        opts["origin"] = origin
    try:
        ws = websocket.create_connection(url, timeout=timeout, header=headers,
                                         skip_utf8_validation=True, enable_multithread=False,
                                         **opts)
    except websocket.WebSocketBadStatusException as e:
        body = e.resp_body.decode(errors="replace") if isinstance(e.resp_body, bytes) else ""
        raise HandshakeError(e.status_code, body) from e
    except (websocket.WebSocketConnectionClosedException, ConnectionError) as e:
        raise HandshakeError(0, f"connection closed during the handshake, no answer ({e!r})") \
            from e
    resp = {k.lower(): v for k, v in (ws.getheaders() or {}).items()}
    proto = resp.get("sec-websocket-protocol")
    if proto is not None and proto not in offered:
        ws.close()
        raise AssertionError(f"server selected subprotocol {proto!r}, not offered ({offered})")
    return KernelWS(ws, session, proto, resp)
