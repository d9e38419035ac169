#!/usr/bin/env python3
"""Write the seed corpus for tests/fuzz/fuzz_wire.c: Jupyter wire messages as frames, each a
2-byte big-endian length and the bytes. Signed seeds use the fuzzer's fixed key.
Run from the repository root: python3 tests/fuzz/mkseeds_fuzz_wire.py"""
import hashlib
import hmac
import json
import os

KEY = b"fuzz-key-0123456789"
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus", "fuzz_wire")


def pack(frames):
    return b"".join(len(f).to_bytes(2, "big") + f for f in frames)


def dumps(d):
    return json.dumps(d, separators=(",", ":"), ensure_ascii=False).encode()


def message(idents, header, parent, metadata, content, buffers, key):
    dicts = [dumps(header), dumps(parent), dumps(metadata), dumps(content)]
    sig = hmac.new(key, b"".join(dicts), hashlib.sha256).hexdigest().encode() if key else b""
    return pack(idents + [b"<IDS|MSG>", sig] + dicts + buffers)


def header(msg_type, msg_id="9c1f7a2e-58b4-4d0e-9a51-3b8c1d2e4f60_4242_1"):
    return {"msg_id": msg_id, "msg_type": msg_type, "username": "cnote",
            "session": "9c1f7a2e-58b4-4d0e-9a51-3b8c1d2e4f60",
            "date": "2026-11-29T02:53:06.123456Z", "version": "5.3"}


def main():
    os.makedirs(OUT, exist_ok=True)
    req = header("execute_request", "req-1")
    seeds = {
        "signed_execute_request": message(
            [b"\x00\x80\x00\x41\xa7"], req, {}, {},
            {"code": "int x = 1;\nprintf(\"%d\\n\", x);", "silent": False, "store_history": True,
             "user_expressions": {}, "allow_stdin": True, "stop_on_error": True}, [], KEY),
        "signed_comm_msg_buffers": message(
            [b"client-session"], header("comm_msg"), req, {"deletedAt": None},
            {"comm_id": "c0ffee", "data": {"buffer_paths": [["x"]], "v": [1, 2.5, -3e-7]}},
            [b"\x00\x01\x02\x03", b""], KEY),
        "unsigned_status": message(
            [b"kernel.9c1f.status"], header("status"), req, {},
            {"execution_state": "idle"}, [], None),
        "unsigned_stream_utf8": message(
            [], header("stream"), req, {},
            {"name": "stdout", "text": "h\u00e9llo \u65e5\u672c \U0001f600 \\ \"q\""}, [], None),
        "unsigned_minimal": pack([b"<IDS|MSG>", b"", b'{"msg_type":"x"}', b"{}", b"{}", b"{}"]),
    }
    for name, data in seeds.items():
        with open(os.path.join(OUT, name), "wb") as f:
            f.write(data)


if __name__ == "__main__":
    main()
