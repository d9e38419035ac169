"""The same REST requests against the real Jupyter Server (pinned in the venv) and against
cnote-server, compared field by field: status codes and the keys of every JSON answer.
Where cnote is deliberately stricter the test says so and checks cnote's own answer.
"""

from __future__ import annotations

import json
import os

import pytest

from server_fixture import cleanup, start_cnote, start_jupyter_server

TOKEN = "compat-token"


@pytest.fixture(scope="module")
def pair():
    js = start_jupyter_server(None, TOKEN)
    cn = start_cnote(None, TOKEN)
    for s in (js, cn):
        with open(os.path.join(s.root, "note.txt"), "w") as f:
            f.write("hello\n")
        os.mkdir(os.path.join(s.root, "sub"))
    yield js, cn
    for s in (js, cn):
        for k in s.get("api/kernels").json():
            s.delete(f"api/kernels/{k['id']}")
    cleanup(js)
    cleanup(cn)


def shape(value):
    """Keys of an object (recursively one level into lists of objects), for comparison."""
    if isinstance(value, dict):
        return sorted(value)
    if isinstance(value, list):
        return [shape(v) for v in value[:1]]
    return type(value).__name__


# (method, path, body, keys to compare besides the status: "shape" or None)
REQUESTS = [
    ("GET", "api", None, "shape"),
    ("GET", "api/status", None, "shape"),
    ("GET", "api/kernelspecs", None, "shape"),
    ("GET", "api/kernelspecs/python3", None, "shape"),
    ("GET", "api/kernelspecs/no-such-spec", None, "shape"),
    ("GET", "api/kernels", None, None),
    ("GET", "api/kernels/00000000-0000-0000-0000-000000000000", None, "shape"),
    ("GET", "api/sessions", None, None),
    ("GET", "api/sessions/nope", None, "shape"),
    ("POST", "api/sessions", {"type": "notebook"}, "shape"),
    ("GET", "api/contents", None, "shape"),
    ("GET", "api/contents?content=0", None, "shape"),
    ("GET", "api/contents/note.txt", None, "shape"),
    ("GET", "api/contents/note.txt?format=base64", None, "shape"),
    ("GET", "api/contents/note.txt?content=2", None, None),
    ("GET", "api/contents/sub", None, "shape"),
    ("GET", "api/contents/missing.txt", None, None),
    ("PUT", "api/contents/new.txt", {"type": "file", "format": "text", "content": "x"}, "shape"),
    ("PUT", "api/contents/new.txt", {"type": "file", "format": "text", "content": "y"}, "shape"),
    ("POST", "api/contents/sub", {"type": "notebook"}, "shape"),
    ("POST", "api/contents/note.txt", {"type": "file"}, "shape"),
    ("PATCH", "api/contents/new.txt", {"path": "renamed.txt"}, "shape"),
    ("PATCH", "api/contents/renamed.txt", {"path": "note.txt"}, None),
    ("GET", "api/contents/renamed.txt/checkpoints", None, None),
    ("POST", "api/contents/renamed.txt/checkpoints", None, "shape"),
    ("DELETE", "api/contents/renamed.txt", None, None),
    ("GET", "api/config/compat", None, "shape"),
    ("PATCH", "api/config/compat", {"a": {"b": 1}}, "shape"),
    ("GET", "api/me", None, "shape"),
]


@pytest.mark.parametrize("method, path, body, compare", REQUESTS,
                         ids=[f"{m} {p}" for m, p, _, _ in REQUESTS])
def test_same_status_and_shape_as_jupyter_server(pair, method, path, body, compare):
    js, cn = pair
    answers = []
    for s in (js, cn):
        kw = {"data": json.dumps(body)} if body is not None else {}
        r = getattr(s, method.lower())(path, **kw)
        try:
            payload = r.json()
        except ValueError:
            payload = None
        answers.append((r.status_code, payload))
    (js_status, js_body), (cn_status, cn_body) = answers
    assert cn_status == js_status, f"jupyter {js_status} {js_body!r} vs cnote {cn_status} {cn_body!r}"
    if compare == "shape" and js_body is not None:
        if js_status >= 400:
            # errors: Jupyter's {message, reason} (plus traceback on 500s) vs cnote's
            assert {"message", "reason"} <= set(cn_body), cn_body
        else:
            assert shape(cn_body) == shape(js_body), (js_body, cn_body)


def test_kernel_start_and_session_shapes_match(pair):
    js, cn = pair
    models = []
    for s in (js, cn):
        r = s.post("api/kernels", data=json.dumps({"name": "python3"}))
        assert r.status_code == 201
        models.append(r.json())
        kid = r.json()["id"]
        sess = s.post("api/sessions", data=json.dumps({"path": "x.ipynb", "type": "notebook",
                                                       "kernel": {"id": kid}}))
        assert sess.status_code == 201
        models.append(sess.json())
    assert sorted(models[0]) == sorted(models[2])   # kernel models
    assert sorted(models[1]) == sorted(models[3])   # session models


def test_cnote_is_stricter_on_symlinks_and_nul(pair):
    """Deliberately stricter than Jupyter Server: a symlink pointing out of the root is refused
    (Jupyter serves it), and a NUL in a rename target is a 400."""
    js, cn = pair
    for s in (js, cn):
        os.symlink("/etc", os.path.join(s.root, "out"))
    assert js.get("api/contents/out/hostname").status_code == 200   # Jupyter follows it
    assert cn.get("api/contents/out/hostname").status_code in (403, 404)
    cn.put("api/contents/n.txt", data=json.dumps({"type": "file", "format": "text",
                                                  "content": "x"}))
    assert cn.patch("api/contents/n.txt", data=json.dumps({"path": "a\u0000b"})).status_code == 400
