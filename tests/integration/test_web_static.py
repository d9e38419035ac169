"""cnote-server serving the web app (server/web.c) and the login page, over real HTTP.

Each test module builds its own small web dir (index.html with the template markers, a few
assets, a .gz sibling, a hashed chunk, symlinks escaping the directory), so nothing here
depends on the npm build. Checks: the page templating (base URL, page config, '<' escaping),
the app's routes and their authentication, public static files with content types, gzip
negotiation, ETag/304, caching headers, HEAD, the CSP, path-escape attempts, the placeholder
when the app is not built, the default web dir next to the binary, and the login page.
"""

from __future__ import annotations

import gzip
import html
import http.client
import json
import os
import re
import shutil
import urllib.parse

import pytest
import requests

import server_fixture
from server_fixture import cleanup, start_cnote

TOKEN = "web-token"
BASE = "/cnote/"

INDEX = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><base href="__CNOTE_BASE__">
<title>cnote</title>
<script id="cnote-config" type="application/json">__CNOTE_CONFIG__</script>
<script type="module" src="static/app.js"></script></head>
<body><main id="app" data-base="__CNOTE_BASE__">__CNOTE_NOT_A_MARKER</main></body></html>
"""
APP_JS = b"export const answer = 42; // " + b"x" * 2000 + b"\n"
FILES = {
    "app.js": APP_JS,
    "app.css": b"body { color: black }\n",
    "logo.svg": b'<svg xmlns="http://www.w3.org/2000/svg"/>\n',
    "img.png": b"\x89PNG\r\n\x1a\nnot really",
    "photo.jpg": b"\xff\xd8\xff",
    "favicon.ico": b"\0\0\1\0",
    "font.woff2": b"wOF2",
    "font.woff": b"wOFF",
    "font.ttf": b"\0\1\0\0",
    "data.json": b'{"a": 1}\n',
    "app.js.map": b'{"version": 3}\n',
    "mod.mjs": b"export {};\n",
    "notes.txt": b"hello\n",
    "page.html": b"<!DOCTYPE html><p>static page</p>\n",
    "blob.bin": b"\0\1\2",
    "chunks/x-ABC123.js": b"export const chunk = 1;\n",
    ".hidden": b"private\n",
    "sub/deep.js": b"// deep\n",
}
SECRET = b"TOP-SECRET-OUTSIDE-THE-WEB-DIR\n"


def make_web_dir(top: str, with_index: bool = True) -> str:
    """top/web (the app) and top/secret.txt (outside it), with symlinks from inside out."""
    web = os.path.join(top, "web")
    static = os.path.join(web, "static")
    os.makedirs(os.path.join(static, "chunks"), exist_ok=True)
    os.makedirs(os.path.join(static, "sub"), exist_ok=True)
    if with_index:
        with open(os.path.join(web, "index.html"), "w") as f:
            f.write(INDEX)
    for name, data in FILES.items():
        with open(os.path.join(static, name), "wb") as f:
            f.write(data)
    with open(os.path.join(static, "app.js.gz"), "wb") as f:
        f.write(gzip.compress(APP_JS))
    with open(os.path.join(top, "secret.txt"), "wb") as f:
        f.write(SECRET)
    os.makedirs(os.path.join(top, "outside"), exist_ok=True)
    with open(os.path.join(top, "outside", "x.js"), "wb") as f:
        f.write(SECRET)
    os.symlink("../../secret.txt", os.path.join(static, "evil.txt"))  # a file outside
    os.symlink(os.path.join(top, "outside"), os.path.join(static, "out"))  # a dir outside
    os.symlink(os.path.join(top, "secret.txt"), os.path.join(static, "abs.js"))
    os.symlink("app.css", os.path.join(static, "alias.css"))  # inside: fine
    return web


@pytest.fixture(scope="module")
def web(tmp_path_factory):
    return make_web_dir(str(tmp_path_factory.mktemp("webtop")))


@pytest.fixture(scope="module")
def srv(web):
    s = start_cnote(None, TOKEN, "--web-dir", web, "--base-url", BASE,
                    "--autosave-seconds", "30")
    s.web = web
    yield s
    cleanup(s)


def host_port(url: str) -> tuple[str, int]:
    u = urllib.parse.urlsplit(url)
    return u.hostname, u.port


def raw(srv, method: str, path: str, headers: dict | None = None):
    """A request with the path sent exactly as given (requests would normalise it). Returns
    (status, headers, body), or None when the server closed the connection without an
    answer (what lws does with some malformed request lines)."""
    conn = http.client.HTTPConnection(*host_port(srv.url), timeout=20)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        r = conn.getresponse()
        return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
    except (http.client.RemoteDisconnected, ConnectionResetError, http.client.BadStatusLine):
        return None
    finally:
        conn.close()


def config_of(page: str) -> dict:
    m = re.search(r'<script id="cnote-config" type="application/json">(.*?)</script>', page,
                  re.S)
    assert m, page
    return m.group(1)


# ---- the page ------------------------------------------------------------------------------

def test_page_is_templated(srv):
    r = srv.get("")
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/html")
    assert '<base href="/cnote/">' in r.text
    assert 'data-base="/cnote/"' in r.text  # every occurrence
    assert "__CNOTE_BASE__" not in r.text and "__CNOTE_CONFIG__" not in r.text
    assert "__CNOTE_NOT_A_MARKER" in r.text  # other text untouched
    assert json.loads(config_of(r.text)) == {"baseUrl": "/cnote/", "autosaveSeconds": 30,
                                              "version": "0.1.0"}
    assert r.headers["Cache-Control"] == "no-cache"
    assert r.cookies.get("_xsrf")  # the app sends it back in X-XSRFToken


def test_page_csp(srv):
    csp = srv.get("").headers["Content-Security-Policy"]
    directives = {d.split()[0]: d.split()[1:] for d in csp.split(";") if d.strip()}
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval
    assert directives["default-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["base-uri"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'self'"]
    assert set(directives["connect-src"]) == {"'self'", "ws:", "wss:"}
    assert set(directives["img-src"]) == {"'self'", "data:", "blob:"}
    assert "'unsafe-inline'" in directives["style-src"]


def test_app_routes_serve_the_page(srv):
    home = srv.get("").text
    for path in ["tree", "tree/a/b", "tree/sp%20ace/x.ipynb", "notebooks/x.ipynb",
                 "notebooks/d/%C3%A9t%C3%A9.ipynb"]:
        r = srv.get(path)
        assert r.status_code == 200, path
        assert r.text == home, path
        assert "Content-Security-Policy" in r.headers
    r = srv.get("tree/")
    assert r.status_code == 302 and r.headers["Location"] == "/cnote/tree"
    assert srv.get("nothing-here").status_code == 404


def test_pages_need_authentication(srv):
    for path in ["", "tree", "tree/a.ipynb", "notebooks/n.ipynb"]:
        r = requests.get(srv.url + path, allow_redirects=False, timeout=10)
        assert r.status_code == 302, path
        loc = r.headers["Location"]
        assert loc.startswith("/cnote/login?next=/cnote/"), loc
        assert "Content-Security-Policy" not in r.headers
    # the path comes back whole through next=, '&', '#' and spaces included
    r = requests.get(srv.url + "notebooks/a%20%26%20b%23c.ipynb", allow_redirects=False,
                     timeout=10)
    loc = r.headers["Location"]
    assert loc == "/cnote/login?next=/cnote/notebooks/a%20%26%20b%23c.ipynb", loc
    # ?token= logs the browser in: the cookie then opens the app's pages
    s = requests.Session()
    r = s.get(srv.url + "tree", params={"token": TOKEN}, allow_redirects=False, timeout=10)
    assert r.status_code == 200 and any(c.name.startswith("cnote-auth") for c in s.cookies)
    assert s.get(srv.url + "notebooks/x.ipynb", allow_redirects=False,
                  timeout=10).status_code == 200


def test_head_sends_no_body(srv):
    for path in ["/cnote/", "/cnote/tree", "/cnote/static/app.js"]:
        conn = http.client.HTTPConnection(*host_port(srv.url), timeout=20)
        hdrs = {"Authorization": f"token {TOKEN}"}
        conn.request("GET", path, headers=hdrs)
        g = conn.getresponse()
        body = g.read()
        # HEAD then GET on one connection: a body sent after HEAD would garble the second
        conn.request("HEAD", path, headers=hdrs)
        h = conn.getresponse()
        assert h.status == 200 and h.read() == b""
        assert int(h.getheader("Content-Length")) == len(body)
        conn.request("GET", path, headers=hdrs)
        again = conn.getresponse()
        assert again.status == 200 and again.read() == body
        conn.close()


def test_page_config_escapes_lt(tmp_path, web):
    s = start_cnote(None, TOKEN, "--web-dir", web, "--base-url", "/x<y/")
    try:
        r = s.get("tree")
        assert r.status_code == 200
        text = config_of(r.text)
        assert "<" not in text and "\\u003c" in text
        assert json.loads(text)["baseUrl"] == "/x<y/"
        assert json.loads(text)["autosaveSeconds"] == 120  # the default
        assert '<base href="/x&lt;y/">' in r.text
    finally:
        cleanup(s)


# ---- static files --------------------------------------------------------------------------

def test_static_is_public_with_content_types(srv):
    want = {
        "app.js": "text/javascript; charset=utf-8",
        "mod.mjs": "text/javascript; charset=utf-8",
        "app.css": "text/css; charset=utf-8",
        "logo.svg": "image/svg+xml",
        "img.png": "image/png",
        "photo.jpg": "image/jpeg",
        "favicon.ico": "image/x-icon",
        "font.woff2": "font/woff2",
        "font.woff": "font/woff",
        "font.ttf": "font/ttf",
        "data.json": "application/json",
        "app.js.map": "application/json",
        "notes.txt": "text/plain; charset=utf-8",
        "page.html": "text/html; charset=utf-8",
        "blob.bin": "application/octet-stream",
        "sub/deep.js": "text/javascript; charset=utf-8",
        "alias.css": "text/css; charset=utf-8",
    }
    for name, ctype in want.items():
        r = requests.get(srv.url + "static/" + name, headers={"Accept-Encoding": "identity"},
                         timeout=10)  # no token, no cookie
        assert r.status_code == 200, name
        assert r.headers["Content-Type"].startswith(ctype), (name, r.headers["Content-Type"])
        assert r.headers["X-Content-Type-Options"] == "nosniff"
        assert r.headers["Vary"] == "Accept-Encoding"
        expect = FILES.get(name) or FILES["app.css"]
        assert r.content == expect, name


def test_static_unknown_and_not_files(srv):
    for path in ["static/nope.js", "static/sub", "static/chunks", "static",
                 "static/.hidden", "static/app.js/x", "static/app.js.gz/x"]:
        r = requests.get(srv.url + path, allow_redirects=False, timeout=10)
        assert r.status_code == 404, path


def test_static_cannot_escape(srv, web):
    attempts = [
        "/cnote/static/../index.html",
        "/cnote/static/../../secret.txt",
        "/cnote/static/%2e%2e/%2e%2e/secret.txt",
        "/cnote/static/%2E%2E%2F%2E%2E%2Fsecret.txt",
        "/cnote/static/..%2f..%2fsecret.txt",
        "/cnote/static/..%5c..%5csecret.txt",
        "/cnote/static/%252e%252e/%252e%252e/secret.txt",
        "/cnote/static/.%2e/.%2e/secret.txt",
        "/cnote/static/chunks/../../../secret.txt",
        "/cnote/static//etc/passwd",
        "/cnote/static/%2Fetc%2Fpasswd",
        "/cnote/static/" + os.path.dirname(web).lstrip("/") + "/secret.txt",
        "/cnote/static/evil.txt",       # symlink to a file outside
        "/cnote/static/abs.js",         # absolute symlink outside
        "/cnote/static/out/x.js",       # symlinked directory outside
        "/cnote/static/app.js%00.png",  # NUL
        "/cnote/static/evil.txt%00",
        "/cnote/static/evil.txt%09",
    ]
    for path in attempts:
        got = raw(srv, "GET", path)
        if got is None:
            continue  # the request was refused outright
        status, _, body = got
        assert status in (400, 404), (path, status)
        assert SECRET not in body and b"__CNOTE" not in body, path
    # the absolute file path is not served either (only what lies below static/)
    assert raw(srv, "GET", "/cnote/static/" + os.path.join(web, "index.html"))[0] == 404


def test_gzip_negotiation(srv):
    gz = gzip.compress(APP_JS)
    gz_len = os.path.getsize(os.path.join(srv.web, "static", "app.js.gz"))
    for ae, zipped in [("gzip", True), ("gzip, deflate, br", True), ("br;q=1, gzip;q=0.5", True),
                       ("*", True), ("GZIP", True), ("x-gzip", True), ("identity", False),
                       ("gzip;q=0", False), ("deflate", False), ("*;q=0", False),
                       ("*, gzip;q=0", False), (None, False)]:
        status, h, body = raw(srv, "GET", "/cnote/static/app.js",
                              {"Accept-Encoding": ae} if ae is not None else {})
        assert status == 200, ae
        assert h["vary"] == "Accept-Encoding"
        assert h["content-type"].startswith("text/javascript")
        if zipped:
            assert h.get("content-encoding") == "gzip", ae
            assert len(body) == gz_len and gzip.decompress(body) == APP_JS
        else:
            assert "content-encoding" not in h, ae
            assert body == APP_JS
    assert len(gz) < len(APP_JS)
    # no .gz next to the file: the plain file even when gzip is welcome
    status, h, body = raw(srv, "GET", "/cnote/static/app.css", {"Accept-Encoding": "gzip"})
    assert status == 200 and "content-encoding" not in h and body == FILES["app.css"]


def test_etag_and_304(srv):
    for ae in ["identity", "gzip"]:
        h = {"Accept-Encoding": ae}
        first = raw(srv, "GET", "/cnote/static/app.js", h)
        etag = first[1]["etag"]
        assert etag.startswith('"') and etag.endswith('"')
        for inm in [etag, "W/" + etag, f'"other", {etag}', "*"]:
            status, hh, body = raw(srv, "GET", "/cnote/static/app.js",
                                   {**h, "If-None-Match": inm})
            assert status == 304, (ae, inm)
            assert body == b""
            assert hh["etag"] == etag and hh["vary"] == "Accept-Encoding"
            assert "cache-control" in hh
        status, _, body = raw(srv, "GET", "/cnote/static/app.js", {**h, "If-None-Match": '"x"'})
        assert status == 200 and body
    plain = raw(srv, "GET", "/cnote/static/app.js", {"Accept-Encoding": "identity"})[1]["etag"]
    zipped = raw(srv, "GET", "/cnote/static/app.js", {"Accept-Encoding": "gzip"})[1]["etag"]
    assert plain != zipped  # two representations, two validators
    # a changed file gets a new ETag
    path = os.path.join(srv.web, "static", "notes.txt")
    before = raw(srv, "GET", "/cnote/static/notes.txt")[1]["etag"]
    with open(path, "ab") as f:
        f.write(b"more\n")
    after = raw(srv, "GET", "/cnote/static/notes.txt")
    assert after[1]["etag"] != before and after[2] == b"hello\nmore\n"


def test_cache_control(srv):
    chunk = raw(srv, "GET", "/cnote/static/chunks/x-ABC123.js")
    assert chunk[0] == 200
    assert chunk[1]["cache-control"] == "public, max-age=31536000, immutable"
    assert chunk[2] == FILES["chunks/x-ABC123.js"]
    assert raw(srv, "GET", "/cnote/static/app.js")[1]["cache-control"] == "no-cache"


# ---- not built, default location -----------------------------------------------------------

def test_placeholder_when_not_built(tmp_path):
    web = make_web_dir(str(tmp_path), with_index=False)
    s = start_cnote(None, TOKEN, "--web-dir", web, env={"CNOTE_AUTOSAVE_SECONDS": "0"})
    try:
        r = s.get("")
        assert r.status_code == 200
        assert "not built" in r.text and "make" in r.text
        assert "<script" not in r.text
        assert s.get("tree/x").status_code == 200
        assert s.get("api/status").status_code == 200  # the server works without the app
        assert s.get("static/app.js").status_code == 200  # assets still come from static/
    finally:
        cleanup(s)
    empty = tmp_path / "empty"
    empty.mkdir()
    s = start_cnote(None, TOKEN, "--web-dir", str(empty))
    try:
        assert "not built" in s.get("").text
        assert s.get("static/app.js").status_code == 404
    finally:
        cleanup(s)


def test_default_web_dir_is_next_to_the_binary(tmp_path, monkeypatch):
    """<dir of cnote-server>/../web, like build/web for build/bin/cnote-server; the page
    config also comes from the environment and the config file."""
    top = tmp_path / "inst"
    (top / "bin").mkdir(parents=True)
    binary = top / "bin" / "cnote-server"
    shutil.copy2(server_fixture.SERVER_BIN, binary)
    web = make_web_dir(str(tmp_path / "x"))
    os.rename(web, top / "web")
    monkeypatch.setattr(server_fixture, "SERVER_BIN", str(binary))
    cfg = tmp_path / "cfg.json"
    cfg.write_text(json.dumps({"autosave_seconds": 7}))
    s = start_cnote(None, TOKEN, "--config", str(cfg))
    try:
        r = s.get("")
        assert r.status_code == 200
        assert json.loads(config_of(r.text))["autosaveSeconds"] == 7
        assert s.get("static/app.js").content == APP_JS
    finally:
        cleanup(s)
    s = start_cnote(None, TOKEN, env={"CNOTE_AUTOSAVE_SECONDS": "0"})
    try:
        assert json.loads(config_of(s.get("").text))["autosaveSeconds"] == 0
    finally:
        cleanup(s)


# ---- login ---------------------------------------------------------------------------------

def check_login_markup(text: str) -> None:
    assert '<html lang="en">' in text
    assert re.search(r"<title>[^<]+</title>", text)
    assert "<main>" in text and re.search(r"<h1>[^<]+</h1>", text)
    assert 'data-page="login"' in text
    assert re.search(r'<label for="password">[^<]+</label>', text)
    assert re.search(r'<input type="password" id="password" name="password"', text)
    assert 'name="_xsrf"' in text and "<form" in text and 'action="/cnote/login"' in text
    assert "prefers-color-scheme: dark" in text or "prefers-color-scheme:dark" in text
    assert ":focus-visible" in text
    assert "<script" not in text


def next_of(text: str) -> str:
    m = re.search(r'name="next" value="([^"]*)"', text)
    assert m, text
    return html.unescape(m.group(1))


def test_login_page(srv):
    s = requests.Session()
    r = s.get(srv.url + "login", params={"next": "/cnote/tree/a"}, timeout=10)
    assert r.status_code == 200
    check_login_markup(r.text)
    assert 'role="alert"' not in r.text
    assert next_of(r.text) == "/cnote/tree/a"
    csp = r.headers["Content-Security-Policy"]
    assert "script-src" not in csp and "default-src 'none'" in csp  # no script at all
    assert r.headers["Cache-Control"] == "no-store"
    assert s.cookies.get("_xsrf")
    # an unsafe next is replaced by the base URL, and quotes cannot break out of the value
    r = s.get(srv.url + "login", params={"next": "//evil.example/"}, timeout=10)
    assert next_of(r.text) == "/cnote/"
    r = s.get(srv.url + "login", params={"next": '/cnote/"><script>x</script>'}, timeout=10)
    assert "<script" not in r.text and next_of(r.text) == '/cnote/"><script>x</script>'


def test_login_wrong_token(srv):
    s = requests.Session()
    bad = s.post(srv.url + "login", data={"password": "nope", "next": "/cnote/tree/x"},
                 allow_redirects=False, timeout=10)
    assert bad.status_code == 401
    assert bad.headers["Content-Type"].startswith("text/html")
    check_login_markup(bad.text)
    m = re.search(r'<p[^>]*role="alert"[^>]*>([^<]+)</p>', bad.text)
    assert m and "token" in m.group(1).lower()
    assert next_of(bad.text) == "/cnote/tree/x"  # kept for the next try
    assert not any(c.name.startswith("cnote-auth") for c in s.cookies)
    assert "nope" not in bad.text


def test_login_success_and_logout(srv):
    s = requests.Session()
    ok = s.post(srv.url + "login", data={"password": TOKEN, "next": "/cnote/tree/x"},
                allow_redirects=False, timeout=10)
    assert ok.status_code == 302 and ok.headers["Location"] == "/cnote/tree/x"
    cookie = [c for c in s.cookies if c.name.startswith("cnote-auth")]
    assert cookie and cookie[0].path == "/cnote/"
    assert s.get(srv.url + "tree/x", allow_redirects=False, timeout=10).status_code == 200
    for evil in ["//evil.example/", "https://evil.example/", "/other/", "/cnote/\r\nX: y"]:
        r = s.post(srv.url + "login", data={"password": TOKEN, "next": evil},
                   allow_redirects=False, timeout=10)
        assert r.status_code == 302 and r.headers["Location"] == "/cnote/", evil
    out = s.get(srv.url + "logout", allow_redirects=False, timeout=10)
    assert out.status_code == 302 and out.headers["Location"] == "/cnote/login"
    r = s.get(srv.url + "tree", allow_redirects=False, timeout=10)
    assert r.status_code == 302 and "/cnote/login" in r.headers["Location"]
