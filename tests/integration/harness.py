"""Client-side helpers for the cnote integration tests.

Drives a running kernel through a jupyter_client BlockingKernelClient: sends one execute_request,
collects every IOPub message parented to it until its `status: idle`, answers `input_request`s on
the stdin channel, then reads the matching `execute_reply`. Everything waits on messages with a
deadline; nothing sleeps for a fixed time. It does not start kernels (conftest.py does) and knows
nothing about C beyond the message contract. Used by conftest.py and the test_*.py files next to it.
"""

from __future__ import annotations

import queue
import re
import time
from dataclasses import dataclass, field
from typing import Any, Iterable

import zmq

ANSI_RE = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")


def strip_ansi(text: str) -> str:
    """gcc is run with -fdiagnostics-color=always; tracebacks carry ANSI escapes."""
    return ANSI_RE.sub("", text)


@dataclass
class Result:
    """What one execute_request produced."""

    msg_id: str
    reply: dict[str, Any]  # the whole execute_reply message
    iopub: list[dict[str, Any]]  # every IOPub message parented to the request, busy..idle
    input_requests: list[dict[str, Any]] = field(default_factory=list)  # stdin channel

    @property
    def content(self) -> dict[str, Any]:
        return self.reply["content"]

    @property
    def status(self) -> str:
        return self.content["status"]

    def of_type(self, msg_type: str) -> list[dict[str, Any]]:
        return [m for m in self.iopub if m["msg_type"] == msg_type]

    def stream(self, name: str) -> str:
        return stream_text(self.iopub, name)

    @property
    def stdout(self) -> str:
        return self.stream("stdout")

    @property
    def stderr(self) -> str:
        return self.stream("stderr")

    @property
    def outputs(self) -> list[dict[str, Any]]:
        """IOPub messages other than status and execute_input: what a notebook would show."""
        return [m for m in self.iopub if m["msg_type"] not in ("status", "execute_input")]

    @property
    def errors(self) -> list[dict[str, Any]]:
        return [m["content"] for m in self.of_type("error")]

    def error_text(self) -> str:
        """ename, evalue and traceback of the reply and of IOPub errors, ANSI stripped."""
        parts = []
        for c in [self.content] + self.errors:
            parts += [str(c.get("ename", "")), str(c.get("evalue", ""))]
            parts += [str(t) for t in c.get("traceback", []) or []]
        return strip_ansi("\n".join(parts))

    def result_text(self) -> str:
        """text/plain of the single execute_result."""
        results = self.of_type("execute_result")
        assert len(results) == 1, f"expected one execute_result, got {describe(self)}"
        return results[0]["content"]["data"]["text/plain"]

    def all_text(self) -> str:
        """Everything human-readable the cell produced: streams, text/plain of results and
        displays, and errors. For magics whose output channel the contract leaves open."""
        parts = []
        for m in self.iopub:
            c = m["content"]
            if m["msg_type"] == "stream":
                parts.append(c["text"])
            elif m["msg_type"] in ("execute_result", "display_data", "update_display_data"):
                parts.append(str(c["data"].get("text/plain", "")))
                parts.append(str(c["data"].get("text/html", "")))
                parts.append(str(c["data"].get("text/markdown", "")))
            elif m["msg_type"] == "error":
                parts += [c.get("ename", ""), c.get("evalue", "")] + list(c.get("traceback", []))
        for p in self.content.get("payload", []) or []:
            parts.append(str(p.get("data", {}).get("text/plain", "")))
        return strip_ansi("\n".join(parts))


def stream_text(msgs: Iterable[dict[str, Any]], name: str) -> str:
    return "".join(
        m["content"]["text"]
        for m in msgs
        if m["msg_type"] == "stream" and m["content"]["name"] == name
    )


def describe(res: Result, limit: int = 2000) -> str:
    """A short human-readable account of a Result for assertion messages."""
    lines = [f"reply status={res.status!r}"]
    if res.status == "error":
        lines.append(f"  ename={res.content.get('ename')!r} evalue={res.content.get('evalue')!r}")
    for m in res.iopub:
        c = m["content"]
        if m["msg_type"] == "stream":
            lines.append(f"  stream[{c['name']}] {c['text'][:300]!r}")
        elif m["msg_type"] == "error":
            tb = strip_ansi("\n".join(c.get("traceback", [])))
            lines.append(f"  error {c.get('ename')!r}: {c.get('evalue')!r}\n{tb[:800]}")
        elif m["msg_type"] in ("execute_result", "display_data", "update_display_data"):
            lines.append(f"  {m['msg_type']} {str(c.get('data'))[:300]}")
        elif m["msg_type"] != "status":
            lines.append(f"  {m['msg_type']} {str(c)[:200]}")
    text = "\n".join(lines)
    return text if len(text) <= limit else text[:limit] + "..."


class KernelTimeout(AssertionError):
    pass


def _parent_id(msg: dict[str, Any]) -> str | None:
    return (msg.get("parent_header") or {}).get("msg_id")


