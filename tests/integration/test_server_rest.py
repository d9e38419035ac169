"""cnote-server's REST API over real HTTP (requests): every endpoint's success and error codes,
authentication (token header, ?token= and its cookie, XSRF, Host and Origin checks), base_url,
body limits, and path-escape attempts on the contents API.
"""

from __future__ import annotations

import base64
import json
import os
import time

import pytest
import requests

from server_fixture import cleanup, start_cnote

TOKEN = "secret-token"


@pytest.fixture(scope="module")
def srv():
    s = start_cnote(None, TOKEN)
    yield s
    # every kernel started by the tests is gone by the end
    for k in s.get("api/kernels").json():
        s.delete(f"api/kernels/{k['id']}")
    cleanup(s)


# ---- basics and auth ----------------------------------------------------------------------

def test_api_version_is_public(srv):
    r = requests.get(srv.url + "api", timeout=10)
    assert r.status_code == 200
    assert set(r.json()) == {"version"}
    assert r.headers["Content-Type"].startswith("application/json")


def test_status_and_me(srv):
    st = srv.get("api/status")
    assert st.status_code == 200
    assert set(st.json()) == {"started", "last_activity", "kernels", "connections"}
    me = srv.get("api/me", params={"permissions": json.dumps({"contents": ["read"]})})
    assert me.status_code == 200
    body = me.json()
    assert set(body["identity"]) >= {"username", "name", "display_name", "initials"}
    assert body["permissions"] == {"contents": ["read"]}
    assert srv.get("api/me", params={"permissions": "not json"}).status_code == 400


def test_api_needs_the_token(srv):
    assert requests.get(srv.url + "api/kernels", timeout=10).status_code == 403
    bad = requests.get(srv.url + "api/kernels", headers={"Authorization": "token wrong"},
                       timeout=10)
    assert bad.status_code == 403
    assert set(bad.json()) == {"message", "reason"}
    assert requests.get(srv.url + "api/kernels", headers={"Authorization": "Bearer " + TOKEN},
                        timeout=10).status_code == 200


def test_query_token_sets_a_cookie_that_works_with_xsrf(srv):
    s = requests.Session()
    r = s.get(srv.url + "api/contents", params={"token": TOKEN}, timeout=10)
    assert r.status_code == 200
    assert any(c.name.startswith("cnote-auth") for c in s.cookies)
    assert s.get(srv.url + "api/kernels", timeout=10).status_code == 200  # cookie alone
    # an unsafe request authenticated by the cookie needs the XSRF token
    no_xsrf = s.post(srv.url + "api/contents", json={"type": "file"}, timeout=10)
    assert no_xsrf.status_code == 403
    s.get(srv.url, timeout=10)  # a page sets the _xsrf cookie
    xsrf = s.cookies.get("_xsrf")
    assert xsrf
    ok = s.post(srv.url + "api/contents", json={"type": "file"},
                headers={"X-XSRFToken": xsrf}, timeout=10)
    assert ok.status_code == 201
    bad = s.post(srv.url + "api/contents", json={"type": "file"},
                 headers={"X-XSRFToken": "0" * 64}, timeout=10)
    assert bad.status_code == 403


def test_host_and_origin_checks(srv):
    evil = srv.get("api/kernels", headers={"Host": "evil.example:80"})
    assert evil.status_code == 403
    # a cross-origin request authenticated by cookie is refused with 404, like Jupyter
    s = requests.Session()
    s.get(srv.url + "api/contents", params={"token": TOKEN}, timeout=10)
    cross = s.get(srv.url + "api/kernels", headers={"Origin": "http://evil.example"}, timeout=10)
    assert cross.status_code == 404
    # with the token the caller is trusted (and the Origin is echoed for CORS)
    tok = srv.get("api/kernels", headers={"Origin": "http://evil.example"})
    assert tok.status_code == 200


def test_login_page_and_logout(srv):
    s = requests.Session()
    page = s.get(srv.url + "login", timeout=10)
    assert page.status_code == 200 and "<form" in page.text
    bad = s.post(srv.url + "login", data={"password": "nope", "_xsrf": s.cookies.get("_xsrf")},
                 allow_redirects=False, timeout=10)
    assert bad.status_code == 401
    good = s.post(srv.url + "login", data={"password": TOKEN, "next": "/api/status"},
                  allow_redirects=False, timeout=10)
    assert good.status_code == 302 and good.headers["Location"] == "/api/status"
    assert s.get(srv.url + "api/status", timeout=10).status_code == 200
    # an open redirect is not possible
    evil = s.post(srv.url + "login", data={"password": TOKEN, "next": "//evil.example/"},
                  allow_redirects=False, timeout=10)
    assert evil.headers["Location"] == "/"
    s.get(srv.url + "logout", timeout=10)
    assert s.get(srv.url + "api/status", timeout=10).status_code == 403