def collect_iopub(kc, msg_id: str, deadline: float, stdin_answers=None,
                  input_requests=None) -> list[dict[str, Any]]:
    """Read IOPub until `status: idle` parented to msg_id; meanwhile answer input_requests.

    stdin_answers: list of strings, consumed in order; when it runs out (or is None) an
    input_request is answered with "" so the kernel never waits on us, and the request is still
    recorded in input_requests for the test to look at.
    """
    answers = list(stdin_answers or [])
    msgs: list[dict[str, Any]] = []
    poller = zmq.Poller()
    poller.register(kc.iopub_channel.socket, zmq.POLLIN)
    poller.register(kc.stdin_channel.socket, zmq.POLLIN)
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelTimeout(
                f"no status idle for {msg_id} in time; got so far: "
                + ", ".join(m["msg_type"] for m in msgs)
            )
        events = dict(poller.poll(timeout=int(min(left, 1.0) * 1000) + 1))
        if kc.stdin_channel.socket in events:
            req = kc.stdin_channel.get_msg(timeout=0)
            if req["msg_type"] == "input_request":
                if input_requests is not None:
                    input_requests.append(req)
                reply = kc.session.msg("input_reply",
                                       {"value": answers.pop(0) if answers else ""},
                                       parent=req["header"])
                kc.stdin_channel.send(reply)
        if kc.iopub_channel.socket in events:
            while kc.iopub_channel.msg_ready():
                msg = kc.iopub_channel.get_msg(timeout=0)
                if _parent_id(msg) != msg_id:
                    continue
                msgs.append(msg)
                if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                    return msgs


def get_reply(kc, msg_id: str, deadline: float, channel: str = "shell") -> dict[str, Any]:
    """The reply parented to msg_id on the shell (or control) channel; others are dropped."""
    chan = kc.shell_channel if channel == "shell" else kc.control_channel
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelTimeout(f"no {channel} reply to {msg_id} in time")
        try:
            msg = chan.get_msg(timeout=left)
        except queue.Empty:
            continue
        if _parent_id(msg) == msg_id:
            return msg


def execute(kc, code: str, allow_stdin: bool = False, timeout: float = 60,
            stdin_answers=None, silent: bool = False, store_history: bool = True,
            user_expressions: dict[str, str] | None = None,
            stop_on_error: bool = True) -> Result:
    """Send one execute_request and collect everything it produced (see module doc)."""
    deadline = time.monotonic() + timeout
    msg_id = kc.execute(code, silent=silent, store_history=store_history,
                        user_expressions=user_expressions or {}, allow_stdin=allow_stdin,
                        stop_on_error=stop_on_error)
    reqs: list[dict[str, Any]] = []
    iopub = collect_iopub(kc, msg_id, deadline, stdin_answers, reqs)
    reply = get_reply(kc, msg_id, deadline)
    return Result(msg_id, reply, iopub, reqs)


def run(kc, code: str, allow_stdin: bool = False, timeout: float = 60, stdin_answers=None,
        **kw: Any) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """execute() as (reply content, IOPub messages), the shape the brief of these tests names."""
    res = execute(kc, code, allow_stdin=allow_stdin, timeout=timeout,
                  stdin_answers=stdin_answers, **kw)
    return res.content, res.iopub


def ok(kc, code: str, **kw: Any) -> Result:
    """Execute and assert the reply is ok; the assertion message shows what came back."""
    res = execute(kc, code, **kw)
    assert res.status == "ok", f"cell failed:\n{code}\n---\n{describe(res)}"
    assert not res.errors, f"error output from an ok cell:\n{code}\n---\n{describe(res)}"
    return res


def value(kc, code: str, **kw: Any) -> str:
    """Execute code ending in a trailing expression; return the execute_result text/plain."""
    return ok(kc, code, **kw).result_text()


def fails(kc, code: str, ename: str | Iterable[str] | None = None, **kw: Any) -> Result:
    """Execute and assert the reply is an error (with one of the given enames, if given)."""
    res = execute(kc, code, **kw)
    assert res.status == "error", f"expected an error from:\n{code}\n---\n{describe(res)}"
    if ename is not None:
        allowed = {ename} if isinstance(ename, str) else set(ename)
        assert res.content.get("ename") in allowed, (
            f"ename {res.content.get('ename')!r} not in {sorted(allowed)}:\n{describe(res)}")
    return res


def wait_for_stream(kc, msg_id: str, needle: str, timeout: float = 30) -> list[dict[str, Any]]:
    """Read IOPub until a stream parented to msg_id has contained `needle`; return what was read
    so the caller can pass it on. Used to know a cell is really running before interrupting."""
    deadline = time.monotonic() + timeout
    seen: list[dict[str, Any]] = []
    text = ""
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise KernelTimeout(f"{needle!r} never appeared on a stream of {msg_id}")
        try:
            msg = kc.iopub_channel.get_msg(timeout=left)
        except queue.Empty:
            continue
        if _parent_id(msg) != msg_id:
            continue
        seen.append(msg)
        if msg["msg_type"] == "stream":
            text += msg["content"]["text"]
            if needle in text:
                return seen
        if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
            raise AssertionError(f"cell finished before printing {needle!r}: "
                                 + ", ".join(m["msg_type"] for m in seen))


def finish(kc, msg_id: str, already: list[dict[str, Any]], timeout: float = 60) -> Result:
    """Complete a Result for a request whose first IOPub messages were already read."""
    deadline = time.monotonic() + timeout
    if any(m["msg_type"] == "status" and m["content"]["execution_state"] == "idle"
           for m in already):
        rest: list[dict[str, Any]] = []
    else:
        rest = collect_iopub(kc, msg_id, deadline)
    reply = get_reply(kc, msg_id, deadline)
    return Result(msg_id, reply, already + rest)


def version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(x) for x in v.split("."))