def test_pages_redirect_to_login_without_auth(srv):
    r = requests.get(srv.url, allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/login?next=" in r.headers["Location"]


def test_not_found_and_method_not_allowed(srv):
    r = srv.get("api/nothing-here")
    assert r.status_code == 404 and set(r.json()) == {"message", "reason"}
    assert srv.get("no/such/page").status_code == 404
    assert srv.put("api/kernels").status_code == 405
    assert srv.get("api/terminals").status_code == 404  # no terminals, as Jupyter without them
    assert srv.get("api/nbconvert").json() == {}  # JupyterLab asks; no exporters yet


def test_trailing_slash_redirects(srv):
    r = srv.get("api/kernels/")
    assert r.status_code == 302 and r.headers["Location"].endswith("/api/kernels")


def test_malformed_json_is_400(srv):
    r = srv.post("api/sessions", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status_code == 400
    assert r.json()["message"] == "Invalid JSON in body of request"


# ---- kernelspecs ---------------------------------------------------------------------------

def test_kernelspecs(srv):
    r = srv.get("api/kernelspecs")
    assert r.status_code == 200
    body = r.json()
    assert "cnote" in body["kernelspecs"] and body["default"] in body["kernelspecs"]
    c = body["kernelspecs"]["cnote"]
    assert c["name"] == "cnote" and c["spec"]["language"] == "c"
    assert isinstance(c["spec"]["argv"], list) and c["spec"]["display_name"] == "C (cnote)"
    logo = c["resources"]["logo-64x64"]
    assert logo.endswith("/kernelspecs/cnote/logo-64x64.png")
    img = srv.get(logo.lstrip("/"))
    assert img.status_code == 200 and img.content[:8] == b"\x89PNG\r\n\x1a\n"
    assert srv.get("api/kernelspecs/cnote").json()["name"] == "cnote"
    assert srv.get("api/kernelspecs/nope").status_code == 404
    assert srv.get("kernelspecs/cnote/..%2Fkernel.json").status_code == 404


# ---- kernels -------------------------------------------------------------------------------

def _wait_state(srv, kid, want=("idle",), timeout=30):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        m = srv.get(f"api/kernels/{kid}").json()
        if m["execution_state"] in want:
            return m
        time.sleep(0.05)
    raise AssertionError(f"kernel {kid} never reached {want}")


def test_kernel_lifecycle(srv):
    r = srv.post("api/kernels", json={"name": "cnote"})
    assert r.status_code == 201
    k = r.json()
    assert r.headers["Location"] == f"/api/kernels/{k['id']}"
    assert set(k) >= {"id", "name", "last_activity", "execution_state", "connections"}
    assert k["name"] == "cnote"
    _wait_state(srv, k["id"])
    assert any(x["id"] == k["id"] for x in srv.get("api/kernels").json())
    assert srv.post(f"api/kernels/{k['id']}/interrupt").status_code == 204
    rs = srv.post(f"api/kernels/{k['id']}/restart")
    assert rs.status_code == 200 and rs.json()["id"] == k["id"]
    assert srv.delete(f"api/kernels/{k['id']}").status_code == 204
    gone = srv.get(f"api/kernels/{k['id']}")
    assert gone.status_code == 404
    assert gone.json()["message"] == f"Kernel does not exist: {k['id']}"


def test_kernel_errors(srv):
    assert srv.get("api/kernels/not-a-kernel-id").status_code == 404
    assert srv.delete("api/kernels/0000-1111-2222-3333-4444").status_code == 404
    assert srv.post("api/kernels", json={"name": "no-such-spec"}).status_code == 404
    assert srv.post("api/kernels/0000-1111-2222-3333-4444/frobnicate").status_code == 404


# ---- sessions ------------------------------------------------------------------------------

def test_session_lifecycle(srv):
    assert srv.post("api/sessions", json={"type": "notebook"}).status_code == 400
    bad = srv.post("api/sessions", json={"path": "x.ipynb", "type": "notebook",
                                         "kernel": {"name": "no-such-spec"}})
    assert bad.status_code == 501 and "short_message" in bad.json()
    r = srv.post("api/sessions", json={"path": "a.ipynb", "type": "notebook", "name": "a",
                                       "kernel": {"name": "cnote"}})
    assert r.status_code == 201
    sess = r.json()
    assert r.headers["Location"] == f"/api/sessions/{sess['id']}"
    assert sess["path"] == "a.ipynb" and sess["kernel"]["name"] == "cnote"
    assert sess["notebook"] == {"path": "a.ipynb", "name": "a"}
    again = srv.post("api/sessions", json={"path": "a.ipynb", "type": "notebook"})
    assert again.status_code == 201 and again.json()["id"] == sess["id"]
    p = srv.patch(f"api/sessions/{sess['id']}", json={"path": "b.ipynb", "name": "b"})
    assert p.status_code == 200 and p.json()["path"] == "b.ipynb"
    old_kernel = sess["kernel"]["id"]
    pk = srv.patch(f"api/sessions/{sess['id']}", json={"kernel": {"name": "cnote"}})
    assert pk.status_code == 200 and pk.json()["kernel"]["id"] != old_kernel
    bad_k = srv.patch(f"api/sessions/{sess['id']}", json={"kernel": {"id": "nope"}})
    assert bad_k.status_code == 400
    assert any(x["id"] == sess["id"] for x in srv.get("api/sessions").json())
    assert srv.delete(f"api/sessions/{sess['id']}").status_code == 204
    assert srv.get(f"api/sessions/{sess['id']}").status_code == 404


# ---- contents ------------------------------------------------------------------------------

def test_contents_round_trip(srv):
    root = srv.get("api/contents", params={"content": "1"})
    assert root.status_code == 200 and root.json()["type"] == "directory"
    nb = srv.post("api/contents", json={"type": "notebook"})
    assert nb.status_code == 201
    name = nb.json()["path"]
    assert name.startswith("Untitled") and name.endswith(".ipynb")
    got = srv.get(f"api/contents/{name}")
    assert got.status_code == 200 and got.json()["content"]["nbformat"] == 4
    assert "Last-Modified" in got.headers
    text = srv.put("api/contents/hello.txt",
                   json={"type": "file", "format": "text", "content": "héllo\n"})
    assert text.status_code == 201
    assert srv.put("api/contents/hello.txt", json={"type": "file", "format": "text",
                                                   "content": "again\n"}).status_code == 200
    assert srv.get("api/contents/hello.txt").json()["content"] == "again\n"
    binary = srv.put("api/contents/b.bin", json={"type": "file", "format": "base64",
                                                 "content": base64.b64encode(b"\xff\xfe\0").decode()})
    assert binary.status_code == 201
    assert srv.get("api/contents/b.bin").json()["format"] == "base64"
    mv = srv.patch("api/contents/hello.txt", json={"path": "moved.txt"})
    assert mv.status_code == 200 and mv.json()["path"] == "moved.txt"
    assert srv.get("api/contents/hello.txt").status_code == 404
    cp = srv.post("api/contents", json={"copy_from": "moved.txt"})
    assert cp.status_code == 201 and cp.json()["path"] != "moved.txt"
    ck = srv.post("api/contents/moved.txt/checkpoints")
    assert ck.status_code == 201 and ck.json()["id"]
    assert len(srv.get("api/contents/moved.txt/checkpoints").json()) == 1
    assert srv.delete("api/contents/moved.txt").status_code == 204
    assert srv.get("api/contents/moved.txt").status_code == 404
    files = srv.get("files/b.bin")
    assert files.status_code == 200 and files.content == b"\xff\xfe\0"


@pytest.mark.parametrize("path", ["..%2F..%2Fetc%2Fpasswd", "a/../../etc", "%2Fetc%2Fpasswd",
                                  "x" * 300, "..", "a/./b"])
def test_contents_path_escapes_are_refused(srv, path):
    """`.` and `..` segments are resolved by the HTTP parser (as browsers do) before routing,
    so some of these arrive as another URL (404 or a redirect inside the server); the ones that
    reach the contents manager get a 4xx JSON error. None is ever served or written."""
    r = srv.get("api/contents/" + path)
    assert 400 <= r.status_code < 500 or (r.status_code == 302 and
                                          r.headers["Location"].startswith("/api")), r.text
    if r.headers.get("Content-Type", "").startswith("application/json"):
        assert set(r.json()) >= {"message", "reason"}
    w = srv.put("api/contents/" + path, json={"type": "file", "format": "text", "content": "x"})
    assert 400 <= w.status_code < 500
    assert not os.path.exists(os.path.join(os.path.dirname(srv.root), "etc"))


def test_nul_bytes_in_paths_are_refused(srv):
    """A %00 in the URL is refused by the HTTP parser itself (libwebsockets closes the
    connection without an answer: nothing reaches the contents manager); a NUL inside a JSON
    path is a 400. Either way nothing is written and the server goes on."""
    with pytest.raises(requests.ConnectionError):
        srv.put("api/contents/a%00b", json={"type": "file", "format": "text", "content": "x"})
    srv.put("api/contents/nul.txt", json={"type": "file", "format": "text", "content": "x"})
    r = srv.patch("api/contents/nul.txt", json={"path": "a\u0000b"})
    assert r.status_code == 400
    assert sorted(os.listdir(srv.root)).count("a") == 0
    assert srv.get("api/status").status_code == 200


def test_symlink_out_of_root_is_refused(srv):
    os.symlink("/etc", os.path.join(srv.root, "outside"))
    assert srv.get("api/contents/outside/hostname").status_code in (403, 404)
    assert srv.get("api/contents/outside").status_code in (403, 404)


def test_invalid_notebook_put_is_400_and_file_untouched(srv):
    good = srv.post("api/contents", json={"type": "notebook"}).json()["path"]
    before = open(os.path.join(srv.root, good), "rb").read()
    bad = srv.put(f"api/contents/{good}", json={"type": "notebook", "format": "json",
                                                "content": {"cells": "not a list"}})
    assert bad.status_code == 400
    assert open(os.path.join(srv.root, good), "rb").read() == before


# ---- config --------------------------------------------------------------------------------

def test_config_sections(srv):
    assert srv.get("api/config/notebook").json() == {}
    p = srv.patch("api/config/notebook", json={"a": 1, "b": {"c": 2}})
    assert p.status_code == 200 and p.json() == {"a": 1, "b": {"c": 2}}
    p2 = srv.patch("api/config/notebook", json={"a": None, "b": {"d": 3}})
    assert p2.json() == {"b": {"c": 2, "d": 3}}
    assert srv.put("api/config/notebook", json={"z": True}).status_code == 204
    assert srv.get("api/config/notebook").json() == {"z": True}
    assert srv.get("api/config/bad-name!").status_code == 404


# ---- options -------------------------------------------------------------------------------

def test_base_url_and_body_limit():
    s = start_cnote(None, TOKEN, "--base-url", "/prefix/", "--max-body-size", "1000")
    try:
        assert s.url.endswith("/prefix/")
        assert s.get("api/status").status_code == 200
        root = s.url.replace("/prefix/", "/")
        assert requests.get(root + "api/status", headers=s.headers(), timeout=10).status_code == 404
        big = s.put("api/contents/big.txt", json={"type": "file", "format": "text",
                                                  "content": "x" * 5000})
        assert big.status_code == 413
        assert not os.path.exists(os.path.join(s.root, "big.txt"))
    finally:
        cleanup(s)


def test_empty_token_refused_off_loopback(tmp_path):
    import subprocess
    from server_fixture import SERVER_BIN
    r = subprocess.run([SERVER_BIN, "--ip", "0.0.0.0", "--token", "", "--root", str(tmp_path),
                        "--port", "0"], capture_output=True, text=True, timeout=20)
    assert r.returncode != 0 and "token" in r.stderr


def test_generated_token_is_printed(tmp_path):
    import subprocess
    from server_fixture import SERVER_BIN
    p = subprocess.Popen([SERVER_BIN, "--root", str(tmp_path), "--port", "0",
                          "--data-dir", str(tmp_path / "d")],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = ""
        while "token=" not in line:
            line = p.stdout.readline()
            assert line, "no URL printed"
        tok = line.split("token=")[1].strip()
        assert len(tok) >= 32
        url = line.split("?")[0].strip().split()[-1]
        assert requests.get(url + "api/status", headers={"Authorization": "token " + tok},
                            timeout=10).status_code == 200
    finally:
        p.terminate()
        p.wait(timeout=20)
